#!/usr/bin/env bash
# Measures how fast the kill switch bites under load, on a throw-away krypton-dev stack
# (krypton-gateway + krypton-core, SoftHSM2 L1) driven by krypton-load Get at 16 connections:
#
#   1. `kryptonctl tenant unlink` -> the last Get that still succeeded, and the first refused;
#   2. the L1 deleted in the HSM (pkcs11-tool --delete-object) -> the first refused Get, with
#      the core's default L1 liveness interval (5 s) and nothing restarted.
#
# Builds the release binaries unless KRYPTON_BIN_DIR names binaries built already. Everything
# lives in a temporary directory removed on exit; every wait is bounded. Prints one line per
# measurement and the krypton-load reports (JSON) to the output directory given as $1
# (default: a new directory under ${TMPDIR:-/tmp}).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${KRYPTON_VENV:-$repo/.venv}
out=${1:-${TMPDIR:-/tmp}/krypton-kill-switch-$(date +%Y%m%d-%H%M%S)}
readonly START_TIMEOUT=180 LOAD_SECONDS=20 EVENT_AFTER=8 RELINK_TIMEOUT=60

fail() {
    echo "bench-kill-switch: $*" >&2
    exit 1
}

"$repo/scripts/install-deps.sh"
# shellcheck source=scripts/bench-lib.sh
. "$repo/scripts/bench-lib.sh"
bin_dir=$(bench_bin_dir)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/krypton-kill-switch.XXXXXX")
dev_pid=

cleanup() {
    if [ -n "$dev_pid" ]; then
        kill -TERM "$dev_pid" 2>/dev/null || true
        timeout 30 tail --pid="$dev_pid" -f /dev/null 2>/dev/null || kill -KILL -- "-$dev_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

read -r gateway_port core_port < <(free_loopback_ports 2)

cd "$work"
setsid "$bin_dir/krypton-dev" --data-dir "$work/krypton" \
    --listen "127.0.0.1:$gateway_port" --core-listen "127.0.0.1:$core_port" \
    >"$work/krypton-dev.log" 2>&1 </dev/null &
dev_pid=$!
deadline=$((SECONDS + START_TIMEOUT))
until grep -qsF "krypton-dev: ready" "$work/krypton-dev.log"; do
    kill -0 "$dev_pid" 2>/dev/null || { tail -n 20 "$work/krypton-dev.log" >&2; fail "krypton-dev exited"; }
    [ $SECONDS -lt $deadline ] || fail "krypton-dev was not ready within ${START_TIMEOUT}s"
    sleep 0.2
done

pki=$work/krypton/pki
ctl=("$bin_dir/kryptonctl" --socket "$work/krypton/core/control.sock")
now_ms() { date +%s%3N; }

# krypton-load Get at 16 connections in the background; its JSON report goes to $out/$1.json.
start_load() {
    timeout --kill-after=10 $((LOAD_SECONDS + 60)) "$bin_dir/krypton-load" \
        --address "127.0.0.1:$gateway_port" --server-name localhost \
        --cert "$pki/app-alice.pem" --key "$pki/app-alice.key" --ca "$pki/ca.pem" \
        --workload get --connections 16 --duration "${LOAD_SECONDS}s" \
        --request-timeout 10s --json >"$out/$1.json" 2>"$out/$1.err" &
    load_pid=$!
}

field() { "$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

# 1. The operator's kill switch.
start_load unlink
sleep "$EVENT_AFTER"
unlink_at=$(now_ms)
"${ctl[@]}" tenant unlink demo >/dev/null
unlinked_at=$(now_ms)
wait "$load_pid" || true
last_ok=$(field "$out/unlink.json" last_success_unix_ms)
first_refused=$(field "$out/unlink.json" first_failure_unix_ms)
echo "unlink: command took $((unlinked_at - unlink_at)) ms; last successful Get $((last_ok - unlink_at)) ms after it began, first refused Get $((first_refused - unlink_at)) ms after"

# 2. The customer deletes the L1 in the HSM; the core finds out by itself.
"${ctl[@]}" tenant link demo --l1 krypton-dev-l1 >/dev/null
deadline=$((SECONDS + RELINK_TIMEOUT))
until "${ctl[@]}" tenant list | grep -q "^demo .*active"; do
    [ $SECONDS -lt $deadline ] || fail "the tenant did not come back after the relink"
    sleep 0.2
done
start_load l1-deleted
sleep "$EVENT_AFTER"
deleted_at=$(now_ms)
SOFTHSM2_CONF=$work/krypton/softhsm/softhsm2.conf pkcs11-tool --module "${KRYPTON_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}" \
    --token-label krypton-dev --login --pin "$(cat "$work/krypton/softhsm/user-pin")" \
    --delete-object --type secrkey --label krypton-dev-l1 >/dev/null 2>&1
wait "$load_pid" || true
first_refused=$(field "$out/l1-deleted.json" first_failure_unix_ms)
echo "L1 deleted: first refused Get $((first_refused - deleted_at)) ms after the deletion (liveness interval 5 s)"
for run in unlink l1-deleted; do
    echo "$run: $(field "$out/$run.json" ops_per_s) Get/s over the run, $(field "$out/$run.json" failures) refused"
done
