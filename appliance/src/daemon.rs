//! The running core: the [`Core`] and the listeners that adapt to it: the control socket
//! always, the KMIP service for gateways when `[kmip]` is configured.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;

use crate::config::Config;
use crate::control::service::ControlService;
use crate::control::v1::control_server::ControlServer;
use crate::control::{connections, socket};
use crate::core::Core;
use crate::error::StartError;
use crate::hsm::Hsm;
use crate::kmip_service::KmipService;
use crate::seal::State;

/// How often an expired unseal attempt is looked for, so its shares leave memory promptly.
const EXPIRY_SWEEP: Duration = Duration::from_secs(1);
/// How often the state is compared with the one last reported to systemd (`STATUS=`).
const STATE_REPORT: Duration = Duration::from_secs(1);

/// The core process, configured and ready to start.
#[derive(Debug)]
pub struct Daemon {
    config: Config,
}

impl Daemon {
    /// The core as `config` describes it; nothing is opened until [`run`](Self::run).
    pub fn new(config: Config) -> Self {
        Self { config }
    }

    /// Opens the HSM (if configured) and the store (the core starts sealed or
    /// uninitialized), then serves the control API and the KMIP service until `shutdown`
    /// completes; then lets in-flight requests finish, zeroizes every key and removes the
    /// socket.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), StartError> {
        let hsm = match self.config.hsm() {
            Some(config) => {
                let hsm = Hsm::open(config).await.map_err(StartError::Hsm)?;
                tracing::info!("HSM token opened");
                Some(hsm)
            }
            None => None,
        };
        let core = Arc::new(Core::open(
            self.config.data_dir(),
            self.config.unseal_progress_timeout(),
            hsm,
        )?);
        let kmip = match self.config.kmip() {
            Some((config, gateways)) => {
                let tls = kmip::net::server_config(&config.tls).map_err(StartError::KmipSetup)?;
                let listener =
                    TcpListener::bind(config.listen)
                        .await
                        .map_err(|source| StartError::Io {
                            context: "binding the KMIP listener",
                            source,
                        })?;
                let service = KmipService::new(Arc::clone(&core), gateways.clone());
                Some((listener, Arc::new(tls), config.clone(), service))
            }
            None => None,
        };
        let path = self.config.control_socket();
        let listener = socket::bind(path)?;
        tracing::info!(socket = %path.display(), "control API listening");
        let (stop, stopping) = watch::channel(false);
        let kmip = kmip.map(|(listener, tls, config, service)| {
            let stopping = stopped(stopping.clone());
            tokio::spawn(kmip::net::serve(
                listener,
                tls,
                config.identity_source,
                config.limits,
                Arc::new(service),
                stopping,
            ))
        });
        let state = core.state()?;
        krypton_service::notify::ready(status_line(state));
        let reporter = tokio::spawn(report_state(Arc::clone(&core), state));
        let sweeper = tokio::spawn(sweep_expired_unseal(Arc::clone(&core)));
        let watcher = self
            .config
            .hsm()
            .map(|hsm| tokio::spawn(Arc::clone(&core).watch_l1s(hsm.liveness())));
        let service = ControlServer::new(ControlService::new(Arc::clone(&core)))
            .max_decoding_message_size(self.config.max_request_bytes());
        let served = Server::builder()
            .timeout(self.config.request_timeout())
            .concurrency_limit_per_connection(self.config.max_concurrent_requests())
            .add_service(service)
            .serve_with_incoming_shutdown(
                connections::capped(listener, self.config.max_connections()),
                async move {
                    shutdown.await;
                    stop.send_replace(true);
                },
            )
            .await
            .map_err(StartError::Transport);
        // The control server may also end on an error: stop the KMIP service either way.
        drop(stopping);
        if let Some(kmip) = kmip {
            if let Err(join) = kmip.await {
                tracing::error!(error = %join, "the KMIP service task failed");
            }
        }
        sweeper.abort();
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        reporter.abort();
        let zeroized = core.zeroize();
        socket::remove(path);
        tracing::info!("core stopped; keys zeroized");
        served.and(zeroized.map_err(StartError::from))
    }
}

/// Completes when `stopping` turns true or its sender is gone.
async fn stopped(mut stopping: watch::Receiver<bool>) {
    // An error means the sender was dropped: the daemon is stopping too.
    let _ = stopping.wait_for(|stop| *stop).await;
}

async fn sweep_expired_unseal(core: Arc<Core>) {
    let mut ticks = tokio::time::interval(EXPIRY_SWEEP);
    loop {
        ticks.tick().await;
        let core = Arc::clone(&core);
        match tokio::task::spawn_blocking(move || core.expire_unseal()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "unseal expiry sweep failed"),
            Err(error) => tracing::error!(%error, "unseal expiry sweep panicked"),
        }
    }
}

/// Keeps `systemctl status` showing the lifecycle state, within [`STATE_REPORT`] of a change.
async fn report_state(core: Arc<Core>, mut reported: State) {
    let mut ticks = tokio::time::interval(STATE_REPORT);
    loop {
        ticks.tick().await;
        let core = Arc::clone(&core);
        // A transition holds the lifecycle lock across disk syncs: wait for it off the runtime.
        match tokio::task::spawn_blocking(move || core.state()).await {
            Ok(Ok(state)) if state != reported => {
                krypton_service::notify::status(status_line(state));
                reported = state;
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::error!(%error, "reading the state for systemd failed"),
            Err(error) => tracing::error!(%error, "reading the state for systemd panicked"),
        }
    }
}

/// The status line systemd shows for each state.
fn status_line(state: State) -> &'static str {
    match state {
        State::Uninitialized => "Uninitialized",
        State::Sealed => "Sealed",
        State::Unsealing => "Unsealing",
        State::Unsealed => "Unsealed",
    }
}
