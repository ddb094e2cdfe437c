#!/usr/bin/env bash
# Benchmarks Krypton side by side with the PyKMIP server as the peer, in one run on this machine.
#
# Builds the release binaries (unless KRYPTON_BIN_DIR names binaries built already), starts a
# throw-away Krypton stack (krypton-dev: krypton-core + krypton-gateway with a SoftHSM2 L1) and
# a PyKMIP server (from the venv at ${KRYPTON_VENV:-<repo>/.venv}, installed there by
# scripts/install-deps.sh), both on free loopback ports and with the same dev PKI: the PyKMIP
# server presents the gateway's server certificate and requires a client certificate from the
# same CA; krypton-load connects to both as app-alice. Then it runs the same krypton-load
# workloads against each server in turn (for every workload and connection count: Krypton,
# then PyKMIP), writes each JSON report to the output directory and prints a side-by-side
# markdown table (also saved there as table.md).
#
# Everything else lives in a temporary directory that is deleted on exit, and both servers are
# stopped on exit, whatever the cause. Every wait is bounded. `--help` lists the options.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${KRYPTON_VENV:-$repo/.venv}
duration=${BENCH_DURATION:-20}
connections=${BENCH_CONNECTIONS:-1 16}
workloads=${BENCH_WORKLOADS:-create get create-get}
kmip_version=${BENCH_KMIP_VERSION:-1.4}
out=${BENCH_OUT:-}
vault=${BENCH_VAULT:-rocksdb}
core_store=${BENCH_CORE_STORE:-rocksdb}
telemetry=${BENCH_TELEMETRY:-on}
audit=${BENCH_AUDIT:-on}
data_size=${BENCH_DATA_SIZE:-1024}
second_gateway=${BENCH_SECOND_GATEWAY:-off}

# Bounds on the waits: start-up of each server, and its orderly stop before it is killed.
# krypton-load's own bound on one request (and one connect); its run is bounded from it below.
readonly REQUEST_TIMEOUT=10

usage() {
    cat <<EOF
Usage: scripts/bench.sh [options]

Runs krypton-load against krypton-gateway + krypton-core and against the PyKMIP server, one
after the other in the same run, and prints the results side by side, with each server's
resident memory (VmRSS, MiB; Krypton's as core/gateway) as each measurement ends.

  --duration SECONDS     how long each measurement runs (default 20; env BENCH_DURATION)
  --connections "N ..."  connection counts (default "1 16"; env BENCH_CONNECTIONS)
  --workloads "W ..."    krypton-load workloads (default "create get create-get";
                         env BENCH_WORKLOADS)
  --kmip-version V       KMIP version of the requests (default 1.4; env BENCH_KMIP_VERSION)
  --data-size BYTES      what each encrypt, mac or sign request carries (default 1024;
                         env BENCH_DATA_SIZE)
  --vault V              the gateway's vault: rocksdb (default), postgres or redis, the last
                         two a private server krypton-dev starts (env BENCH_VAULT)
  --core-store S         the core's store: rocksdb (default) or postgres, a private server
                         krypton-dev starts; postgres-follower: postgres with a second core
                         following the first, the gateway spreading its data path over both
                         (env BENCH_CORE_STORE)
  --telemetry on|off     both daemons' [telemetry] (default on; env BENCH_TELEMETRY)
  --second-gateway on|off
                         also run a second gateway on the same core and vault (postgres or
                         redis only) and measure both driven together, each by half the
                         connections, next to one gateway taking them all (default off; env
                         BENCH_SECOND_GATEWAY)
  --audit on|off         the data path's audit on both daemons: chained records at the core,
                         JSON-lines files on both (default on; env BENCH_AUDIT)
  --out DIR              where the reports go (default: a new krypton-bench-<time> directory
                         under \${TMPDIR:-/tmp}; env BENCH_OUT)

KRYPTON_BIN_DIR runs binaries built already instead of building the release ones;
KRYPTON_VENV is the venv with PyKMIP (default <repo>/.venv).
EOF
}

fail() {
    echo "bench: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
        --duration) duration=${2:?--duration needs a value}; shift 2 ;;
        --connections) connections=${2:?--connections needs a value}; shift 2 ;;
        --workloads) workloads=${2:?--workloads needs a value}; shift 2 ;;
        --kmip-version) kmip_version=${2:?--kmip-version needs a value}; shift 2 ;;
        --data-size) data_size=${2:?--data-size needs a value}; shift 2 ;;
        --out) out=${2:?--out needs a value}; shift 2 ;;
        --vault) vault=${2:?--vault needs a value}; shift 2 ;;
        --core-store) core_store=${2:?--core-store needs a value}; shift 2 ;;
        --telemetry) telemetry=${2:?--telemetry needs a value}; shift 2 ;;
        --second-gateway) second_gateway=${2:?--second-gateway needs a value}; shift 2 ;;
        --audit) audit=${2:?--audit needs a value}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; fail "unknown argument: $1" ;;
    esac
done

read -ra connection_counts <<<"$connections"
read -ra workload_names <<<"$workloads"
[[ $duration =~ ^[1-9][0-9]{0,4}$ ]] || fail "--duration must be a whole number of seconds, not '$duration'"
[ ${#connection_counts[@]} -gt 0 ] || fail "--connections names no connection count"
for c in "${connection_counts[@]}"; do
    if ! [[ $c =~ ^[1-9][0-9]{0,3}$ ]] || [ "$c" -gt 4096 ]; then
        fail "a connection count must be a number from 1 to 4096, not '$c'"
    fi
done
case $telemetry in
    on) telemetry_flag=() ;;
    off) telemetry_flag=(--no-telemetry) ;;
    *) fail "--telemetry is on or off, not '$telemetry'" ;;
esac
case $audit in
    on) audit_flag=() ;;
    off) audit_flag=(--no-data-audit) ;;
    *) fail "--audit is on or off, not '$audit'" ;;
esac
case $vault in
    rocksdb | postgres | redis) ;;
    *) fail "unknown vault '$vault' (rocksdb, postgres, redis)" ;;
esac
case $core_store in
    rocksdb | postgres) core_store_flag=(--core-store "$core_store") ;;
    postgres-follower) core_store_flag=(--core-store postgres) ;;
    *) fail "unknown core store '$core_store' (rocksdb, postgres, postgres-follower)" ;;
esac
[[ $data_size =~ ^[1-9][0-9]{0,4}$ ]] && [ "$data_size" -le 65536 ] ||
    fail "--data-size must be a number of bytes from 1 to 65536, not '$data_size'"
case $second_gateway in
    off) second_gateway_flag=() ;;
    on)
        [ "$vault" != rocksdb ] || fail "--second-gateway on needs --vault postgres or redis"
        for c in "${connection_counts[@]}"; do
            [ $((c % 2)) -eq 0 ] || fail "--second-gateway on splits each connection count in two: $c is odd"
        done
        ;;
    *) fail "--second-gateway is on or off, not '$second_gateway'" ;;
esac
[ ${#workload_names[@]} -gt 0 ] || fail "--workloads names no workload"
for w in "${workload_names[@]}"; do
    case $w in
        create | get | create-get | lifecycle | query | locate | encrypt | mac | sign) ;;
        *) fail "unknown workload '$w' (create, get, create-get, lifecycle, query, locate, encrypt, mac, sign)" ;;
    esac
done

"$repo/scripts/install-deps.sh"
# shellcheck source=scripts/bench-lib.sh
. "$repo/scripts/bench-lib.sh"
bin_dir=$(bench_bin_dir)
for bin in krypton-dev krypton-load; do
    [ -x "$bin_dir/$bin" ] || fail "no $bin in $bin_dir"
done
pykmip_server=$venv/bin/pykmip-server
[ -x "$pykmip_server" ] || fail "no PyKMIP server at $pykmip_server (scripts/install-deps.sh installs it)"

if [ -z "$out" ]; then
    out=${TMPDIR:-/tmp}/krypton-bench-$(date +%Y%m%d-%H%M%S)
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/krypton-bench-work.XXXXXX")
dev_pid=
pykmip_pid=
load_pids=()
load_files=()

# Deletes the report and error files $1.{json,err} that stayed empty.
drop_empty() {
    local file
    for file in "$1.json" "$1.err"; do
        [ -s "$file" ] || rm -f "$file"
    done
}

cleanup() {
    if [ ${#load_pids[@]} -gt 0 ]; then
        kill -TERM "${load_pids[@]}" 2>/dev/null || true
        wait "${load_pids[@]}" 2>/dev/null || true
        echo "bench: interrupted; the finished runs are in $out" >&2
        for file in "${load_files[@]}"; do
            drop_empty "$file"
        done
    fi
    stop_server "$pykmip_pid" "the PyKMIP server"
    stop_server "$dev_pid" krypton-dev
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Whether a socket listens on loopback port $1, without connecting to it.
listening() {
    grep -qi "^ *[0-9]*: 0100007F:$(printf '%04X' "$1") 00000000:0000 0A " /proc/net/tcp
}

# Four distinct free loopback ports, held together while chosen.
read -r gateway_port core_port pykmip_port second_port follower_port < <(free_loopback_ports 5)
[ "$second_gateway" = off ] || second_gateway_flag=(--second-gateway "127.0.0.1:$second_port")
[ "$core_store" != postgres-follower ] || core_store_flag+=(--follower "127.0.0.1:$follower_port")

# Both servers run from the work directory: nothing they write lands in the repo.
cd "$work"

echo "bench: starting Krypton (krypton-dev) on 127.0.0.1:$gateway_port"
start_dev_stack "$bin_dir" "$work" --vault "$vault" "${core_store_flag[@]}" \
    ${telemetry_flag[@]+"${telemetry_flag[@]}"} ${audit_flag[@]+"${audit_flag[@]}"} \
    ${second_gateway_flag[@]+"${second_gateway_flag[@]}"}
mkdir -p "$work/pykmip/policies"
# The PyKMIP server with the dev PKI: the gateway's server certificate (names localhost and
# 127.0.0.1), client certificates required and checked against the dev CA (ssl.CERT_REQUIRED),
# TLS 1.2 (PyKMIP's suite for it; its Basic suite is TLS 1.0, which rustls does not speak).
# enable_tls_client_auth=False only skips PyKMIP's extra demand that a client certificate carry
# the clientAuth extended key usage, which the dev PKI's client certificates do not. Identity:
# the certificate's Common Name. Policy: the built-in "default" one (the policy directory is
# empty): anyone authenticated may Create, the owner (the creator's identity) may Get. Storage:
# a SQLite file. Logging at WARNING, so that it does not write a log line per request.
cat >"$work/pykmip/server.conf" <<EOF
[server]
hostname=127.0.0.1
port=$pykmip_port
certificate_path=$pki/gateway-server.pem
key_path=$pki/gateway-server.key
ca_path=$pki/ca.pem
auth_suite=TLS1.2
enable_tls_client_auth=False
policy_path=$work/pykmip/policies
database_path=$work/pykmip/pykmip.sqlite
logging_level=WARNING
EOF

echo "bench: starting the PyKMIP server on 127.0.0.1:$pykmip_port"
setsid "$pykmip_server" --config_path "$work/pykmip/server.conf" \
    --log_path "$work/pykmip/server.log" >"$work/pykmip/stdout.log" 2>&1 </dev/null &
pykmip_pid=$!
# Its "ready" is logged at INFO; it listens only once it serves (it binds earlier).
wait_ready "the PyKMIP server" "$pykmip_pid" "$work/pykmip/server.log" listening "$pykmip_port"

krypton_version=$("$bin_dir/krypton-dev" --version | awk '{print $2}')
pykmip_version=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("pykmip"))')
cat >"$out/setup.txt" <<EOF
date: $(date -u +%Y-%m-%dT%H:%M:%SZ)
host: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
krypton: $krypton_version (krypton-dev: krypton-gateway + krypton-core, SoftHSM2 L1, $vault vault, $core_store core store, telemetry $telemetry, data-path audit $audit, second gateway $second_gateway)
pykmip: $pykmip_version (pykmip-server, SQLite, TLS 1.2)
krypton-load: KMIP $kmip_version, ${duration}s per run, as app-alice, $data_size bytes per encrypt, mac or sign
EOF
cp "$work/pykmip/server.conf" "$out/pykmip-server.conf"

# One measurement, written to runs.tsv as $1 (krypton, krypton-2gw or pykmip): workload $2, $3
# connections in all, split evenly between the ports $4... — one krypton-load each, run
# together, its report in $1-$2-c$3[-<port index>].{json,err}. Status: 0 all succeeded, 1 some
# failed (both with JSON reports), 2 one could not run (set-up failed), 124 one was stopped at
# its bound; the worst of the loads. Last, the servers' resident memory as the run ends.
measure() {
    local peer=$1 workload=$2 count=$3 status=0 part=0 port code
    shift 3
    local name=$peer-$workload-c$count share=$((count / $#))
    # Connecting and the set-up of `get` take up to two request timeouts per connection.
    local limit=$((duration + 2 * REQUEST_TIMEOUT * share + 30))
    echo "bench: $workload, $count connection(s), against $peer"
    load_pids=()
    load_files=()
    for port in "$@"; do
        local file=$out/$name
        [ $# -eq 1 ] || file=$out/$name-$part
        timeout --kill-after=10 "$limit" "$bin_dir/krypton-load" \
            --address "127.0.0.1:$port" --server-name localhost \
            --cert "$pki/app-alice.pem" --key "$pki/app-alice.key" --ca "$pki/ca.pem" \
            --workload "$workload" --connections "$share" --duration "${duration}s" \
            --kmip-version "$kmip_version" --request-timeout "${REQUEST_TIMEOUT}s" \
            --data-size "$data_size" --json \
            >"$file.json" 2>"$file.err" &
        load_pids+=($!)
        load_files+=("$file")
        part=$((part + 1))
    done
    # Waited for in the background, so that Ctrl-C or SIGTERM stops the run at once (the shell
    # runs its traps only when a foreground command has ended).
    for part in "${!load_pids[@]}"; do
        code=0
        wait "${load_pids[$part]}" || code=$?
        [ $code -le $status ] || status=$code
        drop_empty "${load_files[$part]}"
    done
    load_pids=()
    load_files=()
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$peer" "$workload" "$count" "$status" "$limit" "$#" \
        "$(server_rss "$peer")" >>"$out/runs.tsv"
}

# What the servers measured by $1 hold in memory as a run ends: "<core>/<gateway>" MiB for
# Krypton (the first gateway), the PyKMIP server's processes together.
server_rss() {
    case $1 in
        krypton | krypton-2gw) echo "$(rss_mib "$core_pid")/$(rss_mib "$gateway_pid")" ;;
        # shellcheck disable=SC2046 # one pid per word
        pykmip) rss_mib "$pykmip_pid" $(pgrep -P "$pykmip_pid") ;;
    esac
}

: >"$out/runs.tsv"
for workload in "${workload_names[@]}"; do
    for count in "${connection_counts[@]}"; do
        measure krypton "$workload" "$count" "$gateway_port"
        if [ "$second_gateway" = on ]; then
            measure krypton-2gw "$workload" "$count" "$gateway_port" "$second_port"
        fi
        measure pykmip "$workload" "$count" "$pykmip_port"
    done
done

"$venv/bin/python" - "$out" "$krypton_version" "$pykmip_version" <<'EOF' | tee "$out/table.md"
"""Renders the runs in runs.tsv as one markdown table, each Krypton row next to its PyKMIP row."""
import json
import os
import sys

out, krypton_version, pykmip_version = sys.argv[1:4]
names = {
    "krypton": f"Krypton {krypton_version}",
    "krypton-2gw": f"Krypton {krypton_version}, two gateways",
    "pykmip": f"PyKMIP {pykmip_version}",
}


def millis(micros):
    ms = micros / 1000
    return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


def combined(reports):
    """Several loads run together as one: throughputs and failures add up; each latency
    percentile is the worst of the loads' (percentiles do not add)."""
    latencies = [r["latency_us"] for r in reports if r["latency_us"]]
    return {
        "ops_per_s": sum(r["ops_per_s"] for r in reports),
        "failures": sum(r["failures"] for r in reports),
        "first_failure": next((r["first_failure"] for r in reports if r["first_failure"]), None),
        "latency_us": {k: max(l[k] for l in latencies) for k in latencies[0]} if latencies else None,
    }


rows, notes = [], []
with open(os.path.join(out, "runs.tsv")) as runs:
    for line in runs:
        peer, workload, count, status, limit, loads, rss = line.rstrip("\n").split("\t")
        name = f"{peer}-{workload}-c{count}"
        cells = [workload, count, names[peer]]
        parts = [name] if loads == "1" else [f"{name}-{i}" for i in range(int(loads))]
        report_paths = [os.path.join(out, part + ".json") for part in parts]
        if status in ("0", "1") and all(os.path.exists(path) for path in report_paths):
            reports = []
            for path in report_paths:
                with open(path) as f:
                    reports.append(json.load(f))
            report = combined(reports)
            latency = report["latency_us"]
            cells.append(f"{report['ops_per_s']:,.0f}")
            if latency:
                cells += [millis(latency[k]) for k in ("p50", "p90", "p99", "p99.9")]
            else:
                cells += ["–"] * 4
            cells.append(f"{report['failures']:,}")
            if report["first_failure"]:
                notes.append(f"{name}: first failure: {report['first_failure']}")
        else:
            what = f"stopped after {limit} s" if status == "124" else f"did not run (exit {status})"
            cells += ["–"] * 5 + [what]
            for part in parts:
                error_path = os.path.join(out, part + ".err")
                if os.path.exists(error_path):
                    with open(error_path) as f:
                        notes.append(f"{part}: {f.read().strip()}")
        cells.append(rss)
        rows.append(cells)

print("| workload | connections | server | ops/s | p50 | p90 | p99 | p99.9 | failed | RSS MiB |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
for cells in rows:
    print("| " + " | ".join(cells) + " |")
if notes:
    print()
    for note in notes:
        print(f"- {note}")
EOF
echo
echo "bench: reports, set-up and table in $out"
