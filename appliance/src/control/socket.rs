//! The control socket: a Unix socket only its owner can connect to.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use tokio::net::UnixListener;

use crate::error::StartError;

/// Read and write for the owner, nothing for anyone else: connecting needs write permission.
const SOCKET_MODE: u32 = 0o600;

/// Binds the control socket at `path`, mode 0600.
///
/// A socket left by a core that died is replaced; a socket a live core is serving, or a path
/// that is not a socket at all, is refused. The process umask (0077, set at start) makes the
/// socket owner-only from the moment it exists; the explicit mode then drops the execute bit.
pub(crate) fn bind(path: &Path) -> Result<UnixListener, StartError> {
    let io = |context| move |source| StartError::Io { context, source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating the control socket's directory"))?;
    }
    remove_stale(path)?;
    let listener =
        std::os::unix::net::UnixListener::bind(path).map_err(io("binding the control socket"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(io("restricting the control socket"))?;
    listener
        .set_nonblocking(true)
        .map_err(io("configuring the control socket"))?;
    UnixListener::from_std(listener).map_err(io("registering the control socket"))
}

/// Removes the socket file at shutdown.
pub(crate) fn remove(path: &Path) {
    if let Err(error) = std::fs::remove_file(path)
        && error.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), %error, "could not remove the control socket");
    }
}

fn remove_stale(path: &Path) -> Result<(), StartError> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StartError::Io {
                context: "inspecting the control socket path",
                source,
            });
        }
    };
    if !metadata.file_type().is_socket() {
        return Err(StartError::SocketPathOccupied {
            path: path.to_owned(),
        });
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(StartError::SocketInUse {
            path: path.to_owned(),
        }),
        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "replacing a stale control socket");
            std::fs::remove_file(path).map_err(|source| StartError::Io {
                context: "removing a stale control socket",
                source,
            })
        }
        Err(source) => Err(StartError::Io {
            context: "probing an existing control socket",
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn socket_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/control.sock");
        let _listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, SOCKET_MODE);
    }

    #[tokio::test]
    async fn a_live_socket_is_refused_and_a_stale_one_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let live = bind(&path).unwrap();
        assert!(matches!(bind(&path), Err(StartError::SocketInUse { .. })));
        drop(live);
        // The file outlives its listener, as after a crash.
        assert!(path.exists());
        let _replaced = bind(&path).unwrap();
    }

    #[tokio::test]
    async fn a_regular_file_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        std::fs::write(&path, b"not a socket").unwrap();
        assert!(matches!(
            bind(&path),
            Err(StartError::SocketPathOccupied { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
    }
}
