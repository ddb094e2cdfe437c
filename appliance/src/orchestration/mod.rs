//! Northbound orchestration: the governance plane ("Orbital") drives the core's tenants and
//! services, by the same core operations `kryptonctl` drives.
//!
//! | what                                                    | where          |
//! |---------------------------------------------------------|----------------|
//! | `[orchestration]` and its checks                        | [`config`]     |
//! | mutual TLS and the orchestrator's identity, per connection | [`listener`] |
//! | the gRPC API (`krypton.orchestration.v1`), lane 0        | [`grpc`]       |
//! | converging to a desired state                           | [`desired`]    |
//! | the RabbitMQ task consumer, lane 0, dead letters        | [`amqp`]       |
//! | what `kryptonctl status` shows of the links             | [`status`]     |
//!
//! Tasks themselves, and their once-per-task-id rule, are the core's ([`crate::core::Task`]).

mod amqp;
mod config;
mod desired;
mod grpc;
mod listener;
mod status;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use krypton_control_api::orchestration::v1::orchestration_server::OrchestrationServer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::Server;

pub(crate) use config::OrchestrationConfig;
pub(crate) use status::{Links, LinksReport};

use crate::core::Core;
use crate::error::{ErrorChain, StartError};
use config::{AmqpConfig, GrpcConfig};
use grpc::OrchestrationService;
use listener::Admission;

/// How often task ids past their retention are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// The gRPC protocol id offered in the TLS handshake (clients such as grpc-go require it).
const ALPN_H2: &[u8] = b"h2";

/// The orchestration listener, bound and ready to serve.
#[derive(Debug)]
pub(crate) struct Orchestration {
    grpc: Option<(TcpListener, GrpcConfig)>,
    amqp: Option<AmqpConfig>,
    retention: Duration,
    links: Arc<Links>,
}

impl Orchestration {
    /// Binds what `config` asks for, so a port in use or bad TLS files fail the start.
    pub(crate) async fn bind(config: &OrchestrationConfig) -> Result<Self, StartError> {
        let grpc = match &config.grpc {
            Some(grpc) => {
                let listener =
                    TcpListener::bind(grpc.listen)
                        .await
                        .map_err(|source| StartError::Io {
                            context: "binding the orchestration listener",
                            source,
                        })?;
                tracing::info!(address = %grpc.listen, "orchestration API listening");
                Some((listener, grpc.clone()))
            }
            None => None,
        };
        let links = Links::new(
            config.grpc.as_ref().map(|grpc| grpc.listen),
            config.amqp.is_some(),
        );
        Ok(Self {
            grpc,
            amqp: config.amqp.clone(),
            retention: config.task_retention(),
            links: Arc::new(links),
        })
    }

    /// What `status` shows of the links.
    pub(crate) fn links(&self) -> Arc<Links> {
        Arc::clone(&self.links)
    }

    /// Serves until `shutdown` completes; the gRPC task ends then, the others are aborted.
    pub(crate) fn serve(
        self,
        core: &Arc<Core>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Vec<JoinHandle<()>>, StartError> {
        let mut tasks = vec![tokio::spawn(prune(Arc::clone(core), self.retention))];
        if let Some(config) = self.amqp {
            let links = Arc::clone(&self.links);
            tasks.push(tokio::spawn(amqp::run(config, Arc::clone(core), links)));
        }
        if let Some((listener, config)) = self.grpc {
            tasks.push(serve_grpc(listener, &config, Arc::clone(core), shutdown)?);
        }
        Ok(tasks)
    }
}

fn serve_grpc(
    listener: TcpListener,
    config: &GrpcConfig,
    core: Arc<Core>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<JoinHandle<()>, StartError> {
    let mut tls = kmip::net::server_config(&config.tls).map_err(StartError::KmipSetup)?;
    tls.alpn_protocols = vec![ALPN_H2.to_vec()];
    let incoming = listener::incoming(
        listener,
        Admission {
            tls: Arc::new(tls),
            identity_source: config.identity_source,
            orchestrators: config.orchestrators(),
            max_connections: config.max_connections,
        },
    );
    let server = Server::builder()
        .timeout(config.request_timeout())
        .concurrency_limit_per_connection(grpc::MAX_CONCURRENT_PER_CONNECTION)
        .add_service(OrchestrationServer::new(OrchestrationService::new(core)));
    Ok(tokio::spawn(async move {
        if let Err(error) = server
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
        {
            tracing::error!(error = %ErrorChain(&error), "the orchestration API failed");
        }
    }))
}

/// Forgets task ids past their retention, hourly, while the core is unsealed.
async fn prune(core: Arc<Core>, retention: Duration) {
    let mut ticks = tokio::time::interval(PRUNE_EVERY);
    loop {
        ticks.tick().await;
        match core.prune_tasks(retention).await {
            Ok(0) | Err(crate::error::Error::Sealed | crate::error::Error::Uninitialized) => {}
            Ok(pruned) => tracing::info!(pruned, "task ids past their retention forgotten"),
            Err(error) => tracing::warn!(error = %ErrorChain(&error), "pruning task ids failed"),
        }
    }
}
