//! Orchestration benchmark (docs/benchmarks.md, "Orchestration"): link tasks per second through
//! the broker, and the kill switch's latency behind a backlog — the time from publishing an
//! UNLINK_KEY on lane 0 to the tenant's first refused Get at the gateway, with 10,000 link and
//! rotate tasks queued ahead of it on the task queue.
//!
//! Runs the release binaries (`cargo build --release --bins` first; `KRYPTON_BIN_DIR` names
//! others) on a private broker, a SoftHSM2 token and free ports, all removed at the end:
//!
//! ```text
//! cargo build --release --bins && cargo bench -p krypton-softhsm-tests --bench lane0
//! ```
//!
//! Prints figures; asserts nothing about speed.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use kmip::net::{Client, ClientLimits, ClientTlsFiles, client_config};
use kmip::{
    Attribute, CreateRequest, CryptographicAlgorithm, CryptographicUsageMask, GetRequest,
    ObjectType, ProtocolVersion, RequestBatchItem, RequestHeader, RequestMessage, ResponseMessage,
    ResponsePayload, ResultStatus, TypedRequest,
};
use krypton_dev::broker::{BROKER_USER, RabbitServer};
use krypton_dev::orbital::{TaskBroker, amqp_settings};
use krypton_dev::pki::SERVER_NAMES;
use krypton_dev::{Stack, StackConfig, token};
use krypton_softhsm_tests::binaries::release_bin_dir;
use serde_json::{Value, json};

/// Link tasks timed for the throughput figure (each a new tenant: an HSM wrap and unwrap),
/// then as many service creates (one per new tenant, rotated in the backlog below).
const LINKS: usize = 1_000;
/// Tasks queued ahead of each unlink: [`NEW_PER_ROUND`] links of new tenants (HSM calls) and
/// as many rotations (new L3 versions), the rest links of tenants linked already (each read,
/// judged and answered "already linked").
const BACKLOG: usize = 10_000;
const NEW_PER_ROUND: usize = BACKLOG / 20;
/// Unlinks measured behind the backlog. Every key in memory is a guarded allocation (about
/// four memory mappings): the rounds stay well below `vm.max_map_count`'s default.
const ROUNDS: usize = 3;
const RESULT_LIMIT: Duration = Duration::from_secs(120);

fn main() {
    // libtest's bench flags are accepted and ignored: this is a plain program.
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: first statement touching the environment; no other thread exists yet.
    let hsm = unsafe { token::prepare(&dir.path().join("softhsm")) }.unwrap();
    let broker = RabbitServer::start().unwrap();
    let mut config = StackConfig::new(&release_bin_dir(), hsm);
    config.amqp = Some(amqp_settings(&broker));
    config.data_dir = Some(dir.path().join("stack"));
    let stack = Stack::start(config).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench(&stack, &broker));
}

async fn bench(stack: &Stack, broker: &RabbitServer) {
    let amqp = stack.config().amqp.clone().unwrap();
    let plane = TaskBroker::connect(&amqp.url, BROKER_USER, broker.password_file())
        .await
        .unwrap();
    let seen = "bench.results";
    for queue in [
        &amqp.task_queue,
        &amqp.unlink_queue,
        &amqp.dead_letter_queue,
    ] {
        plane.declare_queue(queue).await.unwrap();
    }
    plane
        .bind_results(&amqp.results_exchange, seen)
        .await
        .unwrap();
    let l1 = &stack.config().hsm.l1_label;
    let (tenant, service) = (&stack.config().tenant, &stack.config().service);

    // 1. Tasks per second: queued, then drained.
    let links = (0..LINKS).map(|n| {
        json!({"type": "LINK_KEY", "task_id": format!("link-{n}"),
               "tenant": format!("bench-{n}"), "l1_label": l1})
    });
    timed(
        &plane,
        &amqp.task_queue,
        seen,
        "link tasks (new tenants)",
        links,
    )
    .await;
    let services = (0..LINKS).map(|n| {
        json!({"type": "CREATE_SERVICE", "task_id": format!("svc-{n}"),
               "tenant": format!("bench-{n}"), "service": "svc"})
    });
    timed(&plane, &amqp.task_queue, seen, "service creates", services).await;

    // 2. The kill switch behind a backlog.
    let mut app = App::connect(stack).await;
    let key = app.create().await;
    let mut latencies = Vec::new();
    for round in 0..ROUNDS {
        for n in 0..BACKLOG {
            let id = format!("q{round}-{n}");
            let task = match n % 20 {
                0 => json!({"type": "LINK_KEY", "task_id": id,
                            "tenant": format!("queued-{round}-{n}"), "l1_label": l1}),
                1 => json!({"type": "ROTATE_SERVICE", "task_id": id,
                            "tenant": format!("bench-{}", n % LINKS), "service": "svc"}),
                _ => json!({"type": "LINK_KEY", "task_id": id,
                            "tenant": format!("bench-{}", n % LINKS), "l1_label": l1}),
            };
            plane
                .publish(&amqp.task_queue, task.to_string().as_bytes())
                .await
                .unwrap();
        }
        assert!(app.get(&key).await, "the key must read before the unlink");
        let waiting = queued(broker, &amqp.task_queue);
        let unlink = json!({"type": "UNLINK_KEY", "task_id": format!("unlink-{round}"),
                            "tenant": tenant});
        let published = Instant::now();
        plane
            .publish(&amqp.unlink_queue, unlink.to_string().as_bytes())
            .await
            .unwrap();
        while app.get(&key).await {}
        let refused = published.elapsed();
        latencies.push(refused);
        println!(
            "round {round}: {waiting} tasks queued ahead; first refused Get {:.1} ms after the unlink was published",
            refused.as_secs_f64() * 1e3
        );
        // Let the backlog drain, then bring the tenant back for the next round.
        drain_all(&plane, seen, broker, &amqp.task_queue).await;
        stack.core().ctl().link_tenant(tenant, l1).unwrap();
        while !app.get(&key).await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    latencies.sort();
    println!(
        "unlink behind up to {BACKLOG} queued tasks ({NEW_PER_ROUND} new links and {NEW_PER_ROUND} rotations among them), first refused Get: min {:.1} ms, median {:.1} ms, max {:.1} ms ({ROUNDS} rounds; tenant {tenant}, service {service})",
        latencies[0].as_secs_f64() * 1e3,
        latencies[ROUNDS / 2].as_secs_f64() * 1e3,
        latencies[ROUNDS - 1].as_secs_f64() * 1e3,
    );
}

/// Publishes `tasks` to `queue`, waits for all their results, and prints the rate.
async fn timed(
    plane: &TaskBroker,
    queue: &str,
    seen: &str,
    what: &str,
    tasks: impl Iterator<Item = Value>,
) {
    let started = Instant::now();
    let mut count = 0;
    for task in tasks {
        plane
            .publish(queue, task.to_string().as_bytes())
            .await
            .unwrap();
        count += 1;
    }
    drain(plane, seen, count).await;
    let elapsed = started.elapsed();
    println!(
        "{what}: {count} in {:.2} s = {:.0} tasks/s (published and drained)",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
}

/// Waits for `count` results.
async fn drain(plane: &TaskBroker, seen: &str, count: usize) {
    for _ in 0..count {
        let result = plane.next(seen, RESULT_LIMIT).await.unwrap();
        let result: Value = serde_json::from_slice(&result.unwrap().body).unwrap();
        assert_ne!(result["status"], "dead-lettered", "{result}");
    }
}

/// Waits until the task queue is empty, discarding results.
async fn drain_all(plane: &TaskBroker, seen: &str, broker: &RabbitServer, queue: &str) {
    while queued(broker, queue) > 0 {
        while plane
            .next(seen, Duration::from_millis(1))
            .await
            .unwrap()
            .is_some()
        {}
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn queued(broker: &RabbitServer, queue: &str) -> u64 {
    broker
        .list_queues()
        .unwrap()
        .into_iter()
        .find(|(name, _)| name == queue)
        .map_or(0, |(_, count)| count)
}

/// app-alice at the gateway, over KMIP 1.4.
struct App {
    client: Client,
}

impl App {
    async fn connect(stack: &Stack) -> Self {
        let pki = stack.pki();
        let (_, alice) = &pki.apps[0];
        let files = ClientTlsFiles {
            cert_chain: alice.cert.clone(),
            private_key: alice.key.clone(),
            server_ca: pki.ca.clone(),
        };
        let client = Client::connect(
            &stack.gateway_addr().to_string(),
            SERVER_NAMES[0],
            Arc::new(client_config(&files).unwrap()),
            &ClientLimits::default(),
        )
        .await
        .unwrap();
        Self { client }
    }

    async fn call(&mut self, request: impl TypedRequest) -> ResponseMessage {
        let message = RequestMessage {
            header: RequestHeader::new(ProtocolVersion::V1_4),
            batch_items: vec![RequestBatchItem::new(request)],
        };
        let item = self.client.call(&message.to_item()).await.unwrap();
        ResponseMessage::from_item(&item).unwrap()
    }

    async fn create(&mut self) -> String {
        let response = self
            .call(CreateRequest {
                object_type: ObjectType::SymmetricKey,
                attributes: vec![
                    Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
                    Attribute::CryptographicLength(256),
                    Attribute::CryptographicUsageMask(
                        CryptographicUsageMask::ENCRYPT | CryptographicUsageMask::DECRYPT,
                    ),
                ],
            })
            .await;
        match &response.batch_items[0].payload {
            Some(ResponsePayload::Create(created)) => created.unique_identifier.clone(),
            other => panic!("create failed: {other:?}"),
        }
    }

    /// Whether the Get succeeded.
    async fn get(&mut self, key: &str) -> bool {
        let response = self
            .call(GetRequest {
                unique_identifier: Some(key.into()),
                ..GetRequest::default()
            })
            .await;
        response.batch_items[0].result_status == ResultStatus::Success
    }
}
