# Shared by the benchmark scripts (sourced, not run): where the release binaries are, free
# loopback ports, processes' resident memory, and starting and stopping servers. Expects $repo
# (the repository) and $venv (the venv with Python) to be set and a `fail` function.

# The longest a server may take to be ready, and to stop.
readonly START_TIMEOUT=180 STOP_TIMEOUT=30

# Prints the directory of the release binaries: KRYPTON_BIN_DIR if set (binaries built
# already), else builds them with cargo and prints where cargo put them.
bench_bin_dir() {
    local dir
    if [ -n "${KRYPTON_BIN_DIR:-}" ]; then
        dir=$KRYPTON_BIN_DIR
    else
        (cd "$repo" && cargo build --release --locked --bins) >&2
        dir=${CARGO_TARGET_DIR:-target}
        # cargo reads a relative CARGO_TARGET_DIR from where it ran: the repo.
        case $dir in /*) ;; *) dir=$repo/$dir ;; esac
        dir=$dir/release
    fi
    (cd "$dir" && pwd)
}

# Prints $1 distinct free loopback ports, held together while chosen.
free_loopback_ports() {
    "$venv/bin/python" -c '
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
' "$1" || fail "cannot pick free ports"
}

# The resident memory, in MiB, of the processes $@ (VmRSS; a process gone counts nothing).
rss_mib() {
    local total=0 kib pid
    for pid in "$@"; do
        kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        total=$((total + ${kib:-0}))
    done
    echo $((total / 1024))
}

# Starts a throw-away krypton-dev stack (RocksDB vault and store, SoftHSM2 L1, unless further
# arguments, passed on to krypton-dev, say otherwise) from the binaries in $1, with its data, PKI
# and log under $2, and waits until it is ready. Listens on $gateway_port and $core_port if the
# caller chose them, else on two free ports. Sets dev_pid (its process group leader: stop it
# with stop_server), core_pid, gateway_pid, gateway_port and pki.
start_dev_stack() {
    local bin_dir=$1 work=$2
    shift 2
    if [ -z "${gateway_port:-}" ]; then
        read -r gateway_port core_port < <(free_loopback_ports 2)
    fi
    (cd "$work" && exec setsid "$bin_dir/krypton-dev" --data-dir "$work/krypton" \
        --listen "127.0.0.1:$gateway_port" --core-listen "127.0.0.1:$core_port" "$@" \
        >"$work/krypton-dev.log" 2>&1 </dev/null) &
    dev_pid=$!
    wait_ready krypton-dev "$dev_pid" "$work/krypton-dev.log" \
        grep -qsF "krypton-dev: ready" "$work/krypton-dev.log"
    core_pid=$(pgrep -f -- "$work/krypton/core/core.toml")
    gateway_pid=$(pgrep -f -- "$work/krypton/gateway/gateway.toml")
    pki=$work/krypton/pki
}

# Stops the server whose process (and process group, made by setsid) is $1: SIGTERM for an
# orderly stop (krypton-dev stops the gateway, then the core), SIGKILL to the group if it is
# still there after STOP_TIMEOUT seconds or has left children behind.
stop_server() {
    local pid=$1 name=$2 waited=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt $((STOP_TIMEOUT * 5)) ]; do
        sleep 0.2
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$name did not stop within ${STOP_TIMEOUT}s; killing it" >&2
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Waits until `$4...` succeeds, for server $1 (process $2, output in $3); fails if the process
# exits first or START_TIMEOUT seconds pass.
wait_ready() {
    local name=$1 pid=$2 log=$3 deadline=$((SECONDS + START_TIMEOUT))
    shift 3
    until "$@"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$log" >&2 || true
            fail "$name exited before it was ready"
        fi
        if [ $SECONDS -ge $deadline ]; then
            tail -n 20 "$log" >&2 || true
            fail "$name was not ready within ${START_TIMEOUT}s"
        fi
        sleep 0.2
    done
}
