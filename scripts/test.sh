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
