//! The client side of the daemons' telemetry listeners, for tests: one bounded HTTP GET
//! (`Connection: close`), over TCP or TLS, `/readyz` read as ready or the reason why not, and `/metrics` parsed
//! as Prometheus parses it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use prometheus_parse::{Sample, Scrape, Value};
use rustls_pki_types::ServerName;

/// The longest a GET may take to connect, and then to answer.
const LIMIT: Duration = Duration::from_secs(20);

/// One HTTP/1.1 GET of `path` at `addr`: the status code and the body.
///
/// # Errors
///
/// The I/O error, or [`io::ErrorKind::InvalidData`] for an answer that is not HTTP.
pub fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    exchange(connect(addr)?, path)
}

/// As [`get`], over TLS configured by `tls` (a listener with `[telemetry.tls]`), the server
/// named `localhost`.
///
/// # Errors
///
/// As [`get`]; a refused handshake is an I/O error.
pub fn get_over_tls(
    addr: SocketAddr,
    path: &str,
    tls: Arc<rustls::ClientConfig>,
) -> io::Result<(u16, String)> {
    let server = ServerName::try_from("localhost").map_err(io::Error::other)?;
    let connection = rustls::ClientConnection::new(tls, server).map_err(io::Error::other)?;
    exchange(rustls::StreamOwned::new(connection, connect(addr)?), path)
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, LIMIT)?;
    stream.set_read_timeout(Some(LIMIT))?;
    stream.set_write_timeout(Some(LIMIT))?;
    Ok(stream)
}

fn exchange(mut stream: impl Read + Write, path: &str) -> io::Result<(u16, String)> {
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

/// The samples of `/metrics` at `addr`, parsed as Prometheus parses them.
///
/// # Errors
///
/// As [`get`], and [`io::ErrorKind::InvalidData`] for a status other than 200 or a body that
/// is not the Prometheus text format.
pub fn scrape(addr: SocketAddr) -> io::Result<Vec<Sample>> {
    let (status, body) = get(addr, "/metrics")?;
    if status != 200 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/metrics answered {status}"),
        ));
    }
    Scrape::parse(body.lines().map(|line| Ok(line.to_owned())))
        .map(|scrape| scrape.samples)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

/// The value of `metric` whose labels include `labels` (a histogram: its count), if a sample
/// has them.
#[must_use]
pub fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|sample| {
            sample.metric == metric
                && labels
                    .iter()
                    .all(|(name, value)| sample.labels.get(name) == Some(*value))
        })
        .map(|sample| match &sample.value {
            Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => *value,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |bucket| bucket.count),
            Value::Summary(_) => f64::NAN,
        })
}

/// The sum of `metric` over all its label sets (counters and gauges), 0 if none is reported.
#[must_use]
pub fn sum(samples: &[Sample], metric: &str) -> f64 {
    samples
        .iter()
        .filter(|sample| sample.metric == metric)
        .map(|sample| match &sample.value {
            Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => *value,
            Value::Histogram(_) | Value::Summary(_) => 0.0,
        })
        .sum()
}
