#!/usr/bin/env bash
# Measures what krypton-core and krypton-gateway hold in memory against a full vault: on a
# throw-away krypton-dev stack (RocksDB vault and store, SoftHSM2 L1), krypton-load makes
# --keys keys through the gateway (16 connections together, not measured), then reads them all
# over, one Get after another, for --duration; meanwhile each daemon's resident memory (VmRSS)
# is sampled every --every seconds. Memory that keeps growing over a long run shows as a rising
# column.
#
#   scripts/bench-memory.sh [--keys 1000000] [--duration 120] [--every 10] [--connections 16]
#                           [--out DIR]
#
# Builds the release binaries unless KRYPTON_BIN_DIR names binaries built already. Everything
# lives in a temporary directory removed on exit; every wait is bounded. Writes rss.tsv
# (seconds since the stack was ready, phase — "setup" while the keys are made, then "gets" —,
# core MiB, gateway MiB) and krypton-load's JSON report to the output directory, and prints
# both.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${KRYPTON_VENV:-$repo/.venv}
keys=1000000 duration=120 every=10 connections=16 out=

fail() {
    echo "bench-memory: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
        --keys) keys=${2:?--keys needs a value}; shift 2 ;;
        --duration) duration=${2:?--duration needs a value}; shift 2 ;;
        --every) every=${2:?--every needs a value}; shift 2 ;;
        --connections) connections=${2:?--connections needs a value}; shift 2 ;;
        --out) out=${2:?--out needs a value}; shift 2 ;;
        -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
        *) fail "unknown option '$1' (--help lists them)" ;;
    esac
done
for value in "$keys" "$duration" "$every" "$connections"; do
    [[ $value =~ ^[1-9][0-9]{0,7}$ ]] || fail "'$value' is not a whole number from 1"
done

"$repo/scripts/install-deps.sh"
# shellcheck source=scripts/bench-lib.sh
. "$repo/scripts/bench-lib.sh"
bin_dir=$(bench_bin_dir)
out=${out:-${TMPDIR:-/tmp}/krypton-memory-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/krypton-memory.XXXXXX")
load_pid=

cleanup() {
    [ -z "$load_pid" ] || kill -TERM "$load_pid" 2>/dev/null || true
    stop_server "${dev_pid:-}" krypton-dev
    rm -rf "$work"
}
trap cleanup EXIT

start_dev_stack "$bin_dir" "$work"
rss() { echo "$(rss_mib "$core_pid")"$'\t'"$(rss_mib "$gateway_pid")"; }

# Making the keys takes about a second per 5,000 on two CPUs; bounded generously.
limit=$((duration + keys / 500 + 120))
timeout --kill-after=10 "$limit" "$bin_dir/krypton-load" \
    --address "127.0.0.1:$gateway_port" --server-name localhost \
    --cert "$pki/app-alice.pem" --key "$pki/app-alice.key" --ca "$pki/ca.pem" \
    --workload get --keys "$keys" --connections "$connections" --duration "${duration}s" \
    --json >"$out/load.json" 2>"$out/load.err" &
load_pid=$!

# Sampled from the start; which samples fell in the set-up (the keys being made) is told
# afterwards, from the run's measured part that krypton-load reports.
printf 'seconds\tcore_mib\tgateway_mib\n' >"$work/samples.tsv"
started=$SECONDS
while kill -0 "$load_pid" 2>/dev/null; do
    printf '%s\t%s\n' $((SECONDS - started)) "$(rss)" >>"$work/samples.tsv"
    sleep "$every"
done
status=0
wait "$load_pid" || status=$?
load_pid=
printf '%s\t%s\n' $((SECONDS - started)) "$(rss)" >>"$work/samples.tsv"
[ $status -eq 0 ] || { cat "$out/load.err" >&2; fail "krypton-load failed (status $status)"; }

"$venv/bin/python" - "$work/samples.tsv" "$out/load.json" "$keys" <<'EOF' | tee "$out/rss.tsv"
"""The samples with their phase: set-up (the keys being made) or gets (read over and over)."""
import json, sys
samples = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()[1:]]
report = json.load(open(sys.argv[2]))
total = int(samples[-1][0])
setup_ends = total - report["elapsed_s"]
print(f"# {sys.argv[3]} keys; set-up {setup_ends:.0f} s, then {report['operations']} Gets "
      f"({report['ops_per_s']:.0f}/s, {report['failures']} failed) over {report['elapsed_s']:.0f} s")
print("seconds\tphase\tcore_mib\tgateway_mib")
for seconds, core, gateway in samples:
    phase = "setup" if int(seconds) < setup_ends else "gets"
    print(f"{seconds}\t{phase}\t{core}\t{gateway}")
EOF
