//! The metrics recorder's memory stays bounded under a stream of samples no one scrapes.
//!
//! One test in its own binary: a process has one metrics recorder.

#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use krypton_service::telemetry::{Health, Readiness, Telemetry, TelemetryConfig};

use common::status_kib;

mod common;

struct AlwaysReady;

impl Health for AlwaysReady {
    async fn readiness(&self) -> Readiness {
        Readiness::ready()
    }

    fn observe(&self) {}
}

/// Takes a million samples of a latency histogram, as a million requests would.
fn a_million_requests() {
    let histogram = metrics::histogram!("krypton_test_duration_seconds");
    for sample in 0..1_000_000_u32 {
        histogram.record(f64::from(sample % 1000) * 1e-6);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histogram_samples_no_one_scrapes_do_not_pile_up() {
    let config = TelemetryConfig {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        tls: None,
    };
    let telemetry = Telemetry::bind(&config).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(telemetry.serve(Arc::new(AlwaysReady), async {
        let _ = stopped.await;
    }));

    // Without upkeep each million samples would stay, some 16 MB more; with it the memory of one
    // million is reused by the next.
    a_million_requests();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let settled = status_kib("VmRSS");
    for _ in 0..4 {
        a_million_requests();
        tokio::time::sleep(Duration::from_millis(2000)).await;
    }
    let grown = status_kib("VmRSS").saturating_sub(settled);
    assert!(
        grown < 12 * 1024,
        "four million more samples grew the process by {grown} KiB"
    );

    stop.send(()).unwrap();
    served.await.unwrap();
}
