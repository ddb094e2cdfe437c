# %postun of krypton-core and krypton-gateway. The state directory (the key store) is kept.
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null 2>&1 || true
fi
exit 0
