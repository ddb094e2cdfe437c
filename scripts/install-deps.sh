#!/usr/bin/env bash
# Installs what Krypton's build, dev run and tests need on a Debian machine, quietly and idempotently:
# system packages through apt, and PyKMIP (the independent KMIP client used as test oracle) into a venv.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${KRYPTON_VENV:-$repo/.venv}

apt_packages=(
    clang libclang-dev      # bindgen for librocksdb-sys
    cmake                   # aws-lc-sys falls back to it on some hosts
    protobuf-compiler       # the control API's .proto
    softhsm2 opensc         # the HSM in tests and the dev setup, and pkcs11-tool
    opensc-pkcs11           # pkcs11-spy.so: tests stall the HSM by holding its log pipe full
    python3-venv            # PyKMIP's venv
    postgresql redis-server # the shared vault backends: tests start private servers (no service)
    rabbitmq-server         # the orchestration task broker: tests start private brokers (no service;
                            # the one the package may start is never used: own node, ports, epmd, dir)
)

missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages: ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! "$venv/bin/python" -c 'import kmip' 2>/dev/null; then
    echo "install-deps: PyKMIP into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$repo/scripts/requirements-test.txt"
fi
