#!/usr/bin/env bash
# Builds the krypton-core and krypton-gateway packages, checks their metadata and file lists,
# installs the .debs, checks what the maintainer scripts and units set up, runs the installed
# core as the krypton user under a stand-in for systemd's notify socket, then its installed unit
# under a private systemd manager (the watchdog restarts a stopped core), removes and purges
# the packages, and checks that the key store (/var/lib/krypton) survived.
#
#   packaging/test.sh [--profile NAME]   # as root; the binaries must be built (see build.sh)
#
# Needs no running systemd: units are checked with `systemd-analyze verify` and
# `systemd-analyze security --offline=true`, and run by a `systemd --user` manager the test
# starts and stops. Ends with "packaging: N passed, M failed".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
profile=release
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=${2:?--profile needs a name}; shift 2 ;;
        *) echo "test.sh: unknown argument $1 (--profile NAME)" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: must run as root (it installs and removes packages)" >&2
    exit 2
fi
# The test installs the packages on this machine: refuse to touch a real installation.
for package in krypton-core krypton-gateway; do
    if dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'installed'; then
        echo "test.sh: $package is installed on this machine; not touching it" >&2
        exit 2
    fi
done

# Exposure ceiling for the units, in systemd-analyze's tenths (20 = 2.0).
readonly MAX_EXPOSURE=20
passed=0
failed=0
check() { # description command...
    local description=$1
    shift
    if "$@" >/dev/null 2>"$work/check.err"; then
        passed=$((passed + 1))
        echo "ok: $description"
    else
        failed=$((failed + 1))
        echo "FAILED: $description"
        sed 's/^/    /' "$work/check.err"
    fi
}
# `stat` owner:group mode of a path equals the expected value.
has_mode() { [ "$(stat -c '%U:%G %a' "$1")" = "$2" ] || { stat -c '%U:%G %a %n' "$1" >&2; false; }; }
contains() { grep -qE -- "$2" <<<"$1" || { echo "no match for /$2/ in:" >&2; echo "$1" >&2; false; }; }
lacks() { ! grep -qE -- "$2" <<<"$1" || { echo "unexpected /$2/ in:" >&2; echo "$1" >&2; false; }; }

work=$(mktemp -d "${TMPDIR:-/tmp}/krypton-packaging-test.XXXXXX")
# What existed before, so the clean-up removes only what this test created.
had_user=$(getent passwd krypton >/dev/null && echo yes || echo no)
had_state=$([ -e /var/lib/krypton ] && echo yes || echo no)
had_gateway_state=$([ -e /var/lib/krypton-gateway ] && echo yes || echo no)
had_run=$([ -e /run/krypton ] && echo yes || echo no)
core_pid=
manager_pid=
manager_run=
made_marker=no
run_systemd_before=
systemd_booted=yes
listener_pids=()
fake_journal=no
remove_fake_journal() {
    rm -f /run/systemd/journal/socket
    [ "$had_journal_dir" = yes ] || rmdir /run/systemd/journal
    [ "$had_run_systemd" = yes ] || rmdir /run/systemd
    fake_journal=removed
}
# Removes the systemd manager's runtime directory and what it (or this test) added under
# /run/systemd.
remove_manager_files() {
    rm -rf "$manager_run"
    manager_run=
    [ "$made_marker" = yes ] && rmdir /run/systemd/system 2>/dev/null && made_marker=no
    # On a host booted with systemd, /run/systemd is the system manager's: left alone.
    [ "$systemd_booted" = no ] || return 0
    local entry
    for entry in $(ls -A /run/systemd 2>/dev/null); do
        grep -qxF -- "$entry" <<<"$run_systemd_before" || rm -rf "/run/systemd/${entry:?}"
    done
    [ -n "$run_systemd_before" ] || rmdir /run/systemd 2>/dev/null || true
}
cleanup() {
    [ -n "$core_pid" ] && kill "$core_pid" 2>/dev/null || true
    [ -n "$manager_pid" ] && kill "$manager_pid" 2>/dev/null || true
    [ -n "$manager_run" ] && remove_manager_files
    [ ${#listener_pids[@]} -eq 0 ] || kill "${listener_pids[@]}" 2>/dev/null || true
    [ "$fake_journal" = yes ] && remove_fake_journal || true
    dpkg --purge krypton-core krypton-gateway >/dev/null 2>&1 || true
    [ "$had_state" = no ] && rm -rf /var/lib/krypton
    [ "$had_gateway_state" = no ] && rm -rf /var/lib/krypton-gateway
    [ "$had_run" = no ] && rm -rf /run/krypton
    if [ "$had_user" = no ] && getent passwd krypton >/dev/null; then
        userdel krypton 2>/dev/null || true
        groupdel krypton 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if ! command -v rpm >/dev/null; then
    apt-get install -y -q rpm >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q rpm >/dev/null; }
fi

started=$(date +%s)
"$here/build.sh" --profile "$profile" --out "$work/packages"
echo "packaging took $(($(date +%s) - started)) s (tools included)"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../Cargo.toml" | head -1)
core_deb=$(ls "$work"/packages/krypton-core_"$version"*_*.deb)
gateway_deb=$(ls "$work"/packages/krypton-gateway_"$version"*_*.deb)
core_rpm=$(ls "$work"/packages/krypton-core-"$version"*.rpm)
gateway_rpm=$(ls "$work"/packages/krypton-gateway-"$version"*.rpm)

echo "== .deb metadata and contents"
info=$(dpkg-deb -I "$core_deb")
check "core .deb is krypton-core $version" contains "$info" "^ Package: krypton-core$"
check "core .deb recommends softhsm2" contains "$info" "^ Recommends: softhsm2"
check "core .deb depends on libc6" contains "$info" "^ Depends: .*libc6"
check "core .deb depends on adduser (postinst)" contains "$info" "^ Depends: .*adduser"
check "core .deb depends on no RocksDB library (linked statically)" lacks "$info" "rocksdb"
dpkg-deb -e "$core_deb" "$work/core-control"
check "core .deb marks core.toml a conffile" contains "$(cat "$work/core-control/conffiles")" "^/etc/krypton/core.toml$"
check "core .deb has postinst and postrm" test -x "$work/core-control/postinst" -a -x "$work/core-control/postrm"
check "core .deb postrm stops the unit on remove" contains "$(cat "$work/core-control/prerm")" "deb-systemd-invoke stop .*krypton-core.service"
files=$(dpkg-deb -c "$core_deb")
check "core .deb ships /usr/bin/krypton-core 0755" contains "$files" "^-rwxr-xr-x (root/root|0/0) .* \./usr/bin/krypton-core$"
check "core .deb ships /usr/bin/kryptonctl 0755" contains "$files" "^-rwxr-xr-x (root/root|0/0) .* \./usr/bin/kryptonctl$"
check "core .deb ships /etc/krypton/core.toml 0640" contains "$files" "^-rw-r----- (root/root|0/0) .* \./etc/krypton/core.toml$"
check "core .deb ships the krypton-core unit" contains "$files" "\./(usr/)?lib/systemd/system/krypton-core.service$"
check "core .deb ships nothing under /var/lib/krypton" lacks "$files" "var/lib/krypton"
check "core .deb ships the Grafana dashboard" contains "$files" "^-rw-r--r-- (root/root|0/0) .* \./usr/share/krypton/grafana/krypton.json$"
info=$(dpkg-deb -I "$gateway_deb")
files=$(dpkg-deb -c "$gateway_deb")
check "gateway .deb is krypton-gateway $version" contains "$info" "^ Package: krypton-gateway$"
check "gateway .deb depends on no RocksDB library" lacks "$info" "rocksdb"
check "gateway .deb ships /usr/bin/krypton-gateway" contains "$files" "^-rwxr-xr-x (root/root|0/0) .* \./usr/bin/krypton-gateway$"
check "gateway .deb ships /etc/krypton/gateway.toml 0640" contains "$files" "^-rw-r----- (root/root|0/0) .* \./etc/krypton/gateway.toml$"
check "gateway .deb ships the krypton-gateway unit" contains "$files" "\./(usr/)?lib/systemd/system/krypton-gateway.service$"

echo "== binaries: run-time libraries"
for binary in krypton-core krypton-gateway; do
    libs=$(dpkg-deb --fsys-tarfile "$([ $binary = krypton-core ] && echo "$core_deb" || echo "$gateway_deb")" \
        | tar -xO "./usr/bin/$binary" >"$work/$binary" && chmod +x "$work/$binary" && ldd "$work/$binary")
    check "$binary links RocksDB statically (no librocksdb in ldd)" lacks "$libs" "rocksdb|not found"
    # libc6, libstdc++6 (RocksDB's C++ runtime) and libgcc-s1 alone: what $auto put in Depends.
    others=$(awk '{print $1}' <<<"$libs" | grep -vE \
        '^(linux-vdso|libc|libm|libgcc_s|libstdc\+\+|libpthread|libdl|librt)\.so|^/lib64/ld-linux' || true)
    check "$binary needs only libc6, libstdc++6 and libgcc-s1 (others: ${others:-none})" test -z "$others"
done

echo "== .rpm metadata and contents"
# The rpm stays uninstalled here (a Debian machine): its lists and scripts are checked.
for rpm_file in "$core_rpm" "$gateway_rpm"; do
    name=$(rpm -qp --qf '%{NAME}' "$rpm_file" 2>/dev/null)
    listing=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm_file" 2>/dev/null)
    scripts=$(rpm -qp --scripts "$rpm_file" 2>/dev/null)
    conf=$([ "$name" = krypton-core ] && echo core || echo gateway)
    check "$name .rpm file list (rpm -qlp) has /usr/bin/$name" contains "$(rpm -qlp "$rpm_file" 2>/dev/null)" "^/usr/bin/$name$"
    check "$name .rpm ships /etc/krypton/$conf.toml 0640 root:krypton" contains "$listing" "^-rw-r----- root:krypton /etc/krypton/$conf.toml$"
    check "$name .rpm marks $conf.toml a config file" contains "$(rpm -qcp "$rpm_file" 2>/dev/null)" "^/etc/krypton/$conf.toml$"
    check "$name .rpm ships the unit" contains "$listing" "^-rw-r--r-- root:root /usr/lib/systemd/system/$name.service$"
    check "$name .rpm creates the krypton user in %pre" contains "$scripts" "useradd --system --gid krypton"
    check "$name .rpm creates its state directory in %post" contains "$scripts" "install -d -o krypton -g krypton -m 0700"
    check "$name .rpm stops the unit on erase in %preun" contains "$scripts" "disable --now %\\{name\\}.service"
    # Flag 1 (RPMSCRIPT_FLAG_EXPAND): rpm expands %{name} in these two when it runs them.
    check "$name .rpm expands %{name} in %post and %preun" \
        test "$(rpm -qp --qf '%{POSTINFLAGS} %{PREUNFLAGS}' "$rpm_file" 2>/dev/null)" = "1 1"
    check "$name .rpm ships nothing under /var/lib" lacks "$listing" "/var/lib/"
done
check "krypton-core .rpm ships the Grafana dashboard" contains "$(rpm -qlp "$core_rpm" 2>/dev/null)" "^/usr/share/krypton/grafana/krypton.json$"
check "krypton-core .rpm recommends softhsm" contains "$(rpm -qp --recommends "$core_rpm" 2>/dev/null)" "^softhsm"

echo "== install the .debs"
dpkg -i "$core_deb" "$gateway_deb" >"$work/dpkg-install.log" 2>&1 || { cat "$work/dpkg-install.log"; exit 1; }
user=$(getent passwd krypton || true)
check "krypton is a system user with no login shell, home /var/lib/krypton" \
    contains "$user" "^krypton:x:[0-9]+:[0-9]+:[^:]*:/var/lib/krypton:/usr/sbin/nologin$"
check "krypton's uid is a system uid" test "$(id -u krypton)" -lt 1000
check "krypton group exists and is krypton's primary group" test "$(id -gn krypton)" = krypton
check "/etc/krypton is root:krypton 0750" has_mode /etc/krypton "root:krypton 750"
check "/etc/krypton/core.toml is root:krypton 0640" has_mode /etc/krypton/core.toml "root:krypton 640"
check "/etc/krypton/gateway.toml is root:krypton 0640" has_mode /etc/krypton/gateway.toml "root:krypton 640"
check "/etc/krypton/core (TLS files) is root:krypton 0750" has_mode /etc/krypton/core "root:krypton 750"
check "/var/lib/krypton is krypton:krypton 0700" has_mode /var/lib/krypton "krypton:krypton 700"
check "/var/lib/krypton-gateway is krypton:krypton 0700" has_mode /var/lib/krypton-gateway "krypton:krypton 700"
unit_dir=$(dirname "$(dpkg -L krypton-core | grep 'systemd/system/krypton-core.service$')")
check "units are installed in $unit_dir" test -f "$unit_dir/krypton-core.service" -a -f "$unit_dir/krypton-gateway.service"
check "systemd-analyze verify accepts both units" \
    systemd-analyze verify "$unit_dir/krypton-core.service" "$unit_dir/krypton-gateway.service"
for unit in krypton-core krypton-gateway; do
    systemd-analyze security --offline=true "$unit_dir/$unit.service" >"$work/$unit.security" 2>&1 || true
    exposure=$(sed -n "s/.*Overall exposure level for $unit.service: \([0-9.]*\).*/\1/p" "$work/$unit.security")
    echo "   $unit exposure: ${exposure:-unknown}"
    check "$unit exposure ${exposure:-unknown} <= 2.0" \
        systemd-analyze security --offline=true --threshold="$MAX_EXPOSURE" "$unit_dir/$unit.service"
done
unit=$(cat "$unit_dir/krypton-core.service")
check "core unit: Type=notify, User=krypton, LimitMEMLOCK=infinity, LimitCORE=0" \
    bash -c 'for k in Type=notify User=krypton LimitMEMLOCK=infinity LimitCORE=0 "LoadCredential=krypton-hsm-pin" "CapabilityBoundingSet=$" UMask=0077; do grep -qE "^$k" <<<"$1" || { echo "missing $k" >&2; exit 1; }; done' _ "$unit"

echo "== the installed core, run as krypton: sd_notify, journald, the lifecycle"
# What systemd would do: /run/krypton for the user, memory locking allowed, NOTIFY_SOCKET,
# JOURNAL_STREAM. CAP_IPC_LOCK stands in for LimitMEMLOCK=infinity: a container may forbid
# raising the limit. Stand-in sockets record every datagram the core sends, one per line.
install -d -o krypton -g krypton -m 0700 /run/krypton
chmod 0755 "$work"
listen_datagrams() { # socket log
    python3 - "$1" "$2" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
s.settimeout(120)
with open(sys.argv[2], "a", buffering=1) as log:
    try:
        while True:
            data, fields = s.recv(65536), []
            # sd_notify sends KEY=value lines; journald's native protocol may also send
            # KEY\n<64-bit little-endian length><value>\n.
            while data:
                line, _, rest = data.partition(b"\n")
                if b"=" in line:
                    fields.append(line.decode(errors="replace"))
                    data = rest
                else:
                    size = int.from_bytes(rest[:8], "little")
                    fields.append(line.decode() + "=" + rest[8:8 + size].decode(errors="replace"))
                    data = rest[8 + size + 1:]
            log.write(" ".join(fields) + "\n")
    except socket.timeout:
        pass
PY
    listener_pids+=("$!")
    for _ in $(seq 50); do [ -S "$1" ] && break; sleep 0.1; done
}
wait_for() { # log pattern: up to 10 s
    for _ in $(seq 100); do grep -qE -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
start_core() { # extra environment...
    env NOTIFY_SOCKET="$work/notify.sock" "$@" \
        setpriv --reuid=krypton --regid=krypton --init-groups \
        --inh-caps=+ipc_lock --ambient-caps=+ipc_lock -- \
        /usr/bin/krypton-core --config /etc/krypton/core.toml 2>>"$work/core.log" &
    core_pid=$!
}
stop_core() {
    kill -TERM "$core_pid" 2>/dev/null || true
    wait "$core_pid" || true
    core_pid=
}
notify_log="$work/notify.log"
listen_datagrams "$work/notify.sock" "$notify_log"

# First run, as under systemd: stderr is the journal stream, and a stand-in journald listens on
# its socket unless a real one does (then the journal checks are skipped, not counted).
journal_log="$work/journal.log"
if [ ! -e /run/systemd/journal/socket ]; then
    had_run_systemd=$([ -d /run/systemd ] && echo yes || echo no)
    had_journal_dir=$([ -d /run/systemd/journal ] && echo yes || echo no)
    mkdir -p /run/systemd/journal
    listen_datagrams /run/systemd/journal/socket "$journal_log"
    fake_journal=yes
fi
: >"$work/core.log"
start_core JOURNAL_STREAM="$(stat -c '%d:%i' "$work/core.log")"
check "the core reports READY=1 with STATUS=Uninitialized" wait_for "$notify_log" "READY=1.*STATUS=Uninitialized"
check "the control socket /run/krypton/control.sock answers kryptonctl" \
    contains "$(kryptonctl status 2>&1)" "uninitialized"
check "the store was created in /var/lib/krypton, owned by krypton" has_mode /var/lib/krypton/CURRENT "krypton:krypton 600"
kryptonctl init --shares 2 --threshold 2 --share-dir "$work/shares" >/dev/null
check "after init the core reports STATUS=Sealed" wait_for "$notify_log" "STATUS=Sealed"
kryptonctl unseal --share-file "$work/shares/share-1.txt" >/dev/null
check "after one share of two it reports STATUS=Unsealing" wait_for "$notify_log" "STATUS=Unsealing"
kryptonctl unseal --share-file "$work/shares/share-2.txt" >/dev/null
check "after the second share it reports STATUS=Unsealed" wait_for "$notify_log" "STATUS=Unsealed"
stop_core
check "the core reports STOPPING=1 on SIGTERM" grep -q "STOPPING=1" "$notify_log"
if [ "$fake_journal" = yes ]; then
    check "under systemd the core logs to journald with structured fields" \
        wait_for "$journal_log" "MESSAGE=control API listening.*F_SOCKET=/run/krypton/control.sock|F_SOCKET=/run/krypton/control.sock.*MESSAGE=control API listening"
    check "journal entries carry PRIORITY, SYSLOG_IDENTIFIER and the event fields" \
        wait_for "$journal_log" "PRIORITY=5 .*SYSLOG_IDENTIFIER=krypton-core .*MESSAGE=core started F_STATE=Uninitialized"
    check "nothing went to stderr while the journal took the logs" test ! -s "$work/core.log"
    remove_fake_journal
else
    echo "   (a real journald runs here: the journald checks are skipped)"
fi

# Second run, outside systemd: logs on stderr, and a restart is sealed again.
: >"$notify_log"
: >"$work/core.log"
start_core
check "restarted, the core reports READY=1 with STATUS=Sealed" wait_for "$notify_log" "READY=1.*STATUS=Sealed"
stop_core
check "without a journal stream the core logs to stderr" grep -q "control API listening" "$work/core.log"
kill "${listener_pids[@]}" 2>/dev/null || true
wait "${listener_pids[@]}" 2>/dev/null || true
[ "$failed" -eq 0 ] || { sed 's/^/    notify: /' "$notify_log"; sed 's/^/    core: /' "$work/core.log"; }

echo "== the installed core unit under a systemd manager: the watchdog restarts a stopped core"
# No systemd runs as PID 1 on a CI machine, so a private manager (`systemd --user`, here as
# root, so that User=krypton applies) runs the installed unit with a drop-in that:
# - shortens the watchdog and the restart delay;
# - replaces the directories the unit has systemd create, which a user manager would put under
#   XDG paths, by the ones the package made;
# - gives CAP_IPC_LOCK for LimitMEMLOCK=infinity, as the runs above do (a container may forbid
#   raising the limit), and drops the HSM PIN credential, which this test does not use;
# - turns off the four settings that remount /proc or /sys, which a manager in a container
#   cannot do (exit 226/NAMESPACE); `systemd-analyze security` above checks the unit has them.
manager_run=$(mktemp -d /run/krypton-packaging-systemd.XXXXXX)
chmod 0755 "$manager_run"
# What the manager adds under /run/systemd (the marker a user manager looks for before it
# starts, the inaccessible nodes that sandboxing mounts over hidden paths, its staging
# directories) is removed afterwards: the marker at once, so that dpkg's scripts never see it.
run_systemd_before=$(ls -A /run/systemd 2>/dev/null || true)
systemd_booted=$([ -d /run/systemd/system ] && echo yes || echo no)
[ "$systemd_booted" = yes ] || { mkdir -p /run/systemd/system && made_marker=yes; }
XDG_RUNTIME_DIR="$manager_run" setsid /usr/lib/systemd/systemd --user </dev/null >/dev/null 2>&1 &
manager_pid=$!
for _ in $(seq 100); do [ -S "$manager_run/systemd/private" ] && break; sleep 0.1; done
[ "$made_marker" = yes ] && rmdir /run/systemd/system && made_marker=no
[ -d /run/systemd/inaccessible ] || cp -a "$manager_run/systemd/inaccessible" /run/systemd/
# The system manager's notify socket is writable by every service's user; a user manager's is
# its own user's alone.
chmod 0666 "$manager_run/systemd/notify"
manager() { XDG_RUNTIME_DIR="$manager_run" timeout 60 systemctl --user "$@"; }
show() { manager show --value -p "$1" krypton-core.service; }
mkdir -p "$manager_run/systemd/user/krypton-core.service.d"
cp "$unit_dir/krypton-core.service" "$manager_run/systemd/user/"
cat >"$manager_run/systemd/user/krypton-core.service.d/test.conf" <<DROPIN
[Service]
WatchdogSec=2s
RestartSec=1s
StateDirectory=
LogsDirectory=
RuntimeDirectory=
ConfigurationDirectory=
ReadWritePaths=/var/lib/krypton /run/krypton
LoadCredential=
CapabilityBoundingSet=CAP_IPC_LOCK
AmbientCapabilities=CAP_IPC_LOCK
ProtectKernelTunables=no
ProtectControlGroups=no
ProtectProc=default
ProcSubset=all
StandardError=append:$work/core-systemd.log
DROPIN
manager daemon-reload
check "the manager starts the installed unit (Type=notify: ready when the core says so)" \
    manager start krypton-core.service
first_pid=$(show MainPID)
check "the core runs as krypton under the unit" test "$(stat -c %U "/proc/$first_pid")" = krypton
restarted() {
    local pid
    pid=$(show MainPID)
    [ "$(show NRestarts)" = 1 ] && [ "$(show ActiveState)" = active ] &&
        [ "$pid" != "$first_pid" ] && [ "$pid" != 0 ]
}
# Never `kill -STOP 0`: that would stop this script's own process group.
if [ "${first_pid:-0}" -gt 0 ]; then
    kill -STOP "$first_pid"
    for _ in $(seq 200); do restarted && break; sleep 0.1; done
fi
check "a core stopped with SIGSTOP misses its watchdog pings and is restarted" restarted
check "the stopped process is gone (killed by systemd, not left behind)" test ! -e "/proc/$first_pid"
check "the restarted core is sealed and says so" test "$(show StatusText)" = Sealed
manager stop krypton-core.service
kill "$manager_pid" 2>/dev/null || true
wait "$manager_pid" 2>/dev/null || true
manager_pid=
remove_manager_files
[ "$failed" -eq 0 ] || sed 's/^/    core: /' "$work/core-systemd.log"

echo "== remove, then purge"
dpkg -r krypton-core krypton-gateway >"$work/dpkg-remove.log" 2>&1 || { cat "$work/dpkg-remove.log"; exit 1; }
check "remove keeps the key store /var/lib/krypton" test -f /var/lib/krypton/CURRENT
check "remove keeps the configuration" test -f /etc/krypton/core.toml
check "remove takes the binaries" test ! -e /usr/bin/krypton-core
dpkg -P krypton-core krypton-gateway >"$work/dpkg-purge.log" 2>&1 || { cat "$work/dpkg-purge.log"; exit 1; }
check "purge removes the configuration" test ! -e /etc/krypton/core.toml -a ! -e /etc/krypton/gateway.toml
check "purge keeps the key store /var/lib/krypton, still krypton's" has_mode /var/lib/krypton/CURRENT "krypton:krypton 600"
check "purge keeps /var/lib/krypton-gateway" test -d /var/lib/krypton-gateway
check "purge says the key store was kept" contains "$(cat "$work/dpkg-purge.log")" "/var/lib/krypton was kept"

echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
