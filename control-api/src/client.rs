//! A control API client on the core's Unix socket, for `kryptonctl` and tests.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use prost::bytes::Bytes;
use tonic::transport::{Channel, Endpoint};

use crate::v1::control_client;

/// A client of the control API.
pub type ControlClient = control_client::ControlClient<Channel>;

/// How long connecting to the socket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long any one request may take, including disk syncs in the core.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The core's control socket could not be reached. Its source says why: the OS's error (no
/// such file, permission denied, connection refused) is in the chain.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the core on {}", socket.display())]
pub struct ConnectError {
    socket: PathBuf,
    #[source]
    source: tonic::transport::Error,
}

/// Connects to the core's control socket at `socket`.
pub async fn connect(socket: &Path) -> Result<ControlClient, ConnectError> {
    let failed = |source| ConnectError {
        socket: socket.to_owned(),
        source,
    };
    let mut uri = b"unix://".to_vec();
    uri.extend_from_slice(socket.as_os_str().as_bytes());
    let channel = Endpoint::from_shared(Bytes::from(uri))
        .map_err(failed)?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .connect()
        .await
        .map_err(failed)?;
    Ok(ControlClient::new(channel))
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[tokio::test]
    async fn a_missing_socket_is_named_with_the_os_error() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("control.sock");
        let error = connect(&socket).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("cannot reach the core on {}", socket.display())
        );
        let os_error = std::iter::successors(
            Some(&error as &(dyn std::error::Error + 'static)),
            |cause| cause.source(),
        )
        .find_map(|cause| cause.downcast_ref::<io::Error>())
        .expect("the OS's error in the chain");
        assert_eq!(os_error.kind(), io::ErrorKind::NotFound);
    }
}
