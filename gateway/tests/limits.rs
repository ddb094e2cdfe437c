//! The gateway's limits and its answers to bad input, over real TLS sockets on loopback: a
//! gateway bound from its configuration file text (port 0, memory vault, core down), raw bytes
//! from the tests. Every limit here is set through the gateway's `[limits]` table, so these
//! tests also prove the configuration reaches the transport. Each test checks that a
//! well-behaved client is still served while the bad one is dealt with.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../kmip/tests/probe/mod.rs"]
mod probe;

use std::time::{Duration, Instant};

use common::{
    InProcess, MEMORY_VAULT, Pki, bounded, client_tls, core_section, dead_address, gateway_toml,
    raw_connect,
};
use kmip::net::{Client, ClientLimits, ClientTlsFiles};
use kmip::{FrameReader, Item, Limits, ResponseMessage, ResultReason, ResultStatus};
use probe::query;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Limits short enough for a test to watch them act.
const SHORT: &str = r#"
max_connections = 3
handshake_timeout = "1s"
idle_timeout = "1500ms"
read_timeout = "500ms"
write_timeout = "2s"
shutdown_grace = "1s"
[limits.codec]
max_message_len = 4096
max_depth = 16
"#;

/// A gateway with [`SHORT`] limits, its PKI, and the core down.
async fn gateway() -> (InProcess, Pki) {
    let pki = Pki::new();
    let toml = gateway_toml(
        &pki,
        "127.0.0.1:0",
        SHORT,
        &core_section(&pki, &dead_address()),
        MEMORY_VAULT,
    );
    (InProcess::start(&toml).await, pki)
}

fn query_bytes() -> Vec<u8> {
    let mut bytes = Vec::new();
    kmip::encode(&query(), &mut bytes).unwrap();
    bytes
}

/// A well-behaved client of `gateway`: `app-a` over the library's client.
async fn good_client(gateway: &InProcess, pki: &Pki) -> Client {
    connect(gateway, pki).await.unwrap()
}

async fn connect(gateway: &InProcess, pki: &Pki) -> Result<Client, kmip::net::NetError> {
    bounded(Client::connect(
        &gateway.addr.to_string(),
        "localhost",
        client_tls(&pki.client_files("app-a")),
        &ClientLimits::default(),
    ))
    .await
}

/// Asks Query and checks the gateway answered it.
async fn served(client: &mut Client) {
    let response = bounded(client.call(&query())).await.unwrap();
    let response = ResponseMessage::from_item(&response).unwrap();
    assert_eq!(
        response.batch_items[0].result_status,
        ResultStatus::Success,
        "{response:?}"
    );
}

async fn raw(gateway: &InProcess, pki: &Pki) -> TlsStream<TcpStream> {
    bounded(raw_connect(
        gateway.addr,
        client_tls(&pki.client_files("app-a")),
    ))
    .await
    .unwrap()
}

async fn read_message(stream: &mut TlsStream<TcpStream>) -> Result<Option<Item>, kmip::Error> {
    bounded(FrameReader::new(Limits::default()).read_message(stream)).await
}

/// Reads a one-item KMIP error response; returns its reason and message.
async fn read_failure(stream: &mut TlsStream<TcpStream>) -> (ResultReason, String) {
    let item = read_message(stream).await.unwrap().unwrap();
    let response = ResponseMessage::from_item(&item).unwrap();
    let [result] = response.batch_items.as_slice() else {
        panic!("one batch item expected: {response:?}");
    };
    assert_eq!(result.result_status, ResultStatus::OperationFailed);
    (
        result.result_reason.unwrap(),
        result.result_message.clone().unwrap(),
    )
}

/// Asserts the gateway closes `stream` without sending another message.
async fn assert_closed(stream: &mut TlsStream<TcpStream>) {
    match read_message(stream).await {
        Ok(None) | Err(kmip::Error::Io(_)) => {}
        other => panic!("connection still open: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_answered_with_invalid_message_then_closed() {
    let (gateway, pki) = gateway().await;
    let mut good = good_client(&gateway, &pki).await;

    let mut confused = raw(&gateway, &pki).await;
    confused
        .write_all(b"GET / HTTP/1.1\r\nHost: kmip\r\n\r\n")
        .await
        .unwrap();
    let (reason, message) = read_failure(&mut confused).await;
    assert_eq!(reason, ResultReason::InvalidMessage);
    assert!(message.contains("unknown item type"), "{message}");
    assert_closed(&mut confused).await;

    // A client that sends half a message and hangs up costs nothing either.
    let mut quitter = raw(&gateway, &pki).await;
    let bytes = query_bytes();
    quitter.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
    drop(quitter);

    served(&mut good).await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_message_is_refused_from_its_header() {
    let (gateway, pki) = gateway().await;
    let mut big = raw(&gateway, &pki).await;
    // A Request Message header announcing 1 GiB; the body never comes.
    big.write_all(&[0x42, 0x00, 0x78, 0x01, 0x40, 0x00, 0x00, 0x00])
        .await
        .unwrap();
    let (reason, message) = read_failure(&mut big).await;
    assert_eq!(reason, ResultReason::InvalidMessage);
    assert!(
        message.contains("exceeds the limit of 4096 bytes"),
        "{message}"
    );
    assert_closed(&mut big).await;
    served(&mut good_client(&gateway, &pki).await).await;
    gateway.stop().await;
}

/// `depth` structures nested in one another, the outermost a Request Message.
fn nested(depth: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..depth {
        let mut outer = vec![0x42, 0x00, 0x78, 0x01];
        let len = u32::try_from(bytes.len()).unwrap();
        outer.extend_from_slice(&len.to_be_bytes());
        outer.extend_from_slice(&bytes);
        bytes = outer;
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_deeper_than_the_limit_is_refused() {
    let (gateway, pki) = gateway().await;
    let mut deep = raw(&gateway, &pki).await;
    deep.write_all(&nested(40)).await.unwrap();
    let (reason, _) = read_failure(&mut deep).await;
    assert_eq!(reason, ResultReason::InvalidMessage);
    assert_closed(&mut deep).await;
    served(&mut good_client(&gateway, &pki).await).await;
    gateway.stop().await;
}

/// A KMIP 1.4 request, byte by byte, of one batch item whose Operation is `code`, with an
/// empty payload.
fn one_item_of_operation(code: u32) -> Vec<u8> {
    let [c0, c1, c2, c3] = code.to_be_bytes();
    [
        &[0x42, 0x00, 0x78, 0x01, 0, 0, 0, 0x60][..], // Request Message, 96 bytes
        &[0x42, 0x00, 0x77, 0x01, 0, 0, 0, 0x38],     //   Request Header, 56 bytes
        &[0x42, 0x00, 0x69, 0x01, 0, 0, 0, 0x20],     //     Protocol Version, 32 bytes
        &[0x42, 0x00, 0x6A, 0x02, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0], // Major: 1
        &[0x42, 0x00, 0x6B, 0x02, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 0], // Minor: 4
        &[0x42, 0x00, 0x0D, 0x02, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0], //   Batch Count: 1
        &[0x42, 0x00, 0x0F, 0x01, 0, 0, 0, 0x18],     //   Batch Item, 24 bytes
        &[
            0x42, 0x00, 0x5C, 0x05, 0, 0, 0, 4, c0, c1, c2, c3, 0, 0, 0, 0,
        ], // Operation
        &[0x42, 0x00, 0x79, 0x01, 0, 0, 0, 0],        //     Request Payload, empty
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_kmip_does_not_define_is_refused_and_the_connection_kept() {
    let (gateway, pki) = gateway().await;
    let mut client = raw(&gateway, &pki).await;
    for code in [0x0000_00FF, 0x00AB_CDEF] {
        client
            .write_all(&one_item_of_operation(code))
            .await
            .unwrap();
        let (reason, message) = read_failure(&mut client).await;
        assert_eq!(reason, ResultReason::OperationNotSupported, "{message}");
        assert!(message.contains(&format!("0x{code:08X}")), "{message}");
        // The same connection is served on.
        client.write_all(&query_bytes()).await.unwrap();
        let response = read_message(&mut client).await.unwrap().unwrap();
        let response = ResponseMessage::from_item(&response).unwrap();
        assert_eq!(
            response.batch_items[0].result_status,
            ResultStatus::Success,
            "{response:?}"
        );
    }
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_half_message_is_dropped_after_the_read_timeout() {
    let (gateway, pki) = gateway().await;
    let mut stalled = raw(&gateway, &pki).await;
    let bytes = query_bytes();
    let began = Instant::now();
    stalled.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
    stalled.flush().await.unwrap();

    // Served while the other one stalls.
    let mut good = good_client(&gateway, &pki).await;
    served(&mut good).await;

    assert_closed(&mut stalled).await;
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_millis(450),
        "closed after {waited:?}, before the read timeout"
    );
    served(&mut good).await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let (gateway, pki) = gateway().await;
    let mut idle = good_client(&gateway, &pki).await;
    served(&mut idle).await;
    let mut silent = raw(&gateway, &pki).await;
    let began = Instant::now();
    assert_closed(&mut silent).await;
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_millis(1400),
        "closed after {waited:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!idle.is_usable(), "the idle client was closed as well");
    served(&mut good_client(&gateway, &pki).await).await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_starts_tls_is_dropped() {
    let (gateway, pki) = gateway().await;
    let mut mute = TcpStream::connect(gateway.addr).await.unwrap();
    served(&mut good_client(&gateway, &pki).await).await;
    let mut byte = [0u8; 1];
    let read = bounded(tokio::io::AsyncReadExt::read(&mut mute, &mut byte)).await;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the handshake timeout should close it: {read:?}"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_closed_and_the_others_keep_working() {
    let (gateway, pki) = gateway().await;
    let mut admitted = Vec::new();
    for _ in 0..3 {
        let mut client = good_client(&gateway, &pki).await;
        served(&mut client).await;
        admitted.push(client);
    }

    // The fourth is accepted and closed at once: its handshake or its first request fails.
    let extra = bounded(raw_connect(
        gateway.addr,
        client_tls(&pki.client_files("app-a")),
    ))
    .await;
    if let Ok(mut extra) = extra {
        let _ = extra.write_all(&query_bytes()).await;
        assert_closed(&mut extra).await;
    }

    for client in &mut admitted {
        served(client).await;
    }
    // A slot given back is a slot a new client gets. The gateway frees it only once it has read
    // the close, so until then a new client is still refused: at its handshake or its request.
    drop(admitted.pop());
    let mut next = None;
    for _ in 0..50 {
        if let Ok(mut client) = connect(&gateway, &pki).await
            && bounded(client.call(&query())).await.is_ok()
        {
            next = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(next.is_some(), "the freed slot was never given out again");
    gateway.stop().await;
}

/// A client TLS configuration that trusts the gateway but presents no certificate.
fn anonymous_tls(pki: &Pki) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::RootCertStore;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.ca()).unwrap())
        .unwrap();
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// Asserts that a client using `tls` does not get a request answered, whether the refusal
/// shows in the handshake or (TLS 1.3: the client finishes first) on the first read.
async fn assert_refused(gateway: &InProcess, tls: std::sync::Arc<rustls::ClientConfig>) {
    if let Ok(mut stream) = bounded(raw_connect(gateway.addr, tls)).await {
        let _ = stream.write_all(&query_bytes()).await;
        assert_closed(&mut stream).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_without_a_client_certificate_is_refused() {
    let (gateway, pki) = gateway().await;
    let mut good = good_client(&gateway, &pki).await;
    served(&mut good).await;
    assert_refused(&gateway, anonymous_tls(&pki)).await;
    served(&mut good).await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused() {
    let (gateway, pki) = gateway().await;
    let mut good = good_client(&gateway, &pki).await;
    served(&mut good).await;
    // Same identity, trusting the right server CA, but issued by a stranger.
    let stranger = Pki::new();
    let mut files = stranger.client_files("app-a");
    files.server_ca = pki.ca();
    assert_refused(&gateway, client_tls(&files)).await;
    served(&mut good).await;
    gateway.stop().await;
}

/// Connects with `files` and asks Query; an error if the gateway refused the certificate.
async fn query_as(gateway: &InProcess, files: &ClientTlsFiles) -> Result<(), kmip::net::NetError> {
    let mut client = Client::connect(
        &gateway.addr.to_string(),
        "localhost",
        client_tls(files),
        &ClientLimits::default(),
    )
    .await?;
    client.call(&query()).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_put_on_the_crl_is_refused_without_a_restart() {
    let pki = Pki::new();
    let crl = pki.dir().join("clients.crl.pem");
    pki.write_crl(&crl, 1, &[]);
    let toml = gateway_toml(
        &pki,
        "127.0.0.1:0",
        SHORT,
        &core_section(&pki, &dead_address()),
        MEMORY_VAULT,
    )
    .replace(
        "\n[limits]",
        &format!("client_crls = [\"{}\"]\n\n[limits]", crl.display()),
    );
    let gateway = InProcess::start(&toml).await;
    let kept = pki.client_files_with_serial("app-a", 100);
    let stolen = pki.client_files_with_serial("app-a", 200);
    bounded(query_as(&gateway, &kept)).await.unwrap();
    bounded(query_as(&gateway, &stolen)).await.unwrap();

    pki.write_crl(&crl, 2, &[200]);
    bounded(async {
        while query_as(&gateway, &stolen).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    bounded(query_as(&gateway, &kept)).await.unwrap();
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_the_gateway_does_not_map_is_refused_at_its_first_request() {
    let (gateway, pki) = gateway().await;
    let mut stranger = bounded(raw_connect(
        gateway.addr,
        client_tls(&pki.client_files("app-unmapped")),
    ))
    .await
    .unwrap();
    stranger.write_all(&query_bytes()).await.unwrap();
    let (reason, message) = read_failure(&mut stranger).await;
    assert_eq!(reason, ResultReason::AuthenticationNotSuccessful);
    assert!(
        message.contains("\"app-unmapped\" is not configured"),
        "{message}"
    );
    assert_closed(&mut stranger).await;
    served(&mut good_client(&gateway, &pki).await).await;
    gateway.stop().await;
}
