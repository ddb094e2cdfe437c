# Shared by the benchmark scripts (sourced, not run): where the release binaries are, free
# loopback ports, and processes' resident memory. Expects $repo (the repository) and $venv
# (the venv with Python) to be set and a `fail` function.

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

# Starts a throw-away krypton-dev stack (RocksDB vault and store, SoftHSM2 L1) from the
# binaries in $1, with its data, PKI and log under $2, and waits (bounded) until it is ready.
# Sets dev_pid (its process group leader), core_pid, gateway_pid, gateway_port and pki.
start_dev_stack() {
    local bin_dir=$1 work=$2 core_port deadline=$((SECONDS + 180))
    read -r gateway_port core_port < <(free_loopback_ports 2)
    (cd "$work" && exec setsid "$bin_dir/krypton-dev" --data-dir "$work/krypton" \
        --listen "127.0.0.1:$gateway_port" --core-listen "127.0.0.1:$core_port" \
        >"$work/krypton-dev.log" 2>&1 </dev/null) &
    dev_pid=$!
    until grep -qsF "krypton-dev: ready" "$work/krypton-dev.log"; do
        kill -0 "$dev_pid" 2>/dev/null || { tail -n 20 "$work/krypton-dev.log" >&2; fail "krypton-dev exited"; }
        [ $SECONDS -lt "$deadline" ] || fail "krypton-dev was not ready within 180 s"
        sleep 0.2
    done
    core_pid=$(pgrep -f -- "$work/krypton/core/core.toml")
    gateway_pid=$(pgrep -f -- "$work/krypton/gateway/gateway.toml")
    pki=$work/krypton/pki
}

# Stops the stack start_dev_stack started, if it did: SIGTERM (krypton-dev stops the gateway,
# then the core), SIGKILL to its process group if it has not exited within 30 s.
stop_dev_stack() {
    [ -n "${dev_pid:-}" ] || return 0
    kill -TERM "$dev_pid" 2>/dev/null || true
    timeout 30 tail --pid="$dev_pid" -f /dev/null 2>/dev/null || kill -KILL -- "-$dev_pid" 2>/dev/null || true
}
