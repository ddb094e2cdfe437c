//! The running core: the [`Core`] and the listeners that adapt to it: the control socket
//! always, the KMIP service for gateways when `[kmip]` is configured, telemetry when
//! `[telemetry]` is; and SIGHUP, which reloads what of the configuration can change while the
//! core runs ([`crate::reload`]), as `kryptonctl reload` does.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kmip::net::TlsSource;
use krypton_service::audit::AuditExport;
use krypton_service::telemetry::{Health, Readiness, Telemetry};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;

use crate::config::Config;
use crate::control::service::ControlService;
use crate::control::standby::StandbyControl;
use crate::control::v1::control_server::ControlServer;
use crate::control::{connections, socket};
use crate::core::{AuditSettings, Core};
use crate::error::{Bug, Error, ErrorChain, StartError};
use crate::hsm::Hsm;
use crate::kmip_service::KmipService;
use crate::orchestration::Orchestration;
use crate::reload::{Reloadable, Reloader, hangups, reload_on_hangups};
use crate::store::{Store, StoreError};

/// How often an expired unseal attempt is looked for, so its shares leave memory promptly.
const EXPIRY_SWEEP: Duration = Duration::from_secs(1);
/// How often a core that may stand by checks whether it serves its tenants yet, to bind its
/// KMIP listener: the last part of a takeover.
const SERVING_CHECK: Duration = Duration::from_millis(50);
/// How often the state is compared with the one last reported to systemd (`STATUS=`).
const STATE_REPORT: Duration = Duration::from_secs(1);
/// The first wait before the PKCS#11 seal's auto-unseal is tried again; it doubles after each
/// failure up to [`AUTO_UNSEAL_MAX_RETRY`].
const AUTO_UNSEAL_FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two auto-unseal attempts: an HSM back in service is used within
/// this long.
const AUTO_UNSEAL_MAX_RETRY: Duration = Duration::from_secs(30);

/// The core process, configured and ready to start.
#[derive(Debug)]
pub struct Daemon {
    config: Config,
    /// The file `config` was read from, read again by a reload.
    path: PathBuf,
}

impl Daemon {
    /// The core as `config`, read from `path`, describes it; nothing is opened until
    /// [`run`](Self::run). SIGHUP and `kryptonctl reload` read `path` again.
    pub fn new(config: Config, path: PathBuf) -> Self {
        Self { config, path }
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
        let export = AuditExport::open(self.config.audit()).map_err(|source| StartError::Io {
            context: "opening the audit JSON-lines file",
            source,
        })?;
        let audit = AuditSettings {
            data_path: self.config.audit().data_path,
            export: Arc::new(export),
        };
        // Telemetry first, so that a standby is seen up (and not ready) while it waits.
        let standing = Arc::new(Standing::new(self.config.store().standby()));
        // Stopped with the other listeners, not gracefully: a scraper's kept-alive connection
        // must not hold the shutdown up.
        let telemetry = match self.config.telemetry() {
            Some(config) => {
                let telemetry = Telemetry::bind(config).await?;
                let health = Arc::clone(&standing);
                Some(tokio::spawn(
                    telemetry.serve(health, std::future::pending()),
                ))
            }
            None => None,
        };
        let mut shutdown = std::pin::pin!(shutdown);
        let Some(store) = self.open_store(shutdown.as_mut()).await? else {
            tracing::info!("stopped while waiting as a standby");
            telemetry.inspect(tokio::task::JoinHandle::abort);
            return Ok(());
        };
        let core = Arc::new(Core::open(
            store,
            self.config.unseal_progress_timeout(),
            hsm,
            self.config.seal(),
            &audit,
        )?);
        standing.opened(Arc::clone(&core));
        let kmip = match self.config.kmip() {
            Some((config, gateways)) => {
                let tls = kmip::net::server_config(&config.tls).map_err(StartError::KmipSetup)?;
                // A core that may stand by for another serves gateways only once it can serve
                // its tenants: until then they go on to the core that does.
                let listener = if self.config.store().may_wait() {
                    KmipListener::WhenServing(config.listen)
                } else {
                    KmipListener::Bound(bind_kmip(config.listen).await?)
                };
                let service = Arc::new(KmipService::new(Arc::clone(&core), gateways.clone()));
                let (tls, tls_reload) = TlsSource::reloadable(Arc::new(tls));
                let reloadable = Reloadable {
                    tls: tls_reload,
                    service: Arc::clone(&service),
                };
                Some((listener, tls, config.clone(), service, reloadable))
            }
            None => None,
        };
        let orchestration = match self.config.orchestration() {
            Some(config) => Some(Orchestration::bind(config).await?),
            None => None,
        };
        let hangups = hangups()?;
        let path = self.config.control_socket();
        let listener = socket::bind(path)?;
        tracing::info!(socket = %path.display(), "control API listening");
        let (stop, stopping) = watch::channel(false);
        let audit_writer =
            tokio::spawn(Arc::clone(&core).write_data_audit(stopped(stopping.clone())));
        let (kmip, reloadable) = match kmip {
            Some((listener, tls, config, service, reloadable)) => {
                let (waiting, stopping) = (stopped(stopping.clone()), stopped(stopping.clone()));
                let core = Arc::clone(&core);
                let served = tokio::spawn(async move {
                    let listener = tokio::select! {
                        listener = listener.bound(core) => listener,
                        () = waiting => return,
                    };
                    kmip::net::serve(
                        listener,
                        tls,
                        config.identity_source,
                        config.limits,
                        service,
                        stopping,
                    )
                    .await;
                });
                (Some(served), Some(reloadable))
            }
            None => (None, None),
        };
        // Each core on a PostgreSQL store applies the others' changes; a follower that takes
        // the store over resumes the leader's work.
        let following = core.changes().map(|changes| {
            let core = Arc::clone(&core);
            tokio::spawn(async move { core.follow(changes).await })
        });
        let leading = core.leading();
        let takeover = tokio::spawn(Arc::clone(&core).lead_on_takeover(leading.clone()));
        let (orchestration, links) = match orchestration {
            Some(orchestration) if *leading.borrow() => {
                let links = orchestration.links();
                (
                    orchestration.serve(&core, stopped(stopping.clone()))?,
                    links,
                )
            }
            // Tasks change what only the leading core changes: a follower takes them once it
            // leads, and leaves them to the leader meanwhile.
            Some(orchestration) => {
                let links = orchestration.links();
                let serving =
                    serve_when_leading(orchestration, Arc::clone(&core), leading, stopping.clone());
                (vec![tokio::spawn(serving)], links)
            }
            None => (Vec::new(), Arc::default()),
        };
        let reloader = Arc::new(Reloader::new(self.path, self.config.clone(), reloadable));
        let reloads = tokio::spawn(reload_on_hangups(Arc::clone(&reloader), hangups));
        let status = core.status_line()?;
        krypton_service::notify::ready(&status);
        let reporter = tokio::spawn(report_state(Arc::clone(&core), status));
        let auto_unseal = tokio::spawn(auto_unseal(Arc::clone(&core)));
        let sweeper = tokio::spawn(sweep_expired_unseal(Arc::clone(&core)));
        let watcher = self
            .config
            .hsm()
            .map(|hsm| tokio::spawn(Arc::clone(&core).watch_l1s(hsm.liveness())));
        // A core that lost its store to another stops: it fails closed, keys zeroized. So does a
        // core that cannot apply another core's change (an installation changed).
        let lost = core.ownership_lost();
        let ownership_lost = Arc::new(AtomicBool::new(false));
        let lost_flag = Arc::clone(&ownership_lost);
        let follow_failed = Arc::new(OnceLock::new());
        let unfollowed = stopped_following(following, Arc::clone(&follow_failed));
        let service = ControlServer::new(ControlService::new(Arc::clone(&core), reloader, links))
            .max_decoding_message_size(self.config.max_request_bytes());
        let served = Server::builder()
            .timeout(self.config.request_timeout())
            .concurrency_limit_per_connection(self.config.max_concurrent_requests())
            .add_service(service)
            .serve_with_incoming_shutdown(
                connections::capped(listener, self.config.max_connections()),
                async move {
                    tokio::select! {
                        () = shutdown => {}
                        () = lost => lost_flag.store(true, Ordering::Release),
                        () = unfollowed => {}
                    }
                    stop.send_replace(true);
                },
            )
            .await
            .map_err(StartError::Transport);
        // The control server may also end on an error: stop the KMIP service either way.
        drop(stopping);
        if let Some(kmip) = kmip
            && let Err(join) = kmip.await
        {
            tracing::error!(error = %join, "the KMIP service task failed");
        }
        for task in orchestration {
            task.abort();
        }
        if let Some(telemetry) = telemetry {
            telemetry.abort();
        }
        reloads.abort();
        takeover.abort();
        sweeper.abort();
        auto_unseal.abort();
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        reporter.abort();
        // The KMIP service has stopped: the last data-path records are written before the
        // keys that seal them go.
        if let Err(join) = audit_writer.await {
            tracing::error!(error = %join, "the audit writer task failed");
        }
        let zeroized = core.zeroize();
        socket::remove(path);
        tracing::info!("core stopped; keys zeroized");
        let lost = if ownership_lost.load(Ordering::Acquire) {
            Err(StartError::Core(Error::Store {
                context: "serving",
                source: StoreError::OwnershipLost,
            }))
        } else if let Some(error) = Arc::into_inner(follow_failed).and_then(OnceLock::into_inner) {
            Err(StartError::Core(error))
        } else {
            Ok(())
        };
        served.and(zeroized.map_err(StartError::from)).and(lost)
    }

    /// Opens the store. A standby waits here until the core that holds the store goes,
    /// reported to systemd as ready meanwhile (a standby is up, waiting), or until `shutdown`
    /// completes: then `None`.
    async fn open_store(
        &self,
        shutdown: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<Option<Store>, StartError> {
        // A standby answers on its control socket while it waits: kryptonctl says it stands by.
        let standby_control = if self.config.store().standby() {
            krypton_service::notify::ready("standby: taking over the store, or waiting for it");
            Some(StandbyControl::serve(
                self.config.control_socket(),
                self.config.max_connections(),
            )?)
        } else {
            None
        };
        let opened = self.wait_for_store(shutdown).await;
        if let Some(standby_control) = standby_control {
            standby_control.stop().await;
        }
        opened
    }

    /// Opens the store, or waits for it as a standby; `None` if `shutdown` completes first.
    async fn wait_for_store(
        &self,
        mut shutdown: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<Option<Store>, StartError> {
        let cancel = Arc::new(AtomicBool::new(false));
        let mut opening = tokio::task::spawn_blocking({
            let (config, dir) = (
                self.config.store().clone(),
                self.config.data_dir().to_owned(),
            );
            let cancel = Arc::clone(&cancel);
            move || Store::open_configured(&config, &dir, &cancel)
        });
        let opened = tokio::select! {
            opened = &mut opening => opened,
            () = shutdown.as_mut() => {
                cancel.store(true, Ordering::Release);
                // The wait ends within one retry; what it opened meanwhile closes here.
                let _ = opening.await;
                return Ok(None);
            }
        };
        let store = opened.map_err(|join| Error::Internal(Bug::Task(join)))??;
        Ok(Some(store))
    }
}

/// What the telemetry listener reports: not ready while the store is being opened — for a
/// core that stands by for another, until it takes the store over — then the core's health.
struct Standing {
    standby: bool,
    core: OnceLock<Arc<Core>>,
}

impl Standing {
    fn new(standby: bool) -> Self {
        Self {
            standby,
            core: OnceLock::new(),
        }
    }

    /// The store is open: from now on the core answers.
    fn opened(&self, core: Arc<Core>) {
        let _ = self.core.set(core);
    }
}

impl Health for Standing {
    async fn readiness(&self) -> Readiness {
        match (self.core.get(), self.standby) {
            (Some(core), _) => core.readiness().await,
            (None, true) => Readiness::not_ready(
                "standby",
                "standing by: another core holds the store; this one takes over when it goes",
            ),
            (None, false) => Readiness::not_ready("starting", "opening the store"),
        }
    }

    fn observe(&self) {
        if let Some(core) = self.core.get() {
            core.observe();
        }
    }
}

/// The KMIP listener for gateways: bound at start, or once the core serves its tenants.
enum KmipListener {
    Bound(TcpListener),
    WhenServing(SocketAddr),
}

impl KmipListener {
    /// The listener, bound: at once, or once `core` serves its tenants.
    async fn bound(self, core: Arc<Core>) -> TcpListener {
        let address = match self {
            Self::Bound(listener) => return listener,
            Self::WhenServing(address) => address,
        };
        let mut ticks = tokio::time::interval(SERVING_CHECK);
        loop {
            ticks.tick().await;
            let core = Arc::clone(&core);
            // A transition holds the lifecycle lock across disk syncs: wait for it off the runtime.
            if !matches!(
                tokio::task::spawn_blocking(move || core.serves_tenants()).await,
                Ok(true)
            ) {
                continue;
            }
            match bind_kmip(address).await {
                Ok(listener) => {
                    tracing::info!(%address, "serving its tenants: KMIP listener bound");
                    return listener;
                }
                Err(error) => tracing::error!(error = %ErrorChain(&error), "retrying"),
            }
        }
    }
}

async fn bind_kmip(address: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Io {
            context: "binding the KMIP listener",
            source,
        })
}

/// Serves `orchestration` once `leading` turns true, until `stopping` does.
async fn serve_when_leading(
    orchestration: Orchestration,
    core: Arc<Core>,
    mut leading: watch::Receiver<bool>,
    stopping: watch::Receiver<bool>,
) {
    if leading.wait_for(|leads| *leads).await.is_err() {
        return;
    }
    match orchestration.serve(&core, stopped(stopping)) {
        Ok(tasks) => {
            tracing::info!("leading the store: orchestration tasks are taken from now on");
            for task in tasks {
                let _ = task.await;
            }
        }
        Err(error) => {
            tracing::error!(error = %ErrorChain(&error), "the orchestration listeners did not start")
        }
    }
}

/// Completes when the task `following` the other cores failed, with its error in `failed`;
/// never while it runs, nor without one (RocksDB).
async fn stopped_following(
    following: Option<tokio::task::JoinHandle<Result<(), Error>>>,
    failed: Arc<OnceLock<Error>>,
) {
    let error = match following {
        Some(following) => match following.await {
            Ok(Ok(())) => return std::future::pending().await,
            Ok(Err(error)) => error,
            Err(join) => Error::Internal(Bug::Task(join)),
        },
        None => return std::future::pending().await,
    };
    tracing::error!(error = %ErrorChain(&error), "this core stops: it cannot follow the leading core");
    let _ = failed.set(error);
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

/// On the PKCS#11 seal: has the seal HSM open the master key until it does, waiting longer
/// after each failure (bounded); every failure is logged and shown by `status`. Returns once
/// the core is unsealed, or has nothing to auto-unseal (the Shamir seal, not initialized). A
/// core sealed by an operator afterwards stays sealed until it is restarted.
async fn auto_unseal(core: Arc<Core>) {
    let mut wait = AUTO_UNSEAL_FIRST_RETRY;
    loop {
        match core.auto_unseal().await {
            Ok(true) => {
                tracing::warn!("unsealed by the seal HSM");
                return;
            }
            Ok(false) => return,
            Err(error) => tracing::warn!(
                error = %ErrorChain(&error),
                retry_in = ?wait,
                "auto-unseal failed: the seal HSM did not open the master key; still sealed"
            ),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(AUTO_UNSEAL_MAX_RETRY);
    }
}

/// Keeps `systemctl status` showing the lifecycle state (and why an auto-unseal fails),
/// within [`STATE_REPORT`] of a change.
async fn report_state(core: Arc<Core>, mut reported: String) {
    let mut ticks = tokio::time::interval(STATE_REPORT);
    loop {
        ticks.tick().await;
        let core = Arc::clone(&core);
        // A transition holds the lifecycle lock across disk syncs: wait for it off the runtime.
        match tokio::task::spawn_blocking(move || core.status_line()).await {
            Ok(Ok(status)) if status != reported => {
                krypton_service::notify::status(&status);
                reported = status;
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::error!(%error, "reading the state for systemd failed"),
            Err(error) => tracing::error!(%error, "reading the state for systemd panicked"),
        }
    }
}
