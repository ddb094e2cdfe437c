//! The real `krypton-load` binary against a real krypton-gateway over mutual TLS (served in
//! this process, memory vault, krypton-core down): a short Query run is measured and reported
//! in JSON and text; a Create run, which needs the core, reports every operation failed with
//! the gateway's reason; a Get run, whose set-up needs the core, does not start.
#![allow(clippy::unwrap_used)]

#[path = "../../gateway/tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

use common::{InProcess, MEMORY_VAULT, Pki, core_section, dead_address, gateway_toml};
use serde_json::Value;

async fn gateway(pki: &Pki) -> InProcess {
    let toml = gateway_toml(
        pki,
        "127.0.0.1:0",
        "",
        &core_section(pki, &dead_address()),
        MEMORY_VAULT,
    );
    InProcess::start(&toml).await
}

/// Runs `krypton-load` as `app-a` against `gateway` with `args`, off the runtime's threads.
async fn load(pki: &Pki, gateway: &InProcess, args: &[&str]) -> Output {
    let client = pki.client("app-a");
    let mut command = Command::new(env!("CARGO_BIN_EXE_krypton-load"));
    command
        .arg("--address")
        .arg(gateway.addr.to_string())
        .arg("--cert")
        .arg(&client.cert)
        .arg("--key")
        .arg(&client.key)
        .arg("--ca")
        .arg(pki.ca())
        .args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_run_reports_throughput_and_latency() {
    let pki = Pki::new();
    let gateway = gateway(&pki).await;

    let output = load(
        &pki,
        &gateway,
        &["--workload", "query", "-c", "2", "-d", "1s", "--json"],
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["workload"], "query");
    assert_eq!(report["connections"], 2);
    assert_eq!(report["failures"], 0, "{report:#}");
    let operations = report["operations"].as_u64().unwrap();
    assert!(operations > 10, "{report:#}");
    let elapsed = report["elapsed_s"].as_f64().unwrap();
    assert!((1.0..5.0).contains(&elapsed), "{report:#}");
    let rate = report["ops_per_s"].as_f64().unwrap();
    assert!(
        (rate - operations as f64 / elapsed).abs() < 1.0,
        "{report:#}"
    );
    let latency = &report["latency_us"];
    let [p50, p90, p99, p999, max] =
        ["p50", "p90", "p99", "p99.9", "max"].map(|key| latency[key].as_f64().unwrap());
    assert!(
        0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max,
        "{report:#}"
    );

    let text = load(&pki, &gateway, &["--workload", "query", "-d", "200ms"]).await;
    assert!(text.status.success(), "{text:?}");
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("ops/s") && text.contains("p99.9"), "{text}");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_and_a_run_that_cannot_start_says_why() {
    let pki = Pki::new();
    let gateway = gateway(&pki).await;

    // Create needs the core, which is down: every operation fails, closed, at once.
    let output = load(
        &pki,
        &gateway,
        &["--workload", "create", "-d", "300ms", "--json"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["operations"], 0, "{report:#}");
    assert!(report["failures"].as_u64().unwrap() > 0, "{report:#}");
    let failure = report["first_failure"].as_str().unwrap();
    assert!(
        failure.contains("GeneralFailure") && failure.contains("unreachable"),
        "{failure}"
    );

    // Get creates its key before the measured run: without a core there is nothing to run.
    let output = load(&pki, &gateway, &["--workload", "get", "-d", "1s"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("krypton-load: Create failed") && stderr.lines().count() == 1,
        "{stderr}"
    );
    gateway.stop().await;
}
