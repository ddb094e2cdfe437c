#!/usr/bin/env bash
# Runs Krypton for real on this machine.
#
# Not yet: krypton-core, kryptonctl and krypton-gateway are not in this revision (issues 5-8), so
# there is no process to run. Today this installs the dependencies, builds the workspace and says
# so; the dev run (core + gateway + SoftHSM2 token, unsealed, serving KMIP on localhost) comes
# with issue 8.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/install-deps.sh"
cargo build --locked --workspace
echo "run: built. krypton-core and krypton-gateway are not in this revision yet (issues 5-8);" >&2
echo "run: nothing to start. ./scripts/test.sh runs every test that exists." >&2
exit 1
