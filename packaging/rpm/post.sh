# %post of krypton-core and krypton-gateway (%{name} is expanded by rpm): the state directory,
# never removed by the package; /etc/krypton readable by the krypton group only.
case "%{name}" in
    krypton-core) state=/var/lib/krypton; conf=core ;;
    krypton-gateway) state=/var/lib/krypton-gateway; conf=gateway ;;
esac
chown root:krypton /etc/krypton
chmod 0750 /etc/krypton
install -d -o root -g krypton -m 0750 "/etc/krypton/$conf"
install -d -o krypton -g krypton -m 0700 "$state"
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null 2>&1 || true
fi
exit 0
