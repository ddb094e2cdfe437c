#!/usr/bin/env bash
# Where the CPU goes under load: on a throw-away krypton-dev stack (RocksDB vault and store,
# SoftHSM2 L1), krypton-load runs one workload while `perf record` samples krypton-core and
# krypton-gateway (cpu-clock, so it works without hardware counters, as on a VM). Prints, per
# process, the CPU time per operation (user + system, from /proc, the load generator's too) and
# the profile's top entries by shared object and by symbol.
#
#   scripts/profile.sh [--workload get] [--connections 16] [--duration 15] [--top 25]
#                      [--out DIR]
#
# Builds the release binaries unless KRYPTON_BIN_DIR names binaries built already; needs
# `perf` (Debian's linux-perf) and the right to use it (root, or perf_event_paranoid <= 1), and
# GNU time.
# Keeps perf's data files (core.data, gateway.data) in the output directory for `perf report`.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${KRYPTON_VENV:-$repo/.venv}
readonly WARM_UP=3
workload=get connections=16 duration=15 top=25 out=

fail() {
    echo "profile: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
        --workload) workload=${2:?--workload needs a value}; shift 2 ;;
        --connections) connections=${2:?--connections needs a value}; shift 2 ;;
        --duration) duration=${2:?--duration needs a value}; shift 2 ;;
        --top) top=${2:?--top needs a value}; shift 2 ;;
        --out) out=${2:?--out needs a value}; shift 2 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) fail "unknown option '$1' (--help lists them)" ;;
    esac
done
for value in "$connections" "$duration" "$top"; do
    [[ $value =~ ^[1-9][0-9]{0,4}$ ]] || fail "'$value' is not a whole number from 1"
done
[ "$duration" -ge 3 ] || fail "--duration must be at least 3 seconds"
command -v perf >/dev/null || fail "no perf (apt-get install linux-perf)"
[ -x /usr/bin/time ] || fail "no /usr/bin/time (apt-get install time)"

"$repo/scripts/install-deps.sh"
# shellcheck source=scripts/bench-lib.sh
. "$repo/scripts/bench-lib.sh"
bin_dir=$(bench_bin_dir)
out=${out:-${TMPDIR:-/tmp}/krypton-profile-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/krypton-profile.XXXXXX")

cleanup() {
    stop_server "${dev_pid:-}" krypton-dev
    rm -rf "$work"
}
trap cleanup EXIT

start_dev_stack "$bin_dir" "$work"

load=("$bin_dir/krypton-load" --address "127.0.0.1:$gateway_port" --server-name localhost
    --cert "$pki/app-alice.pem" --key "$pki/app-alice.key" --ca "$pki/ca.pem"
    --workload "$workload" --connections "$connections" --json)
# A first run warms caches, connection pools and the vault.
timeout --kill-after=10 $((WARM_UP + 120)) "${load[@]}" --duration "${WARM_UP}s" >/dev/null

# CPU ticks (user + system) the process $1 has used.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
core_before=$(ticks "$core_pid")
gateway_before=$(ticks "$gateway_pid")
perf record -e cpu-clock -F 999 -p "$core_pid" -o "$out/core.data" -- sleep "$((duration - 1))" \
    >"$work/perf-core.log" 2>&1 &
perf_core=$!
perf record -e cpu-clock -F 999 -p "$gateway_pid" -o "$out/gateway.data" -- sleep "$((duration - 1))" \
    >"$work/perf-gateway.log" 2>&1 &
perf_gateway=$!
# The load generator's own CPU too, to show it is not what bounds the run.
/usr/bin/time -f '%U %S' -o "$work/load.time" \
    timeout --kill-after=10 $((duration + 120)) "${load[@]}" --duration "${duration}s" >"$out/load.json"
core_ticks=$(($(ticks "$core_pid") - core_before))
gateway_ticks=$(($(ticks "$gateway_pid") - gateway_before))
wait "$perf_core" "$perf_gateway" || fail "perf record failed: $(cat "$work"/perf-*.log)"

"$venv/bin/python" - "$out/load.json" "$core_ticks" "$gateway_ticks" "$work/load.time" \
    "$(getconf CLK_TCK)" <<'EOF' | tee "$out/summary.txt"
"""CPU per operation of each process over the measured run."""
import json, sys
report = json.load(open(sys.argv[1]))
hz = int(sys.argv[5])
operations = report["operations"]
user, system = (float(x) for x in open(sys.argv[4]).read().split()[-2:])
print(f"{report['workload']} at {report['connections']} connections: {operations} operations, "
      f"{report['ops_per_s']:.0f}/s, {report['failures']} failed")
for name, seconds in (("krypton-core", int(sys.argv[2]) / hz),
                      ("krypton-gateway", int(sys.argv[3]) / hz),
                      ("krypton-load", user + system)):
    print(f"  {name:16} {seconds:6.2f} s CPU, {seconds / operations * 1e6:6.1f} µs per operation")
EOF
# perf's reports go to files first: `head` closing a pipe early would fail the script.
top_entries() {
    perf report -i "$out/$1.data" --no-children --sort "$2" --stdio >"$work/report" 2>/dev/null
    grep -v '^#' "$work/report" | grep -v '^$' | head -n "$3" | cut -c1-150 | sed 's/ *$//' || true
}
for process in core gateway; do
    {
        echo
        echo "== krypton-$process: samples by shared object"
        top_entries "$process" dso 6
        echo "== krypton-$process: top $top symbols"
        top_entries "$process" dso,symbol "$top"
    } | tee -a "$out/summary.txt"
done
