//! The KMIP client and its pool against real servers on loopback: timeouts that poison, a
//! server that is down, a server that restarts.
#![allow(clippy::unwrap_used)]

mod net_support;

use std::io;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use kmip::net::{Client, ClientLimits, IdentitySource, NetError, Pool};
use net_support::{
    Echo, Gate, Pki, Running, SERVER_NAME, Subject, bounded, client_limits, echoed, request,
    test_limits, tls_client_default,
};
use tokio::net::TcpListener;

/// An address on which nothing listens.
async fn dead_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}

fn is_refused(error: &NetError) -> bool {
    matches!(error, NetError::Connect { source, .. } if source.kind() == io::ErrorKind::ConnectionRefused)
}

#[tokio::test]
async fn a_client_against_a_dead_port_fails_fast_with_a_typed_error() {
    let pki = Pki::new();
    let files = pki.client("app", &Subject::common_name("app"));
    let addr = dead_address().await;
    let error = bounded(Client::connect(
        &addr,
        SERVER_NAME,
        tls_client_default(&files),
        &client_limits(),
    ))
    .await
    .unwrap_err();
    assert!(is_refused(&error), "{error:?}");
    assert!(error.to_string().contains(&addr));

    let pool = Pool::new(
        &addr,
        SERVER_NAME,
        tls_client_default(&files),
        client_limits(),
    )
    .unwrap();
    let error = bounded(pool.call(&request())).await.unwrap_err();
    assert!(is_refused(&error), "{error:?}");
}

#[tokio::test]
async fn a_server_name_that_is_no_name_is_refused() {
    let pki = Pki::new();
    let files = pki.client("app", &Subject::common_name("app"));
    let error = Pool::new(
        "127.0.0.1:5696",
        "not a name!",
        tls_client_default(&files),
        client_limits(),
    )
    .unwrap_err();
    assert!(
        matches!(error, NetError::InvalidServerName { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_server_with_the_wrong_name_fails_the_handshake() {
    let pki = Pki::new();
    let server = Running::start(&pki, IdentitySource::CommonName, test_limits(), Echo);
    let files = pki.client("app", &Subject::common_name("app"));
    let error = Client::connect(
        &server.addr_string(),
        "kmip.other.example",
        tls_client_default(&files),
        &client_limits(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, NetError::Handshake { .. }), "{error:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_request_timeout_poisons_the_connection() {
    let pki = Pki::new();
    let (gate, mut control) = Gate::new();
    let server = Running::start(&pki, IdentitySource::CommonName, test_limits(), gate);
    let files = pki.client("app", &Subject::common_name("app"));
    let limits = ClientLimits {
        request_timeout: Duration::from_millis(200),
        ..client_limits()
    };
    let mut client = Client::connect(
        &server.addr_string(),
        SERVER_NAME,
        tls_client_default(&files),
        &limits,
    )
    .await
    .unwrap();
    let error = bounded(client.call(&request())).await.unwrap_err();
    assert!(
        matches!(error, NetError::RequestTimeout { .. }),
        "{error:?}"
    );
    bounded(control.started.recv()).await.unwrap();

    control.open_once();
    let error = bounded(client.call(&request())).await.unwrap_err();
    assert!(matches!(error, NetError::Poisoned), "{error:?}");
    assert!(!client.is_usable());
    server.stop().await;
}

#[tokio::test]
async fn the_pool_reuses_connections_and_serves_concurrent_callers() {
    let pki = Pki::new();
    let server = Running::start(&pki, IdentitySource::CommonName, test_limits(), Echo);
    let files = pki.client("gateway", &Subject::common_name("gateway"));
    let limits = ClientLimits {
        pool_size: NonZeroUsize::new(2).unwrap(),
        ..client_limits()
    };
    let pool = Arc::new(
        Pool::new(
            &server.addr_string(),
            SERVER_NAME,
            tls_client_default(&files),
            limits,
        )
        .unwrap(),
    );
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.call(&request()).await })
        })
        .collect();
    for caller in callers {
        let response = bounded(caller).await.unwrap().unwrap();
        assert_eq!(echoed(&response), ("gateway".to_owned(), request()));
    }
    server.stop().await;
}

#[tokio::test]
async fn the_pool_redials_after_the_server_restarts() {
    let pki = Pki::new();
    let server = Running::start(&pki, IdentitySource::CommonName, test_limits(), Echo);
    let addr = server.addr;
    let files = pki.client("gateway", &Subject::common_name("gateway"));
    let pool = Pool::new(
        &addr.to_string(),
        SERVER_NAME,
        tls_client_default(&files),
        client_limits(),
    )
    .unwrap();
    let response = bounded(pool.call(&request())).await.unwrap();
    assert_eq!(echoed(&response).0, "gateway");

    server.stop().await;
    let error = bounded(pool.call(&request())).await.unwrap_err();
    assert!(is_refused(&error), "{error:?}");

    let server = Running::start_at(&pki, addr, IdentitySource::CommonName, test_limits(), Echo);
    let response = bounded(pool.call(&request())).await.unwrap();
    assert_eq!(echoed(&response).0, "gateway");
    server.stop().await;
}
