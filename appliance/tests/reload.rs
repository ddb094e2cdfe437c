//! SIGHUP to the real core, and `kryptonctl reload`: `[kmip.tls]` and `[[kmip.gateways]]` are
//! read again and applied without an unseal ceremony — a gateway removed is refused at its next
//! request on the connection it holds, a gateway added is served, the next handshake presents
//! the new certificate — and the core stays unsealed. A broken file, or one that adds or removes
//! `[kmip]`, changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../kmip/tests/net_support/mod.rs"]
mod net_support;
#[path = "../../kmip/tests/probe/mod.rs"]
mod probe;

use std::fs;

use common::Site;
use kmip::ResultReason;
use kmip::net::{Client, ClientTlsFiles, client_config};
use net_support::{Pki, SERVER_NAME, Subject, bounded, client_limits};
use nix::sys::signal::Signal;
use probe::{Answer, ask};

const RELOADED: &str = "configuration reloaded";
const REFUSED: &str = "configuration not reloaded";

async fn connect(address: &str, files: &ClientTlsFiles) -> Option<Client> {
    let tls = std::sync::Arc::new(client_config(files).unwrap());
    bounded(Client::connect(address, SERVER_NAME, tls, &client_limits()))
        .await
        .ok()
}

async fn ask_anew(address: &str, files: &ClientTlsFiles) -> Answer {
    match connect(address, files).await {
        Some(mut client) => ask(&mut client).await,
        None => Answer::Unanswered,
    }
}

/// Gateway `name`'s files, trusting `server_ca` for the core.
fn gateway(pki: &Pki, name: &str, server_ca: &std::path::Path) -> ClientTlsFiles {
    ClientTlsFiles {
        server_ca: server_ca.to_owned(),
        ..pki.client(name, &Subject::common_name(name))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_tls_and_gateways_and_the_core_stays_unsealed() {
    let pki = Pki::new();
    // The certificate the core presents after the reload, from a CA no gateway trusted so far.
    let other = Pki::new();
    let address = krypton_dev::process::free_loopback_addr()
        .unwrap()
        .to_string();
    let kmip = format!(
        "\n[kmip]\nlisten = {address:?}\nidentity_source = \"common_name\"\n\
         [kmip.tls]\ncert_chain = {cert:?}\nprivate_key = {key:?}\nclient_ca = {ca:?}\n\
         [[kmip.gateways]]\nidentity = \"gw-1\"\ntenants = [\"acme\"]\n",
        cert = pki.server.cert_chain,
        key = pki.server.private_key,
        ca = pki.server.client_ca,
    );
    let site = Site::with_config(&kmip);
    let mut core = site.start();
    let shares = site.init(3, 2);
    site.unseal(&[&shares[0], &shares[1]]);

    let old_ca = pki.ca_file.clone();
    let mut gw_1 = connect(&address, &gateway(&pki, "gw-1", &old_ca))
        .await
        .unwrap();
    assert_eq!(ask(&mut gw_1).await, Answer::Served);
    assert_eq!(
        ask_anew(&address, &gateway(&pki, "gw-2", &old_ca)).await,
        Answer::Refused(ResultReason::AuthenticationNotSuccessful)
    );

    // gw-1 leaves, gw-2 arrives, and the core gets a certificate of the other CA.
    let first = fs::read_to_string(&site.config).unwrap();
    let second = first
        .replace(
            &format!("{:?}", pki.server.cert_chain),
            &format!("{:?}", other.server.cert_chain),
        )
        .replace(
            &format!("{:?}", pki.server.private_key),
            &format!("{:?}", other.server.private_key),
        )
        .replace("identity = \"gw-1\"", "identity = \"gw-2\"");
    assert_ne!(second, first);
    fs::write(&site.config, &second).unwrap();
    core.signal(Signal::SIGHUP);
    core.wait_for_log(RELOADED, 1);

    assert_eq!(site.state(), "unsealed");
    assert_eq!(
        ask(&mut gw_1).await,
        Answer::Refused(ResultReason::PermissionDenied)
    );
    let new_ca = other.ca_file.clone();
    assert_eq!(
        ask_anew(&address, &gateway(&pki, "gw-2", &new_ca)).await,
        Answer::Served
    );
    assert_eq!(
        ask_anew(&address, &gateway(&pki, "gw-2", &old_ca)).await,
        Answer::Unanswered,
        "the old certificate is no longer presented"
    );

    // Broken: not TOML; a gateway added but the TLS key missing; [kmip] removed.
    let gw_3 = "[[kmip.gateways]]\nidentity = \"gw-3\"\ntenants = [\"acme\"]\n";
    let missing_key = format!("{second}{gw_3}").replace(
        &format!("{:?}", other.server.private_key),
        &format!("{:?}", other.path("absent.key")),
    );
    let without_kmip = first.split("\n[kmip]").next().unwrap().to_owned();
    for (times, broken) in [(1, "data_dir = ["), (2, &missing_key), (3, &without_kmip)] {
        fs::write(&site.config, broken).unwrap();
        core.signal(Signal::SIGHUP);
        core.wait_for_log(REFUSED, times);
        assert!(core.is_running(), "{}", core.log());
        assert_eq!(site.state(), "unsealed");
        assert_eq!(
            ask_anew(&address, &gateway(&pki, "gw-2", &new_ca)).await,
            Answer::Served
        );
        assert_eq!(
            ask_anew(&address, &gateway(&pki, "gw-3", &new_ca)).await,
            Answer::Refused(ResultReason::AuthenticationNotSuccessful)
        );
    }
    assert!(core.log().contains("takes a restart"), "{}", core.log());
    assert_eq!(core.log().matches(RELOADED).count(), 1);

    // kryptonctl reload does the same, and tells the operator what is wrong.
    let refused = site.ctl(&["reload"]).fails_with(14);
    assert!(
        refused.stderr().contains("takes a restart"),
        "{}",
        refused.stderr()
    );
    fs::write(&site.config, format!("{second}{gw_3}")).unwrap();
    let reloaded = site.ctl(&["--json", "reload"]).success().json();
    assert_eq!(reloaded["reloaded"], true);
    assert_eq!(
        ask_anew(&address, &gateway(&pki, "gw-3", &new_ca)).await,
        Answer::Served
    );
    assert_eq!(site.state(), "unsealed");
    assert_eq!(reloaded["restart_only_changes"], serde_json::json!([]));

    // A setting a reload does not apply is named; the core runs on as it started.
    let elsewhere = krypton_dev::process::free_loopback_addr()
        .unwrap()
        .to_string();
    let moved = format!("{second}{gw_3}[unseal]\nprogress_timeout_secs = 60\n")
        .replace(&address, &elsewhere);
    fs::write(&site.config, moved).unwrap();
    let reloaded = site.ctl(&["--json", "reload"]).success().json();
    assert_eq!(
        reloaded["restart_only_changes"],
        serde_json::json!(["[unseal]", "[kmip] listen"])
    );
    let text = site.ctl(&["reload"]).success();
    assert!(
        text.stdout()
            .contains("not applied until a restart: [unseal], [kmip] listen"),
        "{}",
        text.stdout()
    );
    assert!(
        core.log().contains("a reload does not apply"),
        "{}",
        core.log()
    );
    assert_eq!(
        ask_anew(&address, &gateway(&pki, "gw-3", &new_ca)).await,
        Answer::Served
    );
    drop(gw_1);
    core.stop();
}
