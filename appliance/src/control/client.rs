//! A control API client on the core's Unix socket, for `kryptonctl` and tests.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use prost::bytes::Bytes;
use tonic::transport::{Channel, Endpoint};

use super::v1::control_client;
use crate::error::Error;

/// A client of the control API.
pub type ControlClient = control_client::ControlClient<Channel>;

/// How long connecting to the socket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long any one request may take, including disk syncs in the core.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Connects to the core's control socket at `socket`.
pub async fn connect(socket: &Path) -> Result<ControlClient, Error> {
    let mut uri = b"unix://".to_vec();
    uri.extend_from_slice(socket.as_os_str().as_bytes());
    let channel = Endpoint::from_shared(Bytes::from(uri))
        .map_err(Error::Transport)?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .connect()
        .await
        .map_err(Error::Transport)?;
    Ok(ControlClient::new(channel))
}
