//! The KMIP server over real TLS sockets on loopback: who gets in, framing of slow and broken
//! input, every limit, and graceful shutdown.
#![allow(clippy::unwrap_used)]

mod net_support;

use std::num::NonZeroUsize;
use std::time::Duration;

use kmip::net::{Client, IdentitySource, NetError, ServerLimits};
use kmip::{Limits, ResultReason};
use net_support::{
    Echo, Gate, Pki, Running, SERVER_NAME, Subject, UNKNOWN, assert_closed, bounded, client_limits,
    echoed, raw_connect, read_failure, read_message, request, request_bytes, test_limits,
    tls_client, tls_client_default, tls_client_without_certificate,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn connect(server: &Running, pki: &Pki, name: &str) -> Result<Client, NetError> {
    let files = pki.client(name, &Subject::common_name(name));
    Client::connect(
        &server.addr_string(),
        SERVER_NAME,
        tls_client_default(&files),
        &client_limits(),
    )
    .await
}

/// Sends a request and checks the echo.
async fn round_trip(client: &mut Client, name: &str) {
    let response = bounded(client.call(&request())).await.unwrap();
    assert_eq!(echoed(&response), (name.to_owned(), request()));
}

#[tokio::test]
async fn a_client_without_certificate_is_refused_while_another_is_served() {
    let pki = Pki::new();
    let server = Running::start(&pki, IdentitySource::CommonName, test_limits(), Echo);
    let mut good = connect(&server, &pki, "good").await.unwrap();
    round_trip(&mut good, "good").await;

    let files = pki.client("unused", &Subject::common_name("unused"));
    // With TLS 1.3 the client finishes its side of the handshake before the server has judged
    // its (empty) certificate, so the refusal may only show on the first read.
    if let Ok(mut anonymous) =
        raw_connect(server.addr, tls_client_without_certificate(&files)).await
    {
        let _ = anonymous.write_all(&request_bytes()).await;
        assert_closed(&mut anonymous).await;
    }

    round_trip(&mut good, "good").await;
    server.stop().await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let server = Running::start(&pki, IdentitySource::CommonName, test_limits(), Echo);
    let other_pki = Pki::new();
    let stranger = other_pki.client("stranger", &Subject::common_name("stranger"));
    let files = kmip::net::ClientTlsFiles {
        server_ca: pki.ca_file.clone(),
        ..stranger
    };
    if let Ok(mut refused) = raw_connect(server.addr, tls_client_default(&files)).await {
        let _ = refused.write_all(&request_bytes()).await;
        assert_closed(&mut refused).await;
    }

    let mut good = connect(&server, &pki, "good").await.unwrap();
    round_trip(&mut good, "good").await;
    server.stop().await;
}

#[tokio::test]
async fn tls_1_2_only_and_tls_1_3_only_clients_are_both_served() {
    let pki = Pki::new();
    let server = Running::start(&pki, IdentitySource::CommonName, test_limits(), Echo);
    let files = pki.client("app", &Subject::common_name("app"));
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let tls = tls_client(&files, &[version]);
        let mut stream = raw_connect(server.addr, tls).await.unwrap();
        assert_eq!(stream.get_ref().1.protocol_version(), Some(version.version));
        stream.write_all(&request_bytes()).await.unwrap();
        let response = read_message(&mut stream).await.unwrap().unwrap();
        assert_eq!(echoed(&response), ("app".to_owned(), request()));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_message_written_one_byte_at_a_time_is_answered() {
    let pki = Pki::new();
    let server = Running::start(&pki, IdentitySource::CommonName, test_limits(), Echo);
    let files = pki.client("slow", &Subject::common_name("slow"));
    let mut stream = raw_connect(server.addr, tls_client_default(&files))
        .await
        .unwrap();
    for byte in request_bytes() {
        stream.write_all(&[byte]).await.unwrap();
        stream.flush().await.unwrap();
        tokio::task::yield_now().await;
    }
    let response = read_message(&mut stream).await.unwrap().unwrap();
    assert_eq!(echoed(&response), ("slow".to_owned(), request()));
    server.stop().await;
}

#[tokio::test]
async fn an_oversize_header_is_answered_without_reading_the_body() {
    let pki = Pki::new();
    let limits = ServerLimits {
        codec: Limits {
            max_message_len: 4096,
            ..Limits::default()
        },
        ..test_limits()
    };
    let server = Running::start(&pki, IdentitySource::CommonName, limits, Echo);
    let files = pki.client("big", &Subject::common_name("big"));
    let mut stream = raw_connect(server.addr, tls_client_default(&files))
        .await
        .unwrap();
    // A Request Message header announcing 1 GiB; the body is never sent.
    stream
        .write_all(&[0x42, 0x00, 0x78, 0x01, 0x40, 0x00, 0x00, 0x00])
        .await
        .unwrap();
    let (reason, message) = read_failure(&mut stream).await;
    assert_eq!(reason, ResultReason::InvalidMessage);
    assert!(
        message.contains("exceeds the limit of 4096 bytes"),
        "{message}"
    );
    assert_closed(&mut stream).await;
    server.stop().await;
}

#[tokio::test]
async fn garbage_is_answered_with_invalid_message_then_closed() {
    let pki = Pki::new();
    let server = Running::start(&pki, IdentitySource::CommonName, test_limits(), Echo);
    let files = pki.client("confused", &Subject::common_name("confused"));
    let mut stream = raw_connect(server.addr, tls_client_default(&files))
        .await
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: kmip\r\n\r\n")
        .await
        .unwrap();
    let (reason, message) = read_failure(&mut stream).await;
    assert_eq!(reason, ResultReason::InvalidMessage);
    assert!(message.contains("unknown item type"), "{message}");
    assert_closed(&mut stream).await;
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_half_message_is_dropped_while_others_are_served() {
    let pki = Pki::new();
    let limits = ServerLimits {
        read_timeout: Duration::from_millis(300),
        ..test_limits()
    };
    let server = Running::start(&pki, IdentitySource::CommonName, limits, Echo);
    let files = pki.client("stalling", &Subject::common_name("stalling"));
    let mut stalled = raw_connect(server.addr, tls_client_default(&files))
        .await
        .unwrap();
    let bytes = request_bytes();
    stalled.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
    stalled.flush().await.unwrap();

    let mut good = connect(&server, &pki, "good").await.unwrap();
    round_trip(&mut good, "good").await;

    assert_closed(&mut stalled).await;
    round_trip(&mut good, "good").await;
    server.stop().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let pki = Pki::new();
    let limits = ServerLimits {
        idle_timeout: Duration::from_millis(200),
        ..test_limits()
    };
    let server = Running::start(&pki, IdentitySource::CommonName, limits, Echo);
    let files = pki.client("idle", &Subject::common_name("idle"));
    let mut stream = raw_connect(server.addr, tls_client_default(&files))
        .await
        .unwrap();
    stream.write_all(&request_bytes()).await.unwrap();
    assert!(read_message(&mut stream).await.unwrap().is_some());
    assert_closed(&mut stream).await;
    server.stop().await;
}

#[tokio::test]
async fn a_silent_connection_does_not_hold_up_the_others() {
    let pki = Pki::new();
    let limits = ServerLimits {
        handshake_timeout: Duration::from_millis(300),
        ..test_limits()
    };
    let server = Running::start(&pki, IdentitySource::CommonName, limits, Echo);
    // TCP only: no ClientHello ever comes.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();

    let mut good = connect(&server, &pki, "good").await.unwrap();
    round_trip(&mut good, "good").await;

    let mut buf = [0u8; 1];
    let read = bounded(tokio::io::AsyncReadExt::read(&mut silent, &mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_flood_of_silent_connections_from_one_address_does_not_keep_a_client_out() {
    let pki = Pki::new();
    let limits = ServerLimits {
        max_handshakes: NonZeroUsize::new(64).unwrap(),
        max_handshakes_per_address: NonZeroUsize::new(16).unwrap(),
        // As many wait for a place in the stage, at most.
        max_connections_per_address: NonZeroUsize::new(16).unwrap(),
        // Long enough that no silent connection leaves by timing out: only eviction helps.
        handshake_timeout: Duration::from_secs(60),
        ..test_limits()
    };
    let server = Running::start(&pki, IdentitySource::CommonName, limits, Echo);
    // TCP only, from the client's own address: no ClientHello ever comes.
    let mut silent = Vec::new();
    for _ in 0..500 {
        silent.push(bounded(TcpStream::connect(server.addr)).await.unwrap());
    }
    for round in 0..5 {
        let mut client = bounded(connect(&server, &pki, "app")).await.unwrap();
        round_trip(&mut client, "app").await;
        // A second flood between the rounds: it pushes out only silent connections.
        for _ in 0..50 * round {
            silent.push(bounded(TcpStream::connect(server.addr)).await.unwrap());
        }
    }
    // The server closed the silent connections it pushed out: all but the newest few, in the
    // stage (16) and waiting for a place in it (as many).
    let mut closed = 0;
    for connection in &mut silent {
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(
            Duration::from_millis(20),
            tokio::io::AsyncReadExt::read(connection, &mut buf),
        )
        .await;
        if matches!(read, Ok(Ok(0) | Err(_))) {
            closed += 1;
        }
    }
    assert!(
        closed >= silent.len() - 32,
        "{closed} of {} closed",
        silent.len()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_burst_of_clients_from_one_address_beyond_the_handshake_stage_is_served_whole() {
    let pki = Pki::new();
    let limits = ServerLimits {
        max_handshakes: NonZeroUsize::new(8).unwrap(),
        max_handshakes_per_address: NonZeroUsize::new(4).unwrap(),
        ..test_limits()
    };
    let server = Running::start(&pki, IdentitySource::CommonName, limits, Echo);
    let tls = tls_client_default(&pki.client("app", &Subject::common_name("app")));
    // Forty handshakes at once, ten times the address's share of the stage, as an application
    // opening its whole pool does: each waits for a place, none pushes another out.
    let clients: Vec<_> = (0..40)
        .map(|_| {
            let (address, tls) = (server.addr_string(), tls.clone());
            tokio::spawn(async move {
                let mut client =
                    Client::connect(&address, SERVER_NAME, tls, &client_limits()).await?;
                client.call(&request()).await
            })
        })
        .collect();
    for client in clients {
        let response = bounded(client).await.unwrap().unwrap();
        assert_eq!(echoed(&response), ("app".to_owned(), request()));
    }
    server.stop().await;
}

#[tokio::test]
async fn an_identity_the_service_does_not_serve_is_told_and_closed() {
    let pki = Pki::new();
    let limits = ServerLimits {
        max_connections: NonZeroUsize::new(1).unwrap(),
        ..test_limits()
    };
    let server = Running::start(&pki, IdentitySource::CommonName, limits, Echo);
    let mut unknown = connect(&server, &pki, UNKNOWN).await.unwrap();
    let failure = bounded(unknown.call(&request())).await.unwrap();
    let response = kmip::ResponseMessage::from_item(&failure).unwrap();
    let [item] = response.batch_items.as_slice() else {
        panic!("one batch item expected: {response:?}");
    };
    assert_eq!(
        item.result_reason,
        Some(ResultReason::AuthenticationNotSuccessful)
    );
    let message = item.result_message.clone().unwrap();
    assert!(
        message.contains("is not configured on this server"),
        "{message}"
    );
    let after = bounded(unknown.call(&request())).await;
    assert!(after.is_err(), "{after:?}");
    // It never held the one serving place: a served client gets in at once.
    let mut known = connect(&server, &pki, "app").await.unwrap();
    round_trip(&mut known, "app").await;
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_refused_and_the_first_ones_still_work() {
    let pki = Pki::new();
    let limits = ServerLimits {
        max_connections: NonZeroUsize::new(2).unwrap(),
        ..test_limits()
    };
    let server = Running::start(&pki, IdentitySource::CommonName, limits, Echo);
    let mut first = connect(&server, &pki, "first").await.unwrap();
    let mut second = connect(&server, &pki, "second").await.unwrap();
    round_trip(&mut first, "first").await;
    round_trip(&mut second, "second").await;

    let refused = connect(&server, &pki, "third").await;
    assert!(
        matches!(refused, Err(NetError::Handshake { .. })),
        "{refused:?}"
    );
    round_trip(&mut first, "first").await;
    round_trip(&mut second, "second").await;

    // Once a connection leaves, its slot is free again (the server notices soon, not at once).
    drop(first);
    let mut third = bounded(async {
        loop {
            if let Ok(client) = connect(&server, &pki, "third").await {
                break client;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    round_trip(&mut third, "third").await;
    server.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_and_closes_the_rest() {
    let pki = Pki::new();
    let (gate, mut control) = Gate::new();
    let mut server = Running::start(&pki, IdentitySource::CommonName, test_limits(), gate);
    let mut busy = connect(&server, &pki, "busy").await.unwrap();
    let files = pki.client("idle", &Subject::common_name("idle"));
    let mut idle = raw_connect(server.addr, tls_client_default(&files))
        .await
        .unwrap();
    idle.write_all(&request_bytes()).await.unwrap();
    control.open_once();
    assert!(read_message(&mut idle).await.unwrap().is_some());
    bounded(control.started.recv()).await.unwrap();

    let in_flight = tokio::spawn(async move { busy.call(&request()).await });
    bounded(control.started.recv()).await.unwrap();
    server.request_stop();
    // The connection between requests closes at once, while the other's request is still held.
    assert_closed(&mut idle).await;
    control.open_once();

    let response = bounded(in_flight).await.unwrap().unwrap();
    assert_eq!(echoed(&response), ("busy".to_owned(), request()));
    let addr = server.addr_string();
    server.stopped().await;

    let files = pki.client("late", &Subject::common_name("late"));
    let late = Client::connect(
        &addr,
        SERVER_NAME,
        tls_client_default(&files),
        &client_limits(),
    )
    .await;
    assert!(matches!(late, Err(NetError::Connect { .. })), "{late:?}");
}
