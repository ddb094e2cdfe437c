//! The core's `[telemetry]` listener, on the real binary: readiness follows the lifecycle
//! (uninitialized, sealed, unsealed, sealed again) and names why the core cannot serve, and the
//! state gauge says the same at `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::Site;
use krypton_dev::process::free_loopback_addr;
use serde_json::Value;

/// One HTTP/1.1 GET of `path`: the status code and the body.
fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// `/readyz`: the status code and the reason, if not ready.
fn readiness(addr: SocketAddr) -> (u16, Option<String>) {
    let (status, body) = http_get(addr, "/readyz");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["ready"], status == 200, "{body}");
    (status, body["reason"].as_str().map(str::to_owned))
}

/// The state the `krypton_core_state` gauge marks with 1.
fn gauged_state(addr: SocketAddr) -> String {
    let (status, metrics) = http_get(addr, "/metrics");
    assert_eq!(status, 200);
    let marked: Vec<&str> = metrics
        .lines()
        .filter_map(|line| {
            line.strip_prefix("krypton_core_state{state=\"")?
                .split_once("\"} ")
        })
        .filter(|(_, value)| *value == "1")
        .map(|(state, _)| state)
        .collect();
    assert_eq!(marked.len(), 1, "{metrics}");
    marked[0].to_owned()
}

#[test]
fn readiness_and_the_state_gauge_follow_the_lifecycle() {
    let addr = free_loopback_addr().unwrap();
    let site = Site::with_config(&format!("\n[telemetry]\nlisten = \"{addr}\"\n"));
    let _core = site.start();

    assert_eq!(http_get(addr, "/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(readiness(addr), (503, Some("uninitialized".to_owned())));
    assert_eq!(gauged_state(addr), "uninitialized");

    let shares = site.init(3, 2);
    assert_eq!(readiness(addr), (503, Some("sealed".to_owned())));
    assert_eq!(gauged_state(addr), "sealed");

    site.unseal(&[&shares[0], &shares[2]]);
    assert_eq!(readiness(addr), (200, None));
    assert_eq!(gauged_state(addr), "unsealed");

    site.ctl(&["seal"]).success();
    assert_eq!(readiness(addr), (503, Some("sealed".to_owned())));
    assert_eq!(gauged_state(addr), "sealed");
}
