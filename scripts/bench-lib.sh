# Shared by the benchmark scripts (sourced, not run): where the release binaries are, and free
# loopback ports. Expects $repo (the repository) and $venv (the venv with Python) to be set and
# a `fail` function.

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
