#!/usr/bin/env bash
# Measures how long krypton-core takes from process start to serving again after a crash
# (SIGKILL), on each seal: the time from spawning the process to its one tenant being active
# again (unsealed, the tenant's L2 re-opened through the HSM).
#
#   - shamir: kryptonctl unseal with K = 2 share files as soon as the control socket answers
#     (machine time only: the custodians' time is not in it);
#   - pkcs11: no operator; the core has its seal HSM open the master key.
#
# SoftHSM2 holds the L1 and the seal key, in two tokens, in a temporary directory removed on
# exit. Builds the release binaries unless KRYPTON_BIN_DIR names binaries built already. Prints
# one line per restart and the median per seal. ROUNDS restarts each (default 5); every wait is
# bounded.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${KRYPTON_VENV:-$repo/.venv}
readonly ROUNDS=${ROUNDS:-5} LIMIT=60

fail() {
    echo "bench-start-to-serving: $*" >&2
    exit 1
}

"$repo/scripts/install-deps.sh"
# shellcheck source=scripts/bench-lib.sh
. "$repo/scripts/bench-lib.sh"
bin_dir=$(bench_bin_dir)
module=${KRYPTON_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
work=$(mktemp -d "${TMPDIR:-/tmp}/krypton-start.XXXXXX")
core_pid=

cleanup() {
    if [ -n "$core_pid" ]; then kill -KILL "$core_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

export SOFTHSM2_CONF=$work/softhsm2.conf
mkdir -p "$work/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$work/tokens" >"$SOFTHSM2_CONF"
umask 077
for token in l1:1111 seal:2222; do
    label=bench-${token%%:*} pin=${token##*:}
    softhsm2-util --init-token --free --label "$label" --so-pin "so-$pin" --pin "$pin" >/dev/null
    pkcs11-tool --module "$module" --token-label "$label" --login --pin "$pin" \
        --keygen --key-type AES:32 --label "$label-key" --sensitive >/dev/null 2>&1 ||
        fail "cannot make the key in token $label"
    printf '%s' "$pin" >"$work/$label.pin"
done

now_ms() { date +%s%3N; }

# Writes $work/$1/core.toml for the seal $1.
configure() {
    local dir=$work/$1
    mkdir -p "$dir"
    cat >"$dir/core.toml" <<TOML
data_dir = "$dir/store"
[control]
socket = "$dir/control.sock"
[hardening]
allow_unlocked_memory = true
[pkcs11]
module = "$module"
token_label = "bench-l1"
pin = { file = "$work/bench-l1.pin" }
TOML
    if [ "$1" = pkcs11 ]; then
        cat >>"$dir/core.toml" <<TOML
[seal]
type = "pkcs11"
key_label = "bench-seal-key"
[seal.pkcs11]
module = "$module"
token_label = "bench-seal"
pin = { file = "$work/bench-seal.pin" }
TOML
    fi
}

start_core() {
    "$bin_dir/krypton-core" --config "$work/$1/core.toml" >"$work/$1/core.log" 2>&1 </dev/null &
    core_pid=$!
}

ctl() {
    "$bin_dir/kryptonctl" --socket "$work/$seal/control.sock" --json "$@"
}

# Waits until `check` succeeds, for at most LIMIT seconds.
wait_for() {
    local deadline=$((SECONDS + LIMIT))
    until "$@"; do
        kill -0 "$core_pid" 2>/dev/null || { tail -n 20 "$work/$seal/core.log" >&2; fail "krypton-core exited"; }
        [ $SECONDS -lt $deadline ] || fail "$seal: not done within ${LIMIT}s: $*"
        sleep 0.01
    done
}

answers() { ctl status >/dev/null 2>&1; }
state_is() { ctl status 2>/dev/null | grep -qF "\"state\":\"$1\""; }
tenant_active() { ctl tenant list 2>/dev/null | grep -qF '"state":"active"'; }

unseal_with_shares() {
    wait_for answers
    if [ "$seal" = shamir ]; then
        ctl unseal --share-file "$work/$seal/shares/share-1.txt" >/dev/null
        ctl unseal --share-file "$work/$seal/shares/share-3.txt" >/dev/null
    fi
}

for seal in shamir pkcs11; do
    configure "$seal"
    start_core "$seal"
    wait_for answers
    ctl init --shares 3 --threshold 2 --share-dir "$work/$seal/shares" >/dev/null
    unseal_with_shares
    wait_for state_is unsealed
    ctl tenant link bench --l1 bench-l1-key >/dev/null
    times=()
    for round in $(seq "$ROUNDS"); do
        kill -KILL "$core_pid"
        wait "$core_pid" 2>/dev/null || true
        start=$(now_ms)
        start_core "$seal"
        unseal_with_shares
        wait_for tenant_active
        elapsed=$(($(now_ms) - start))
        times+=("$elapsed")
        failed=$(grep -c "auto-unseal failed" "$work/$seal/core.log" || true)
        echo "$seal: restart $round: serving $elapsed ms after the process started ($failed failed auto-unseal attempts)"
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")
    echo "$seal: median $median ms over $ROUNDS restarts"
    kill -KILL "$core_pid"
    wait "$core_pid" 2>/dev/null || true
    core_pid=
done
