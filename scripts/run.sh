#!/usr/bin/env bash
# Runs Krypton for real on this machine, with everything kept under ./dev-data:
# builds krypton-core and kryptonctl, starts the core, and on the first run initialises it with a
# 2-of-3 split (the dev shares are saved in dev-data/shares: DEV ONLY, never do this in production),
# then unseals it with two shares, exactly as two operators would. Later runs reuse the data and
# unseal again with the saved shares; --fresh starts from scratch. Ctrl-C seals and stops the core.
#
# Not yet: the SoftHSM2 token with an L1, tenant link, the KMIP listeners and the gateway
# (issues 6, 7, 8). Today this brings up the sealed core and its unseal ceremony.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dev=$repo/dev-data
"$repo/scripts/install-deps.sh"

if [ "${1:-}" = "--fresh" ]; then
    rm -rf "$dev"
fi
mkdir -p "$dev"
chmod 700 "$dev"

cargo build --release --locked -p krypton-core --bins
bin=${CARGO_TARGET_DIR:-$repo/target}/release
ctl() { "$bin/kryptonctl" --socket "$dev/control.sock" "$@"; }

if [ ! -f "$dev/core.toml" ]; then
    cat > "$dev/core.toml" <<TOML
data_dir = "$dev/store"

[control]
socket = "$dev/control.sock"

[hardening]
# Development only: a normal user's RLIMIT_MEMLOCK is too small for mlockall. A package install
# runs the core under systemd with LimitMEMLOCK=infinity and leaves this off.
allow_unlocked_memory = true
TOML
fi

"$bin/krypton-core" --config "$dev/core.toml" &
core=$!
trap 'kill -TERM $core 2>/dev/null; wait $core 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 100); do
    [ -S "$dev/control.sock" ] && break
    kill -0 $core 2>/dev/null || { echo "run: krypton-core exited; see its log above" >&2; exit 1; }
    sleep 0.1
done

if [ ! -d "$dev/shares" ]; then
    mkdir -m 700 "$dev/shares"
    ctl init --shares 3 --threshold 2 --share-dir "$dev/shares"
fi
ctl unseal --share-file "$dev/shares/share-1.txt"
ctl unseal --share-file "$dev/shares/share-2.txt"
ctl status

echo
echo "krypton-core is unsealed. Control socket: $dev/control.sock"
echo "  $bin/kryptonctl --socket $dev/control.sock status"
echo "Dev shares (DEV ONLY): $dev/shares. Ctrl-C seals and stops the core."
wait $core
