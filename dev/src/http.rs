//! The one HTTP request tests and the dev run make: a GET of a daemon's telemetry listener
//! (`/healthz`, `/readyz`, `/metrics`), with `Connection: close` and a bounded wait.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The longest a GET may take to connect, and then to answer.
const LIMIT: Duration = Duration::from_secs(20);

/// One HTTP/1.1 GET of `path` at `addr`: the status code and the body.
///
/// # Errors
///
/// The I/O error, or [`io::ErrorKind::InvalidData`] for an answer that is not HTTP.
pub fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, LIMIT)?;
    stream.set_read_timeout(Some(LIMIT))?;
    stream.set_write_timeout(Some(LIMIT))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "not an HTTP response");
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(invalid)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(invalid)?;
    Ok((status, body.to_owned()))
}

/// What `/readyz` said: ready (200), or not (503) and the machine-readable reason why.
///
/// # Errors
///
/// As [`get`], and [`io::ErrorKind::InvalidData`] for a body that is not the readiness JSON.
pub fn readiness(addr: SocketAddr) -> io::Result<Result<(), String>> {
    let (status, body) = get(addr, "/readyz")?;
    let body: serde_json::Value = serde_json::from_str(&body)?;
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, format!("/readyz said {body}"));
    match (status, &body["ready"], body["reason"].as_str()) {
        (200, serde_json::Value::Bool(true), None) => Ok(Ok(())),
        (503, serde_json::Value::Bool(false), Some(reason)) => Ok(Err(reason.to_owned())),
        _ => Err(invalid()),
    }
}
