# %pre of krypton-core and krypton-gateway: the krypton system user and group.
getent group krypton >/dev/null || groupadd --system krypton
getent passwd krypton >/dev/null || useradd --system --gid krypton --no-create-home \
    --home-dir /var/lib/krypton --shell /sbin/nologin --comment "Krypton key management" krypton
exit 0
