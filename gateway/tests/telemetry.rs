//! The gateway's telemetry listener over real sockets: liveness, readiness that names why the
//! gateway cannot serve (here: the core is down), and metrics read back as Prometheus parses
//! them, counting the KMIP requests a client made by operation and result. Its own test binary:
//! a process has one metrics recorder.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;

use common::{
    InProcess, MEMORY_VAULT, Pki, bounded, client_tls, core_section, dead_address, gateway_toml,
};
use kmip::net::{Client, ClientLimits};
use kmip::{
    GetRequest, Item, LocateRequest, ProtocolVersion, QueryFunction, QueryRequest,
    RequestBatchItem, RequestHeader, RequestMessage,
};
use krypton_dev::http::value;

fn message(item: RequestBatchItem) -> Item {
    RequestMessage {
        header: RequestHeader::new(ProtocolVersion::V1_4),
        batch_items: vec![item],
    }
    .to_item()
}

/// One GET of the telemetry listener, off the runtime (the client blocks).
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || krypton_dev::http::get(addr, &path).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_operation_and_result_and_readiness_names_the_core() {
    let pki = Pki::new();
    let toml = format!(
        "{}\n[telemetry]\nlisten = \"127.0.0.1:0\"\n",
        gateway_toml(
            &pki,
            "127.0.0.1:0",
            "",
            &core_section(&pki, &dead_address()),
            MEMORY_VAULT,
        )
    );
    let gateway = InProcess::start(&toml).await;
    let telemetry = gateway.telemetry.unwrap();

    assert_eq!(
        bounded(http_get(telemetry, "/healthz")).await,
        (200, "ok\n".to_owned())
    );
    let (status, body) = bounded(http_get(telemetry, "/readyz")).await;
    assert_eq!(status, 503, "{body}");
    let readiness: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(readiness["ready"], false);
    assert_eq!(readiness["reason"], "core-unreachable");

    let mut client = bounded(Client::connect(
        &gateway.addr.to_string(),
        "localhost",
        client_tls(&pki.client_files("app-a")),
        &ClientLimits::default(),
    ))
    .await
    .unwrap();
    let query = message(RequestBatchItem::new(QueryRequest {
        query_functions: vec![QueryFunction::QueryOperations],
    }));
    for _ in 0..3 {
        bounded(client.call(&query)).await.unwrap();
    }
    bounded(client.call(&message(RequestBatchItem::new(LocateRequest::default()))))
        .await
        .unwrap();
    let get = GetRequest {
        unique_identifier: Some("no-such-key".into()),
        ..GetRequest::default()
    };
    bounded(client.call(&message(RequestBatchItem::new(get))))
        .await
        .unwrap();

    let body = bounded(http_get(telemetry, "/metrics")).await.1;
    let samples = &tokio::task::spawn_blocking(move || krypton_dev::http::scrape(telemetry))
        .await
        .unwrap()
        .unwrap();
    let requests = |labels: &[(&str, &str)]| value(samples, "kmip_requests_total", labels);
    assert_eq!(
        requests(&[("operation", "Query"), ("result", "Success")]),
        Some(3.0)
    );
    // Locate also asks the core's registry, and the Get's identifier is not in the vault:
    // both need the core, which is down.
    for operation in ["Locate", "Get"] {
        assert_eq!(
            requests(&[("operation", operation), ("result", "GeneralFailure")]),
            Some(1.0),
            "{body}"
        );
        assert_eq!(
            requests(&[("operation", operation), ("result", "Success")]),
            None
        );
    }
    assert_eq!(
        value(
            samples,
            "kmip_request_duration_seconds_count",
            &[("operation", "Query")]
        )
        .or_else(|| value(
            samples,
            "kmip_request_duration_seconds",
            &[("operation", "Query")]
        )),
        Some(3.0)
    );
    assert_eq!(
        value(samples, "kmip_connections", &[("stage", "serving")]),
        Some(1.0)
    );
    // The vault answered the Get (its `find`: no such key) and the Locate; the core never
    // answered.
    for call in ["find", "locate"] {
        let count = value(
            samples,
            "krypton_vault_duration_seconds_count",
            &[("backend", "memory"), ("call", call)],
        )
        .or_else(|| {
            value(
                samples,
                "krypton_vault_duration_seconds",
                &[("backend", "memory"), ("call", call)],
            )
        });
        assert!(count >= Some(1.0), "{call}: {body}");
    }
    assert_eq!(
        value(samples, "krypton_vault_errors_total", &[]),
        None,
        "{body}"
    );
    assert!(
        value(
            samples,
            "krypton_core_link_calls_total",
            &[("result", "unreachable")]
        ) >= Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(
            samples,
            "krypton_core_link_calls_total",
            &[("result", "answered")]
        ),
        None
    );
    // No label carries an identifier: operation, result and stage names only.
    let labels: HashMap<&str, ()> = samples
        .iter()
        .flat_map(|s| s.labels.keys())
        .map(|name| (name.as_str(), ()))
        .collect();
    for name in labels.keys() {
        assert!(
            [
                "operation",
                "result",
                "stage",
                "why",
                "backend",
                "call",
                "le",
                "quantile"
            ]
            .contains(name),
            "{name}"
        );
    }
    drop(client);
    gateway.stop().await;
}
