#!/usr/bin/env bash
# Packages krypton-core (krypton-core, kryptonctl) and krypton-gateway as .deb (cargo-deb) and
# .rpm (cargo-generate-rpm) from binaries ALREADY BUILT with the chosen Cargo profile:
#
#   cargo build --release --locked -p krypton-core -p kryptonctl -p krypton-gateway --bins
#   packaging/build.sh                      # --profile release (the default)
#   packaging/build.sh --profile dev        # what CI does, reusing the test suite's build
#
# Nothing is compiled here (a second profile would cost CI a cold RocksDB build): the binaries
# are copied from $CARGO_TARGET_DIR/<profile dir>/ to a staging target dir, stripped there, and
# packaged from it. Packages go to --out (default $CARGO_TARGET_DIR/packages).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# Pinned: the Cargo.toml metadata ([package.metadata.deb], [package.metadata.generate-rpm]) is
# written for these versions.
CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1

profile=release
out=
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=${2:?--profile needs a name}; shift 2 ;;
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument $1 (--profile NAME, --out DIR)" >&2; exit 2 ;;
    esac
done

target_dir=${CARGO_TARGET_DIR:-$repo/target}
case "$profile" in
    dev|debug|test) profile_dir=debug; profile=dev ;;
    *) profile_dir=$profile ;;
esac
out=${out:-$target_dir/packages}

# cargo install honours CARGO_TARGET_DIR: keep the tools' build out of the project's.
install_tool() { # crate version command
    if [ "$("$3" --version 2>/dev/null | awk '{print $NF}')" != "$2" ]; then
        echo "build.sh: installing $1 $2"
        CARGO_TARGET_DIR="${KRYPTON_TOOLS_TARGET_DIR:-/var/tmp/krypton-tools-target}" \
            cargo install --locked --quiet "$1" --version "=$2"
    fi
}
install_tool cargo-deb "$CARGO_DEB_VERSION" cargo-deb
install_tool cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION" cargo-generate-rpm

# Stage the binaries: both tools then read <stage>/<profile dir>/<binary> for the assets'
# target/release/<binary>, and the shared target dir is never written.
stage=$(mktemp -d "${TMPDIR:-/tmp}/krypton-packaging.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$profile_dir" "$out"
for binary in krypton-core kryptonctl krypton-gateway; do
    built="$target_dir/$profile_dir/$binary"
    if [ ! -x "$built" ]; then
        echo "build.sh: $built is missing; build it first:" \
            "cargo build --locked --profile $profile -p krypton-core -p kryptonctl -p krypton-gateway --bins" >&2
        exit 1
    fi
    strip --strip-all -o "$stage/$profile_dir/$binary" "$built"
done

cd "$repo"
declare -A crate_dir=([krypton-core]=appliance [krypton-gateway]=gateway)
for package in krypton-core krypton-gateway; do
    CARGO_TARGET_DIR="$stage" cargo deb --quiet --no-build --no-strip --locked \
        --profile "$profile" -p "$package" --output "$out/"
    # From the crate's directory: its script and asset paths are relative to it.
    (cd "$repo/${crate_dir[$package]}" &&
        cargo generate-rpm --profile "$profile" --target-dir "$stage" --output "$out/")
done
ls -1 "$out"
