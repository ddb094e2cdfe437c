//! What a run measured: each connection's tally, merged into throughput and latency
//! percentiles, shown as text or JSON.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::args::{Args, Workload};
use crate::error::{Chain, Error};

/// One connection's results.
#[derive(Debug, Default)]
pub struct Tally {
    /// The latency of each successful operation, in nanoseconds.
    latencies: Vec<u64>,
    failures: u64,
    first_failure: Option<String>,
    /// When the last successful operation ended and the first failed one did, by the wall
    /// clock: what an outside event (an operator's unlink) is timed against.
    last_success_at: Option<SystemTime>,
    first_failure_at: Option<SystemTime>,
}

impl Tally {
    pub fn succeeded(&mut self, latency: Duration) {
        self.latencies
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        self.last_success_at = Some(SystemTime::now());
    }

    pub fn failed(&mut self, error: &Error) {
        self.failures += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(Chain(error).to_string());
            self.first_failure_at = Some(SystemTime::now());
        }
    }
}

/// Latency percentiles of the successful operations (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
    pub mean: Duration,
}

impl Latency {
    /// The percentiles of `nanos`, which it sorts; `None` if it is empty.
    fn of(nanos: &mut [u64]) -> Option<Self> {
        nanos.sort_unstable();
        let max = *nanos.last()?;
        let rank = |per_mille: u64| {
            let len = nanos.len() as u64;
            // Nearest rank: the smallest value with at least this share of values at or below.
            let index = (len * per_mille).div_ceil(1000).saturating_sub(1);
            Duration::from_nanos(
                nanos[usize::try_from(index)
                    .unwrap_or(usize::MAX)
                    .min(nanos.len() - 1)],
            )
        };
        let total: u128 = nanos.iter().map(|&n| u128::from(n)).sum();
        let mean = u64::try_from(total / nanos.len() as u128).unwrap_or(u64::MAX);
        Some(Self {
            p50: rank(500),
            p90: rank(900),
            p99: rank(990),
            p999: rank(999),
            max: Duration::from_nanos(max),
            mean: Duration::from_nanos(mean),
        })
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct Report {
    pub workload: &'static str,
    /// The bytes each request carried, for the workloads that carry data.
    pub data_size: Option<u32>,
    /// The keys `get` read, round and round.
    pub keys: Option<u32>,
    pub connections: u16,
    pub kmip_version: String,
    pub address: String,
    /// From the start of the measured run until its last operation ended.
    pub elapsed: Duration,
    pub operations: u64,
    pub failures: u64,
    pub first_failure: Option<String>,
    pub last_success_at: Option<SystemTime>,
    pub first_failure_at: Option<SystemTime>,
    pub latency: Option<Latency>,
}

impl Report {
    pub fn new(args: &Args, elapsed: Duration, tallies: Vec<Tally>) -> Self {
        let failures = tallies.iter().map(|tally| tally.failures).sum();
        let first_failure = tallies.iter().find_map(|tally| tally.first_failure.clone());
        let last_success_at = tallies.iter().filter_map(|t| t.last_success_at).max();
        let first_failure_at = tallies.iter().filter_map(|t| t.first_failure_at).min();
        let mut latencies: Vec<u64> = tallies
            .into_iter()
            .flat_map(|tally| tally.latencies)
            .collect();
        Self {
            workload: args.workload.name(),
            data_size: args.workload.carries_data().then_some(args.data_size),
            keys: (args.workload == Workload::Get).then(|| args.get_keys()),
            connections: args.connections,
            kmip_version: args.kmip_version.to_string(),
            address: args.address.clone(),
            elapsed,
            operations: latencies.len() as u64,
            failures,
            first_failure,
            last_success_at,
            first_failure_at,
            latency: Latency::of(&mut latencies),
        }
    }

    /// Successful operations per second.
    pub fn ops_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.operations as f64 / seconds
        } else {
            0.0
        }
    }

    /// The report as one JSON object; latencies in microseconds.
    pub fn to_json(&self) -> String {
        let micros = |duration: Duration| duration.as_secs_f64() * 1e6;
        let latency = self.latency.map(|latency| {
            json!({
                "p50": micros(latency.p50),
                "p90": micros(latency.p90),
                "p99": micros(latency.p99),
                "p99.9": micros(latency.p999),
                "max": micros(latency.max),
                "mean": micros(latency.mean),
            })
        });
        let unix_ms = |at: Option<SystemTime>| {
            at.and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                .map(|since| since.as_millis())
        };
        json!({
            "workload": self.workload,
            "data_bytes": self.data_size,
            "keys": self.keys,
            "connections": self.connections,
            "kmip_version": self.kmip_version,
            "address": self.address,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "operations": self.operations,
            "failures": self.failures,
            "first_failure": self.first_failure,
            "last_success_unix_ms": unix_ms(self.last_success_at),
            "first_failure_unix_ms": unix_ms(self.first_failure_at),
            "ops_per_s": self.ops_per_second(),
            "latency_us": latency,
        })
        .to_string()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.workload)?;
        if let Some(bytes) = self.data_size {
            write!(f, " of {bytes} bytes")?;
        }
        if let Some(keys) = self.keys {
            write!(f, " of {keys} key(s)")?;
        }
        writeln!(
            f,
            " against {}: {} connection(s), KMIP {}, {:.2} s",
            self.address,
            self.connections,
            self.kmip_version,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "operations {}  failed {}  throughput {:.0} ops/s",
            self.operations,
            self.failures,
            self.ops_per_second()
        )?;
        if let Some(latency) = self.latency {
            writeln!(
                f,
                "latency p50 {:?}  p90 {:?}  p99 {:?}  p99.9 {:?}  max {:?}  mean {:?}",
                latency.p50, latency.p90, latency.p99, latency.p999, latency.max, latency.mean
            )?;
        }
        if let Some(failure) = &self.first_failure {
            writeln!(f, "first failure: {failure}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut nanos: Vec<u64> = (1..=1000).rev().collect();
        let latency = Latency::of(&mut nanos).unwrap();
        assert_eq!(latency.p50, Duration::from_nanos(500));
        assert_eq!(latency.p90, Duration::from_nanos(900));
        assert_eq!(latency.p99, Duration::from_nanos(990));
        assert_eq!(latency.p999, Duration::from_nanos(999));
        assert_eq!(latency.max, Duration::from_nanos(1000));
        assert_eq!(latency.mean, Duration::from_nanos(500));
    }

    #[test]
    fn one_sample_is_every_percentile_and_none_is_none() {
        let latency = Latency::of(&mut [7]).unwrap();
        assert_eq!(
            (latency.p50, latency.p999),
            (Duration::from_nanos(7), Duration::from_nanos(7))
        );
        assert_eq!(Latency::of(&mut []), None);
    }
}
