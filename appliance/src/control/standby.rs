//! The control socket of a core standing by for another: every call is answered *Unavailable*
//! with what the core is doing, so `kryptonctl` on a standby's machine says so in one line
//! instead of finding no socket, as if the core were down.
//!
//! It serves the control API's name with no method of its own: nothing can be asked of a core
//! that has no store yet. Once the store is opened it stops, and the core's own control server
//! binds the same path.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::path::{Path, PathBuf};
use std::task::{Context, Poll};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;
use tonic::transport::Server;

use super::service::ControlService;
use super::v1::control_server::ControlServer;
use super::{connections, socket};
use crate::error::StartError;

/// What every call to a standby is told.
const STANDING_BY: &str = "this core is standing by: another core holds the store, and this one \
                           takes over when it goes (ask the active core)";

/// The standby's control server, running until [`stop`](Self::stop).
pub(crate) struct StandbyControl {
    path: PathBuf,
    stop: oneshot::Sender<()>,
    served: JoinHandle<()>,
}

impl StandbyControl {
    /// Binds the control socket at `path` and answers on it, at most `max_connections` at once.
    pub(crate) fn serve(path: &Path, max_connections: usize) -> Result<Self, StartError> {
        let listener = socket::bind(path)?;
        tracing::info!(socket = %path.display(), "control API answering as a standby");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            let served = Server::builder()
                .add_service(Standby)
                .serve_with_incoming_shutdown(
                    connections::capped(listener, max_connections),
                    async move {
                        let _ = stopped.await;
                    },
                )
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "the standby's control socket stopped answering");
            }
        });
        Ok(Self {
            path: path.to_owned(),
            stop,
            served,
        })
    }

    /// Stops answering and removes the socket, for the core's own server to bind.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(join) = self.served.await {
            tracing::error!(error = %join, "the standby's control server failed");
        }
        socket::remove(&self.path);
    }
}

/// The control API as a standby serves it: every method *Unavailable*.
#[derive(Debug, Clone, Copy)]
struct Standby;

impl NamedService for Standby {
    const NAME: &'static str = <ControlServer<ControlService> as NamedService>::NAME;
}

impl<B> Service<http::Request<B>> for Standby {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<B>) -> Self::Future {
        ready(Ok(Status::unavailable(STANDING_BY).into_http()))
    }
}
