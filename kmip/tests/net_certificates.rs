//! Certificates: the peer identity read from each source over real TLS connections, the errors
//! that name what a certificate lacks, and TLS configuration errors that name the file at fault.
#![allow(clippy::unwrap_used)]

mod net_support;

use std::sync::Arc;
use std::time::Duration;

use kmip::net::{
    Client, ClientTlsFiles, IdentitySource, NetError, PeerIdentity, TlsFiles, TlsSource,
    client_config, server_config,
};
use kmip::{ProtocolVersion, ResponseMessage, ResultReason};
use net_support::{
    Echo, Pki, Running, SERVER_NAME, Subject, bounded, client_limits, echoed, request, test_limits,
    tls_client_default,
};

/// The identity an [`Echo`] server configured with `source` sees for a client with `subject`.
async fn identity_seen(source: IdentitySource, subject: &Subject<'_>) -> Result<String, String> {
    let pki = Pki::new();
    let server = Running::start(&pki, source, test_limits(), Echo);
    let files = pki.client("client", subject);
    let mut client = Client::connect(
        &server.addr_string(),
        SERVER_NAME,
        tls_client_default(&files),
        &client_limits(),
    )
    .await
    .unwrap();
    let response = bounded(client.call(&request())).await.unwrap();
    server.stop().await;
    match ResponseMessage::from_item(&response) {
        // The transport's own refusal.
        Ok(refusal) => {
            let item = &refusal.batch_items[0];
            assert_eq!(
                item.result_reason,
                Some(ResultReason::AuthenticationNotSuccessful)
            );
            // Answered in the version of the request.
            assert_eq!(refusal.header.protocol_version, ProtocolVersion::V1_2);
            Err(item.result_message.clone().unwrap())
        }
        Err(_) => Ok(echoed(&response).0),
    }
}

#[tokio::test]
async fn identity_from_the_common_name_of_a_certificate_without_san_or_eku() {
    let subject = Subject::common_name("legacy-app");
    let seen = identity_seen(IdentitySource::CommonName, &subject).await;
    assert_eq!(seen.unwrap(), "legacy-app");
}

#[tokio::test]
async fn identity_from_a_dns_subject_alternative_name() {
    let subject = Subject {
        common_name: Some("ignored"),
        dns: &["db1.example.com"],
        client_auth_eku: true,
        ..Subject::default()
    };
    let seen = identity_seen(IdentitySource::SanDns, &subject).await;
    assert_eq!(seen.unwrap(), "db1.example.com");
}

#[tokio::test]
async fn identity_from_a_spiffe_id() {
    let subject = Subject {
        uris: &["spiffe://bank.example/ns/payments/sa/api"],
        dns: &["api.payments.svc"],
        client_auth_eku: true,
        ..Subject::default()
    };
    let seen = identity_seen(IdentitySource::SanUri, &subject).await;
    assert_eq!(seen.unwrap(), "spiffe://bank.example/ns/payments/sa/api");
}

#[tokio::test]
async fn a_client_without_the_configured_identity_is_told_which_one_is_missing() {
    let subject = Subject {
        common_name: Some("has-a-cn"),
        dns: &["has-dns.example.com"],
        ..Subject::default()
    };
    let message = identity_seen(IdentitySource::SanUri, &subject)
        .await
        .unwrap_err();
    assert_eq!(
        message,
        "client certificate has no URI subject alternative name"
    );
}

#[test]
fn each_missing_source_is_named() {
    let pki = Pki::new();
    let bare = pki.client_certificate(&Subject::default());
    for (source, named) in [
        (IdentitySource::CommonName, "subject common name (CN)"),
        (IdentitySource::SanDns, "DNS subject alternative name"),
        (IdentitySource::SanUri, "URI subject alternative name"),
    ] {
        let error = PeerIdentity::from_certificate(&bare, source).unwrap_err();
        assert!(matches!(error, NetError::IdentityMissing(s) if s == source));
        assert_eq!(
            error.to_string(),
            format!("client certificate has no {named}")
        );
    }
}

#[test]
fn several_values_of_the_source_are_ambiguous() {
    let pki = Pki::new();
    let certificate = pki.client_certificate(&Subject {
        dns: &["a.example.com", "b.example.com"],
        ..Subject::default()
    });
    let error = PeerIdentity::from_certificate(&certificate, IdentitySource::SanDns).unwrap_err();
    assert!(
        matches!(
            error,
            NetError::IdentityAmbiguous {
                from: IdentitySource::SanDns,
                count: 2
            }
        ),
        "{error:?}"
    );
}

#[test]
fn names_that_would_mislead_a_log_or_a_lookup_are_refused() {
    let pki = Pki::new();
    for (name, reason) in [
        ("admin ", "it has leading or trailing whitespace"),
        ("adm\nin", "it contains control characters"),
    ] {
        let certificate = pki.client_certificate(&Subject::common_name(name));
        let error =
            PeerIdentity::from_certificate(&certificate, IdentitySource::CommonName).unwrap_err();
        assert!(
            matches!(error, NetError::IdentityInvalid { reason: r, .. } if r == reason),
            "{error:?}"
        );
    }
}

#[test]
fn a_valid_identity_knows_its_source() {
    let pki = Pki::new();
    let certificate = pki.client_certificate(&Subject::common_name("app-7"));
    let peer = PeerIdentity::from_certificate(&certificate, IdentitySource::CommonName).unwrap();
    assert_eq!(peer.name(), "app-7");
    assert_eq!(peer.source(), IdentitySource::CommonName);
    assert_eq!(peer.to_string(), "app-7");
}

#[test]
fn identity_sources_are_configured_by_snake_case_name() {
    #[derive(serde::Deserialize)]
    struct Config {
        identity: IdentitySource,
    }
    let config: Config = toml::from_str("identity = \"san_uri\"").unwrap();
    assert_eq!(config.identity, IdentitySource::SanUri);
    assert!(toml::from_str::<Config>("identity = \"SanUri\"").is_err());
}

#[test]
fn the_generated_files_make_valid_configurations() {
    let pki = Pki::new();
    server_config(&pki.server).unwrap();
    client_config(&pki.client("app", &Subject::common_name("app"))).unwrap();
}

#[test]
fn a_missing_file_is_named() {
    let pki = Pki::new();
    let missing = pki.path("nowhere.pem");
    let files = TlsFiles {
        client_ca: missing.clone(),
        ..pki.server.clone()
    };
    let error = server_config(&files).unwrap_err();
    assert!(
        matches!(&error, NetError::ReadFile { path, .. } if *path == missing),
        "{error:?}"
    );
    assert!(error.to_string().contains("nowhere.pem"));
}

#[test]
fn a_key_file_given_as_certificate_chain_is_named() {
    let pki = Pki::new();
    let files = TlsFiles {
        cert_chain: pki.server.private_key.clone(),
        ..pki.server.clone()
    };
    let error = server_config(&files).unwrap_err();
    assert!(
        matches!(&error, NetError::NoPemItem { path, .. } if *path == pki.server.private_key),
        "{error:?}"
    );
}

#[test]
fn a_certificate_given_as_key_is_named() {
    let pki = Pki::new();
    let files = ClientTlsFiles {
        private_key: pki.ca_file.clone(),
        ..pki.client("app", &Subject::common_name("app"))
    };
    let error = client_config(&files).unwrap_err();
    assert!(
        matches!(&error, NetError::NoPemItem { path, expected } if *path == pki.ca_file && expected.contains("private key")),
        "{error:?}"
    );
}

#[test]
fn a_key_of_another_certificate_is_refused_naming_both_files() {
    let pki = Pki::new();
    let other = pki.client("other", &Subject::common_name("other"));
    let files = TlsFiles {
        private_key: other.private_key.clone(),
        ..pki.server.clone()
    };
    let error = server_config(&files).unwrap_err();
    assert!(
        matches!(&error, NetError::KeyMismatch { cert_chain, private_key, .. }
            if *cert_chain == pki.server.cert_chain && *private_key == other.private_key),
        "{error:?}"
    );
}

#[test]
fn broken_pem_is_named() {
    let pki = Pki::new();
    let broken = pki.path("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n!!! not base64 !!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let files = TlsFiles {
        client_ca: broken.clone(),
        ..pki.server.clone()
    };
    let error = server_config(&files).unwrap_err();
    assert!(
        matches!(&error, NetError::Pem { path, .. } if *path == broken),
        "{error:?}"
    );
}

/// Connects as the client of `files` and makes one round trip; an error if the server refused
/// the certificate (at the handshake, or by closing before the first answer).
async fn try_round_trip(server: &Running, files: &ClientTlsFiles) -> Result<(), NetError> {
    let mut client = Client::connect(
        &server.addr_string(),
        SERVER_NAME,
        tls_client_default(files),
        &client_limits(),
    )
    .await?;
    client.call(&request()).await.map(drop)
}

#[tokio::test]
async fn a_certificate_added_to_the_crl_is_refused_at_its_next_connection() {
    let pki = Pki::new();
    let crl = pki.path("clients.crl.pem");
    pki.write_crl(&crl, 1, &[]);
    let kept = pki.client_with_serial("kept", "kept", 100);
    let stolen = pki.client_with_serial("stolen", "stolen", 200);
    let files = TlsFiles {
        client_crls: vec![crl.clone()],
        ..pki.server.clone()
    };
    let server = Running::start_with(files, IdentitySource::CommonName, test_limits(), Echo);
    bounded(try_round_trip(&server, &kept)).await.unwrap();
    bounded(try_round_trip(&server, &stolen)).await.unwrap();

    // The operator revokes one certificate: no restart, and within a bounded wait (the CRL
    // file is looked at again at most once a second) it no longer gets in.
    pki.write_crl(&crl, 2, &[200]);
    bounded(async {
        while try_round_trip(&server, &stolen).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    bounded(try_round_trip(&server, &kept)).await.unwrap();

    // A CRL file damaged later leaves the last good list in force.
    std::fs::write(&crl, "-----BEGIN X509 CRL-----\nnot base64\n").unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(bounded(try_round_trip(&server, &stolen)).await.is_err());
    bounded(try_round_trip(&server, &kept)).await.unwrap();
    server.stop().await;
}

#[test]
fn a_crl_file_that_does_not_parse_stops_the_server_configuration() {
    let pki = Pki::new();
    let crl = pki.path("broken.crl.pem");
    std::fs::write(&crl, "no PEM here\n").unwrap();
    let files = TlsFiles {
        client_crls: vec![crl.clone()],
        ..pki.server.clone()
    };
    let error = server_config(&files).unwrap_err();
    assert!(
        matches!(&error, NetError::NoPemItem { path, .. } if *path == crl),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_replaced_tls_configuration_serves_new_connections_and_keeps_open_ones() {
    let (old, new) = (Pki::new(), Pki::new());
    let (source, reload) = TlsSource::reloadable(Arc::new(server_config(&old.server).unwrap()));
    let server = Running::start_from(source, IdentitySource::CommonName, test_limits(), Echo);
    async fn connect(server: &Running, pki: &Pki) -> Result<Client, NetError> {
        let files = pki.client("app", &Subject::common_name("app"));
        let mut client = Client::connect(
            &server.addr_string(),
            SERVER_NAME,
            tls_client_default(&files),
            &client_limits(),
        )
        .await?;
        client.call(&request()).await?;
        Ok(client)
    }
    let mut open = bounded(connect(&server, &old)).await.unwrap();
    assert!(bounded(connect(&server, &new)).await.is_err());

    // New server certificate and client CA: the next handshake uses them.
    reload.replace(Arc::new(server_config(&new.server).unwrap()));
    bounded(connect(&server, &new)).await.unwrap();
    assert!(bounded(connect(&server, &old)).await.is_err());
    // The connection made before keeps its session.
    bounded(open.call(&request())).await.unwrap();
    server.stop().await;
}
