//! krypton-load as an application of a stack's gateway, and what the gateway's metrics say of
//! the work it does in the background.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use krypton_dev::Stack;
use krypton_dev::http::{scrape, sum, value};
use serde_json::Value;

/// Runs the krypton-load at `binary` as `app` (one of the dev PKI's applications) against
/// `stack`'s gateway: `workload` (the workload's name, then any options of its own, such as
/// `--data-size 64`) on `connections` connections for `duration`. Its JSON report.
pub fn krypton_load(
    binary: &Path,
    stack: &Stack,
    app: &str,
    workload: &[&str],
    connections: u16,
    duration: Duration,
) -> Value {
    let pki = stack.pki();
    let (_, files) = pki
        .apps
        .iter()
        .find(|(name, _)| name == app)
        .unwrap_or_else(|| panic!("{app} is not an application of the dev PKI"));
    let output = Command::new(binary)
        .arg("--address")
        .arg(stack.gateway_addr().to_string())
        .args(["--server-name", "localhost", "--json", "--workload"])
        .args(workload)
        .arg("--connections")
        .arg(connections.to_string())
        .arg("--duration")
        .arg(format!("{}ms", duration.as_millis()))
        .arg("--cert")
        .arg(&files.cert)
        .arg("--key")
        .arg(&files.key)
        .arg("--ca")
        .arg(&pki.ca)
        .output()
        .unwrap_or_else(|error| panic!("{}: {error}", binary.display()));
    assert!(
        output.status.success(),
        "krypton-load: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("krypton-load prints one JSON report")
}

/// Records the running gateway of `stack` re-wrapped since it started (0 while its telemetry
/// does not answer).
pub fn rewrapped(stack: &Stack) -> f64 {
    let Some(telemetry): Option<SocketAddr> = stack.gateway_telemetry() else {
        return 0.0;
    };
    scrape(telemetry).map_or(0.0, |samples| {
        value(
            &samples,
            "krypton_gateway_rewrap_records_total",
            &[("outcome", "rewrapped")],
        )
        .unwrap_or(0.0)
    })
}

/// Whether the running gateway of `stack` finished a re-wrap pass that began at or after
/// `since`, and left no record behind.
pub fn rewrap_done_since(stack: &Stack, since: SystemTime) -> bool {
    let since = since
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64());
    let Some(Ok(samples)) = stack.gateway_telemetry().map(scrape) else {
        return false;
    };
    let started = value(
        &samples,
        "krypton_gateway_rewrap_last_pass_started_seconds",
        &[],
    );
    let behind = sum(&samples, "krypton_gateway_rewrap_behind");
    started.is_some_and(|started| started >= since) && behind == 0.0
}
