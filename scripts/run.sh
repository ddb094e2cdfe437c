#!/usr/bin/env bash
# Runs Krypton for real on this machine: installs what the build and SoftHSM2 need, builds the
# release binaries, and runs krypton-dev, which keeps everything under ./dev-data (a throw-away
# PKI, a SoftHSM2 token with the L1, the core's store, the dev unseal shares: DEV ONLY), brings
# up krypton-core and krypton-gateway on 127.0.0.1:5696, prints how to connect, and serves until
# Ctrl-C. A later run reuses dev-data; `--fresh` starts from scratch; `--orbital` adds the
# governance plane's side (the core's orchestration API and a private RabbitMQ broker).
# `--help` lists the options.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/install-deps.sh"
cd "$repo"
# KRYPTON_BIN_DIR runs binaries built elsewhere instead of building the release ones: the
# end-to-end test (softhsm-tests/tests/dev_run.rs) runs this script on the debug binaries that
# `cargo test` has just built.
if [ -n "${KRYPTON_BIN_DIR:-}" ]; then
    bin_dir=$KRYPTON_BIN_DIR
else
    cargo build --release --locked --bins
    bin_dir=${CARGO_TARGET_DIR:-$repo/target}/release
fi
exec "$bin_dir/krypton-dev" "$@"
