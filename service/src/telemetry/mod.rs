//! Telemetry over plain HTTP on a listener of its own, off unless a daemon's configuration has a
//! `[telemetry]` table: Prometheus metrics at `/metrics`, liveness at `/healthz` (the process
//! answers) and readiness at `/readyz` (it can serve requests now, or why not).
//!
//! Events are counted where they happen with the `metrics` facade (the KMIP transport and
//! server skeleton count requests, results and connections); state that is not an event —
//! sealed or not, tenants by state — is read by the daemon's [`Health::observe`] just before
//! each scrape. Without an installed recorder the facade's macros do nothing, so a daemon with
//! telemetry off pays an atomic load per event.
//!
//! The listener is meant for a loopback or management address: it serves no key material, no
//! identifier beyond tenant and service names, and takes no input beyond the path. For a
//! scraper on another host, `[telemetry.tls]` puts it behind mutual TLS: only clients with a
//! certificate of the configured CA (and on none of its revocation lists) are answered.

mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kmip::net::{NetError, TlsFiles};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use tls::TlsListener;

/// Latency buckets, in seconds, of every `*_duration_seconds` histogram: from 50 µs (a Get
/// answered from memory) to 5 s (a request near its timeout).
const DURATION_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

/// How often the recorder folds the histogram samples it has taken into their buckets. It keeps
/// every sample until then (or until a scrape), so without this a daemon nobody scrapes would
/// hold some 16 bytes more per request for ever: about 1 MiB a second under load.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// The `[telemetry]` table of a daemon's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Where the HTTP listener binds: a loopback or management address (port 0: any free port).
    pub listen: SocketAddr,
    /// `[telemetry.tls]`: HTTPS, answering only clients with a certificate of `client_ca`;
    /// absent: plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
}

/// Whether a daemon can serve requests now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// `true` when requests can be served.
    pub ready: bool,
    /// Why not, as a stable token for machines (`"sealed"`, `"core-unreachable"`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// Why not, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Readiness {
    /// Ready to serve.
    pub fn ready() -> Self {
        Self {
            ready: true,
            reason: None,
            detail: None,
        }
    }

    /// Not ready, for `reason` (a stable token), explained by `detail`.
    pub fn not_ready(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            ready: false,
            reason: Some(reason),
            detail: Some(detail.into()),
        }
    }
}

/// What a daemon tells its telemetry listener.
pub trait Health: Send + Sync + 'static {
    /// Whether the daemon can serve requests now. Bounded in time by the implementation: a
    /// probe that hangs is a failed probe.
    fn readiness(&self) -> impl Future<Output = Readiness> + Send;

    /// Sets the gauges that describe state rather than events, just before a scrape.
    fn observe(&self);
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The metrics recorder could not be built or installed (another one is installed).
    #[error("cannot install the metrics recorder")]
    Recorder(#[source] BuildError),
    /// The TLS files of `[telemetry.tls]` could not be used.
    #[error("cannot set up TLS for the telemetry listener")]
    Tls(#[source] NetError),
    /// The listener could not be bound.
    #[error("cannot bind the telemetry listener to {address}")]
    Bind {
        /// The configured address.
        address: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The telemetry listener, bound and with the process's metrics recorder installed.
#[derive(Debug)]
pub struct Telemetry {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    metrics: PrometheusHandle,
}

impl Telemetry {
    /// Installs the process's metrics recorder and binds the listener of `config`.
    ///
    /// # Errors
    ///
    /// [`TelemetryError`]: the TLS files cannot be used, the address cannot be bound, or a
    /// recorder is installed already.
    pub async fn bind(config: &TelemetryConfig) -> Result<Self, TelemetryError> {
        let tls = match &config.tls {
            Some(files) => Some(Arc::new(
                kmip::net::server_config(files).map_err(TelemetryError::Tls)?,
            )),
            None => None,
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| TelemetryError::Bind {
                    address: config.listen,
                    source,
                })?;
        let metrics = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("duration_seconds".to_owned()),
                DURATION_BUCKETS,
            )
            .map_err(TelemetryError::Recorder)?
            .install_recorder()
            .map_err(TelemetryError::Recorder)?;
        Ok(Self {
            listener,
            tls,
            metrics,
        })
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The OS error if the socket cannot tell.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `/metrics`, `/healthz` and `/readyz` until `shutdown` completes, keeping the
    /// recorder's memory bounded meanwhile.
    pub async fn serve<H: Health>(
        self,
        health: Arc<H>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let upkeep = tokio::spawn(upkeep(self.metrics.clone()));
        let address = self.listener.local_addr().ok();
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        tracing::info!(
            ?address,
            scheme,
            "telemetry listening: /metrics, /healthz, /readyz"
        );
        let routes = Router::new()
            .route("/metrics", get(metrics::<H>))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readiness::<H>))
            .with_state(Arc::new(Endpoints {
                health,
                metrics: self.metrics,
            }));
        let served = match self.tls {
            None => {
                axum::serve(self.listener, routes)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            Some(tls) => match TlsListener::new(self.listener, tls) {
                Ok(listener) => {
                    axum::serve(listener, routes)
                        .with_graceful_shutdown(shutdown)
                        .await
                }
                Err(error) => Err(error),
            },
        };
        upkeep.abort();
        if let Err(error) = served {
            tracing::error!(%error, "the telemetry listener failed");
        }
    }
}

/// Folds the histograms' samples into their buckets every [`UPKEEP_EVERY`], for ever.
async fn upkeep(metrics: PrometheusHandle) {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        metrics.run_upkeep();
    }
}

struct Endpoints<H> {
    health: Arc<H>,
    metrics: PrometheusHandle,
}

async fn metrics<H: Health>(State(endpoints): State<Arc<Endpoints<H>>>) -> String {
    endpoints.health.observe();
    endpoints.metrics.render()
}

async fn readiness<H: Health>(State(endpoints): State<Arc<Endpoints<H>>>) -> Response {
    let readiness = endpoints.health.readiness().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(readiness)).into_response()
}
