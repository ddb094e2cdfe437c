//! The systemd watchdog, with the real gateway binary and a stand-in for systemd's notify
//! socket: with `WATCHDOG_USEC` set, the gateway pings (`WATCHDOG=1`) at half the interval
//! from its own runtime; a process that stops running (SIGSTOP: as a wedged runtime looks from
//! outside) stops pinging, which is what makes systemd restart it; it pings again once it runs.
#![allow(clippy::unwrap_used)]

mod common;
mod process;

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::{MEMORY_VAULT, Pki, core_section, dead_address, gateway_toml};
use nix::sys::signal::Signal;
use process::GatewayProcess;

/// The watchdog interval given to the gateway: it pings every 100 ms.
const WATCHDOG: Duration = Duration::from_millis(200);

/// The datagrams that arrive on `socket` within `window`.
fn received(socket: &UnixDatagram, window: Duration) -> Vec<String> {
    let deadline = Instant::now() + window;
    let mut messages = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match socket.recv(&mut buf) {
            Ok(len) => messages.push(String::from_utf8_lossy(&buf[..len]).into_owned()),
            Err(_) => break,
        }
    }
    messages
}

/// Waits, at most 20 s, for the gateway to say it is ready.
fn wait_for_ready(socket: &UnixDatagram) {
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let len = socket.recv(&mut buf).expect("no READY=1 within 20 s");
        if String::from_utf8_lossy(&buf[..len])
            .lines()
            .any(|line| line == "READY=1")
        {
            return;
        }
    }
}

fn pings(messages: &[String]) -> usize {
    messages
        .iter()
        .filter(|message| message.lines().any(|line| line == "WATCHDOG=1"))
        .count()
}

#[test]
fn the_gateway_pings_the_watchdog_while_it_runs_and_not_while_stopped() {
    let pki = Pki::new();
    let config = pki.dir().join("gateway.toml");
    let toml = gateway_toml(
        &pki,
        "127.0.0.1:0",
        "",
        &core_section(&pki, &dead_address()),
        MEMORY_VAULT,
    );
    fs::write(&config, toml).unwrap();
    let socket_path = pki.dir().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let mut command = GatewayProcess::command(&config);
    command
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string());
    let gateway = GatewayProcess::spawn(command, &pki.dir().join("gateway.log"));

    // Ready first, then pings while it runs: about 10 a second; at least 3 in a second leaves
    // room for a loaded machine.
    wait_for_ready(&socket);
    assert!(pings(&received(&socket, Duration::from_secs(1))) >= 3);

    gateway.signal(Signal::SIGSTOP);
    // A ping already on its way may still arrive; none after.
    let _ = received(&socket, Duration::from_millis(300));
    assert_eq!(pings(&received(&socket, Duration::from_secs(1))), 0);

    gateway.signal(Signal::SIGCONT);
    assert!(pings(&received(&socket, Duration::from_secs(2))) >= 3);
}
