//! SIGHUP to the real gateway binary: the configuration file is read again and checked whole.
//! A good file takes effect at once — an identity removed is refused on its next request even on
//! a connection already open, an identity added is served, and a new server certificate is what
//! the next handshake presents — while connections that stay entitled carry on untouched, and a
//! setting only a restart applies is named in the log. A broken file changes nothing: the
//! running configuration stays and the process keeps serving.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../kmip/tests/probe/mod.rs"]
mod probe;
mod process;

use std::fs;
use std::path::Path;

use common::{BOUND, MEMORY_VAULT, Pki, client_tls, core_section, dead_address, gateway_toml};
use kmip::ResultReason;
use kmip::net::{Client, ClientLimits, ClientTlsFiles};
use krypton_dev::process::free_loopback_addr;
use nix::sys::signal::Signal;
use probe::{Answer, ask};
use process::GatewayProcess;

const RELOADED: &str = "configuration reloaded";
const REFUSED: &str = "configuration not reloaded";

async fn connect(port: u16, files: &ClientTlsFiles) -> Option<Client> {
    tokio::time::timeout(
        BOUND,
        Client::connect(
            &format!("127.0.0.1:{port}"),
            "localhost",
            client_tls(files),
            &ClientLimits::default(),
        ),
    )
    .await
    .unwrap()
    .ok()
}

/// One Query on a new connection.
async fn ask_anew(port: u16, files: &ClientTlsFiles) -> Answer {
    match connect(port, files).await {
        Some(mut client) => ask(&mut client).await,
        None => Answer::Unanswered,
    }
}

/// `name`'s client files from `pki`, trusting `server_ca` for the gateway.
fn client(pki: &Pki, name: &str, server_ca: &Path) -> ClientTlsFiles {
    ClientTlsFiles {
        server_ca: server_ca.to_owned(),
        ..pki.client_files(name)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_a_good_configuration_at_once_and_keeps_the_running_one_over_a_broken_one() {
    let pki = Pki::new();
    // The certificate the gateway presents after the reload, from a CA the clients have not
    // trusted so far.
    let other = Pki::new();
    let port = free_loopback_addr().unwrap().port();
    let config = pki.dir().join("gateway.toml");
    let first = gateway_toml(
        &pki,
        &format!("127.0.0.1:{port}"),
        "",
        &core_section(&pki, &dead_address()),
        MEMORY_VAULT,
    );
    fs::write(&config, &first).unwrap();
    let mut gateway = GatewayProcess::spawn(
        GatewayProcess::command(&config),
        &pki.dir().join("gateway.log"),
    );
    gateway.wait_until_listening(port);

    let old_ca = pki.ca();
    let mut app_a = connect(port, &client(&pki, "app-a", &old_ca))
        .await
        .unwrap();
    let mut app_b = connect(port, &client(&pki, "app-b", &old_ca))
        .await
        .unwrap();
    assert_eq!(ask(&mut app_a).await, Answer::Served);
    assert_eq!(ask(&mut app_b).await, Answer::Served);
    assert_eq!(
        ask_anew(port, &client(&pki, "app-c", &old_ca)).await,
        Answer::Refused(ResultReason::AuthenticationNotSuccessful)
    );

    // app-b leaves, app-c arrives, and the gateway gets a certificate of the other CA.
    let server = other.server();
    let second = first
        .replace(
            &pki.dir().join("server.pem").display().to_string(),
            &server.cert.display().to_string(),
        )
        .replace(
            &pki.dir().join("server.key").display().to_string(),
            &server.key.display().to_string(),
        )
        .replace(
            "\"app-b\" = { tenant = \"acme\", service = \"orders\" }",
            "\"app-c\" = { tenant = \"acme\", service = \"orders\" }",
        )
        // Not applied by a reload: said in the log.
        .replace("[limits]\n", "[limits]\nmax_connections = 77\n");
    assert_ne!(second, first);
    fs::write(&config, &second).unwrap();
    gateway.signal(Signal::SIGHUP);
    gateway.wait_for_log(RELOADED, 1);
    gateway.wait_for_log("take a restart", 1);
    assert!(
        gateway.log().contains("changed=[limits]"),
        "{}",
        gateway.log()
    );

    // Open connections keep the TLS session they made; what they may do is decided per request.
    assert_eq!(ask(&mut app_a).await, Answer::Served);
    assert_eq!(
        ask(&mut app_b).await,
        Answer::Refused(ResultReason::PermissionDenied)
    );
    let new_ca = other.ca();
    assert_eq!(
        ask_anew(port, &client(&pki, "app-c", &new_ca)).await,
        Answer::Served
    );
    assert_eq!(
        ask_anew(port, &client(&pki, "app-b", &new_ca)).await,
        Answer::Refused(ResultReason::AuthenticationNotSuccessful)
    );
    // A client still trusting the old CA no longer accepts the gateway's certificate.
    assert_eq!(
        ask_anew(port, &client(&pki, "app-a", &old_ca)).await,
        Answer::Unanswered
    );

    // Broken files: one that is not TOML, and one whose TLS key is missing but whose identities
    // would admit app-d. Neither changes anything.
    let app_d = "\"app-d\" = { tenant = \"acme\", service = \"ledger\" }\n";
    let missing_key = format!("{second}{app_d}").replace(
        &server.key.display().to_string(),
        &other.dir().join("absent.key").display().to_string(),
    );
    for (broken, times) in [("listen = [", 1), (missing_key.as_str(), 2)] {
        fs::write(&config, broken).unwrap();
        gateway.signal(Signal::SIGHUP);
        gateway.wait_for_log(REFUSED, times);
        assert!(!gateway.exited(), "{}", gateway.log());
        assert_eq!(ask(&mut app_a).await, Answer::Served);
        assert_eq!(
            ask_anew(port, &client(&pki, "app-c", &new_ca)).await,
            Answer::Served
        );
        assert_eq!(
            ask_anew(port, &client(&pki, "app-d", &new_ca)).await,
            Answer::Refused(ResultReason::AuthenticationNotSuccessful)
        );
    }
    assert_eq!(gateway.log().matches(RELOADED).count(), 1);

    drop(app_a);
    drop(app_b);
    let status = gateway.terminate();
    assert!(status.success(), "{status}");
}
