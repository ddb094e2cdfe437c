//! At most so many control connections at once.
//!
//! The socket is owner-only, but the owner's scripts can still leak connections; each one holds
//! buffers and a task. As in mini-redis, a permit is taken *before* a connection is accepted, so
//! the connections beyond the cap wait in the kernel's listen backlog instead of being served,
//! and a permit comes back when its connection closes.

use std::io;
use std::sync::Arc;

use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, UdsConnectInfo};

use crate::admitted::Admitted;

/// The accepted connections of `listener`, never more than `max` open at once. Accepting stops
/// when the stream is dropped (the server has shut down).
pub(crate) fn capped(
    listener: UnixListener,
    max: usize,
) -> ReceiverStream<io::Result<CappedStream>> {
    let (send, receive) = mpsc::channel(1);
    tokio::spawn(accept(listener, Arc::new(Semaphore::new(max)), send));
    ReceiverStream::new(receive)
}

async fn accept(
    listener: UnixListener,
    permits: Arc<Semaphore>,
    send: mpsc::Sender<io::Result<CappedStream>>,
) {
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit,
            () = send.closed() => return,
        };
        // The semaphore is never closed; an error would only mean there is nothing left to serve.
        let Ok(permit) = permit else { return };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = send.closed() => return,
        };
        let connection = accepted.map(|(stream, _)| {
            let peer = stream.connect_info();
            Admitted::new(stream, peer, permit)
        });
        if send.send(connection).await.is_err() {
            return;
        }
    }
}

/// A control connection holding its permit until it is dropped, with the peer's credentials,
/// which the audit log records for every control request.
pub(crate) type CappedStream = Admitted<UnixStream, UdsConnectInfo>;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_stream::StreamExt;

    use super::*;

    const NOT_YET: Duration = Duration::from_millis(200);
    const SOON: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn connections_beyond_the_cap_wait_until_one_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let mut connections = capped(UnixListener::bind(&path).unwrap(), 2);

        let _first_client = UnixStream::connect(&path).await.unwrap();
        let _second_client = UnixStream::connect(&path).await.unwrap();
        let first = tokio::time::timeout(SOON, connections.next())
            .await
            .unwrap();
        let second = tokio::time::timeout(SOON, connections.next())
            .await
            .unwrap();
        let first = first.unwrap().unwrap();
        let _second = second.unwrap().unwrap();

        // The kernel completes the third connect, but it is not served while two are open.
        let _third_client = UnixStream::connect(&path).await.unwrap();
        assert!(
            tokio::time::timeout(NOT_YET, connections.next())
                .await
                .is_err()
        );
        drop(first);
        let third = tokio::time::timeout(SOON, connections.next())
            .await
            .unwrap();
        assert!(third.unwrap().is_ok());
    }

    #[tokio::test]
    async fn the_peer_credentials_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let mut connections = capped(UnixListener::bind(&path).unwrap(), 1);
        let _client = UnixStream::connect(&path).await.unwrap();
        let connection = connections.next().await.unwrap().unwrap();
        let credentials = connection.connect_info().peer_cred.unwrap();
        assert_eq!(credentials.uid(), nix::unistd::getuid().as_raw());
    }
}
