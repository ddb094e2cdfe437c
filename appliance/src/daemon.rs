//! The running core: the appliance and the listeners that serve it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;

use crate::appliance::Appliance;
use crate::config::Config;
use crate::control::service::ControlService;
use crate::control::socket;
use crate::control::v1::control_server::ControlServer;
use crate::error::Error;

/// How often an expired unseal attempt is looked for, so its shares leave memory promptly.
const EXPIRY_SWEEP: Duration = Duration::from_secs(1);

/// The core, opened and ready to serve.
#[derive(Debug)]
pub struct Daemon {
    config: Config,
    appliance: Arc<Appliance>,
}

impl Daemon {
    /// Opens the store under the configured data directory. The core starts sealed (or
    /// uninitialized); nothing is served until [`run`](Self::run).
    pub fn open(config: Config) -> Result<Self, Error> {
        let appliance = Appliance::open(config.data_dir(), config.unseal_progress_timeout())?;
        Ok(Self {
            config,
            appliance: Arc::new(appliance),
        })
    }

    /// Serves the control API until `shutdown` completes, then lets in-flight requests finish,
    /// zeroizes every key and removes the socket.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let path = self.config.control_socket();
        let listener = socket::bind(path)?;
        tracing::info!(socket = %path.display(), "control API listening");
        let sweeper = tokio::spawn(sweep_expired_unseal(Arc::clone(&self.appliance)));
        let service = ControlServer::new(ControlService::new(Arc::clone(&self.appliance)))
            .max_decoding_message_size(self.config.max_request_bytes());
        let served = Server::builder()
            .timeout(self.config.request_timeout())
            .concurrency_limit_per_connection(self.config.max_concurrent_requests())
            .add_service(service)
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
            .await
            .map_err(Error::Transport);
        sweeper.abort();
        let zeroized = self.appliance.zeroize();
        socket::remove(path);
        tracing::info!("core stopped; keys zeroized");
        served.and(zeroized)
    }
}

async fn sweep_expired_unseal(appliance: Arc<Appliance>) {
    let mut ticks = tokio::time::interval(EXPIRY_SWEEP);
    loop {
        ticks.tick().await;
        let appliance = Arc::clone(&appliance);
        match tokio::task::spawn_blocking(move || appliance.expire_unseal()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "unseal expiry sweep failed"),
            Err(error) => tracing::error!(%error, "unseal expiry sweep panicked"),
        }
    }
}
