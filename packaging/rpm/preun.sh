# %preun of krypton-core and krypton-gateway: on erase (not upgrade), stop and disable the unit.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now %{name}.service >/dev/null 2>&1 || true
fi
exit 0
