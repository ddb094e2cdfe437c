//! The core's `[telemetry]` listener, on the real binary: readiness follows the lifecycle
//! (uninitialized, sealed, unsealing, unsealed, sealed again) and names why the core cannot
//! serve, and the state and unseal-progress gauges say the same at `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::Site;
use kmip::net::ClientTlsFiles;
use krypton_dev::pki::{Ca, CertFiles, SERVER_NAMES, Subject, client_params, server_params};
use krypton_dev::process::free_loopback_addr;

fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    krypton_dev::http::get(addr, path).unwrap()
}

/// `/readyz`: ready, or the reason why not.
fn readiness(addr: SocketAddr) -> Result<(), String> {
    krypton_dev::http::readiness(addr).unwrap()
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

/// The value of the unlabelled gauge `name`.
fn gauge(addr: SocketAddr, name: &str) -> f64 {
    let (status, metrics) = http_get(addr, "/metrics");
    assert_eq!(status, 200);
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
        .parse()
        .unwrap()
}

#[test]
fn readiness_and_the_state_gauge_follow_the_lifecycle() {
    let addr = free_loopback_addr().unwrap();
    let site = Site::with_config(&format!("\n[telemetry]\nlisten = \"{addr}\"\n"));
    let _core = site.start();

    assert_eq!(http_get(addr, "/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(readiness(addr), Err("uninitialized".to_owned()));
    assert_eq!(gauged_state(addr), "uninitialized");

    let shares = site.init(3, 2);
    assert_eq!(readiness(addr), Err("sealed".to_owned()));
    assert_eq!(gauged_state(addr), "sealed");

    assert_eq!(gauge(addr, "krypton_core_unseal_shares_received"), 0.0);
    site.unseal(&[&shares[0]]);
    assert_eq!(readiness(addr), Err("sealed".to_owned()));
    assert_eq!(gauged_state(addr), "unsealing");
    assert_eq!(gauge(addr, "krypton_core_unseal_shares_received"), 1.0);
    assert_eq!(gauge(addr, "krypton_core_unseal_shares_needed"), 2.0);

    site.unseal(&[&shares[2]]);
    assert_eq!(readiness(addr), Ok(()));
    assert_eq!(gauge(addr, "krypton_core_unseal_shares_received"), 0.0);
    assert_eq!(gauged_state(addr), "unsealed");

    site.ctl(&["seal"]).success();
    assert_eq!(readiness(addr), Err("sealed".to_owned()));
    assert_eq!(gauged_state(addr), "sealed");
}

#[test]
fn with_tls_only_clients_of_its_ca_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("telemetry CA").unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let server = ca
        .issue(&server_params(&SERVER_NAMES).unwrap(), dir.path(), "server")
        .unwrap();
    let scraper_params = client_params(&Subject::common_name("prometheus")).unwrap();
    let scraper = ca.issue(&scraper_params, dir.path(), "scraper").unwrap();
    let stranger = Ca::new("another CA")
        .unwrap()
        .issue(&scraper_params, dir.path(), "stranger")
        .unwrap();
    let addr = free_loopback_addr().unwrap();
    let site = Site::with_config(&format!(
        "\n[telemetry]\nlisten = \"{addr}\"\n\n[telemetry.tls]\ncert_chain = {:?}\n\
         private_key = {:?}\nclient_ca = {ca_file:?}\n",
        server.cert, server.key,
    ));
    let _core = site.start();
    let client = |files: &CertFiles| {
        let files = ClientTlsFiles {
            cert_chain: files.cert.clone(),
            private_key: files.key.clone(),
            server_ca: ca_file.clone(),
        };
        Arc::new(kmip::net::client_config(&files).unwrap())
    };
    let get =
        |files: &CertFiles, path: &str| krypton_dev::http::get_over_tls(addr, path, client(files));

    assert_eq!(get(&scraper, "/healthz").unwrap(), (200, "ok\n".to_owned()));
    let (status, metrics) = get(&scraper, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("krypton_core_state{"), "{metrics}");
    // A certificate of another CA, and plain HTTP, get no answer.
    assert!(get(&stranger, "/healthz").is_err());
    assert!(krypton_dev::http::get(addr, "/healthz").is_err());
    assert_eq!(get(&scraper, "/healthz").unwrap().0, 200);
}
