#!/usr/bin/env bash
# Runs every check and test Krypton has: formatting, clippy, then the whole workspace's tests
# (codec against PyKMIP, Shamir, secure memory, the core against RocksDB, SoftHSM2 end to end).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
"$repo/scripts/install-deps.sh"

export KRYPTON_PYTHON=${KRYPTON_PYTHON:-${KRYPTON_VENV:-$repo/.venv}/bin/python}

cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
cargo test --workspace --all-features --locked

# The .deb and .rpm packages, from the binaries the tests just built (dev profile: no second
# build). Installs and removes packages, so root only (CI runs as root).
if [ "$(id -u)" -eq 0 ]; then
    "$repo/packaging/test.sh" --profile dev
else
    echo "packaging/test.sh skipped: it installs packages and needs root"
fi
