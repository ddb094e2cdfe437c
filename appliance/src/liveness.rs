//! L1 liveness: when a tenant whose L1 no longer answers is failed closed.
//!
//! The core probes each linked tenant's L1 every `interval` ([`Hsm::probe_l1`](crate::Hsm::probe_l1)).
//! This module is the decision alone, from the verdicts and the times they were taken, without
//! any I/O, so that it is tested exactly:
//! - a [`Refused`](Probe::Refused) verdict fails the tenant at once: the customer revoked the
//!   L1 (deleted it, turned its use off, replaced it), and each moment the core keeps the L2
//!   after that is a moment it serves keys the customer has withdrawn;
//! - an [`Unreachable`](Probe::Unreachable) verdict fails it only once the HSM has been
//!   unreachable for `grace`, counted from the first such verdict of an unbroken run: a network
//!   HSM that blips, fails over or restarts does not take every tenant down, but an HSM that
//!   stays away does not keep the L2s alive for ever either;
//! - an [`Alive`](Probe::Alive) verdict ends a run of unreachable ones.
//!
//! The `[pkcs11.liveness]` table of the configuration sets both times ([`LivenessConfig`]).

use std::fmt;
use std::time::{Duration, Instant};

use krypton_service::config::{OutOfRange, require_range};
use serde::Deserialize;

use crate::hsm::{Outage, Probe, Refusal};

/// Seconds between probes of one tenant when `interval_secs` is not given.
const DEFAULT_INTERVAL_SECS: u64 = 5;
/// Shortest and longest configurable interval: a probe costs one HSM call per tenant.
const MIN_INTERVAL_SECS: u64 = 1;
const MAX_INTERVAL_SECS: u64 = 3600;
/// Seconds an HSM may stay unreachable before its tenants fail closed, when `grace_secs` is
/// not given.
const DEFAULT_GRACE_SECS: u64 = 60;
/// Longest configurable grace: one day. Zero fails tenants at the first unreachable verdict.
const MAX_GRACE_SECS: u64 = 24 * 3600;

/// How often the core probes each tenant's L1, and how long it keeps tenants whose HSM does
/// not answer: the `[pkcs11.liveness]` table.
///
/// ```toml
/// [pkcs11.liveness]
/// interval_secs = 5   # time between probes of one tenant's L1 (1 to 3600)
/// grace_secs = 60     # an HSM unreachable this long fails its tenants closed (0 to 86400)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawLivenessConfig")]
pub struct LivenessConfig {
    interval: Duration,
    grace: Duration,
}

/// The table as written, before it is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLivenessConfig {
    interval_secs: u64,
    grace_secs: u64,
}

impl Default for RawLivenessConfig {
    fn default() -> Self {
        Self {
            interval_secs: DEFAULT_INTERVAL_SECS,
            grace_secs: DEFAULT_GRACE_SECS,
        }
    }
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(DEFAULT_INTERVAL_SECS),
            grace: Duration::from_secs(DEFAULT_GRACE_SECS),
        }
    }
}

impl TryFrom<RawLivenessConfig> for LivenessConfig {
    type Error = OutOfRange;

    fn try_from(raw: RawLivenessConfig) -> Result<Self, Self::Error> {
        Self::new(raw.interval_secs, raw.grace_secs)
    }
}

impl LivenessConfig {
    /// A probe every `interval_secs` (1 to 3600), tenants failed closed after `grace_secs`
    /// (0 to 86400) of an unreachable HSM.
    pub fn new(interval_secs: u64, grace_secs: u64) -> Result<Self, OutOfRange> {
        require_range(
            "pkcs11.liveness.interval_secs",
            interval_secs,
            MIN_INTERVAL_SECS,
            MAX_INTERVAL_SECS,
        )?;
        require_range("pkcs11.liveness.grace_secs", grace_secs, 0, MAX_GRACE_SECS)?;
        Ok(Self {
            interval: Duration::from_secs(interval_secs),
            grace: Duration::from_secs(grace_secs),
        })
    }

    /// The time between two probes of one tenant's L1.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long an HSM may stay unreachable before its tenants fail closed.
    pub fn grace(&self) -> Duration {
        self.grace
    }
}

/// What the core does with a tenant after a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The tenant stays available.
    Keep,
    /// The tenant becomes unavailable now, and its L2 and L3s are wiped.
    FailClosed(FailReason),
}

/// Why a tenant was failed closed; shown to operators. Names no key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// The HSM refused the tenant's L1.
    Refused(Refusal),
    /// The HSM stayed unreachable past the grace.
    Unreachable {
        /// What the last probe found.
        outage: Outage,
        /// How long the HSM had been unreachable, from the first probe of the run.
        after: Duration,
    },
}

/// One tenant's liveness: the start of the current run of unreachable verdicts, if any.
///
/// The core keeps one per linked tenant, feeds it each probe's verdict, and drops it when the
/// tenant is failed closed or unlinked (a relink starts afresh).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantLiveness {
    unreachable_since: Option<Instant>,
}

impl TenantLiveness {
    /// Takes the verdict of a probe that started at `at`, and decides. Times are taken when a
    /// probe starts, so that the time a probe spends timing out counts as unreachable time.
    pub fn observe(&mut self, verdict: Probe, at: Instant, grace: Duration) -> Decision {
        match verdict {
            Probe::Alive => {
                self.unreachable_since = None;
                Decision::Keep
            }
            Probe::Refused(refusal) => {
                self.unreachable_since = None;
                Decision::FailClosed(FailReason::Refused(refusal))
            }
            Probe::Unreachable(outage) => {
                let since = *self.unreachable_since.get_or_insert(at);
                // A verdict older than the run's first (clocks are monotonic, callers may race)
                // counts as the start of the run, not as a negative duration.
                let after = at.saturating_duration_since(since);
                if after >= grace {
                    Decision::FailClosed(FailReason::Unreachable { outage, after })
                } else {
                    Decision::Keep
                }
            }
        }
    }
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(refusal) => write!(f, "the HSM refused the L1: {refusal}"),
            Self::Unreachable { outage, after } => write!(
                f,
                "the HSM was unreachable for {} s: {outage}",
                after.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(60);
    const DOWN: Probe = Probe::Unreachable(Outage::TimedOut);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn alive_keeps_the_tenant() {
        let (mut tenant, t0) = (TenantLiveness::default(), Instant::now());
        for n in 0..3 {
            assert_eq!(
                tenant.observe(Probe::Alive, t0 + secs(n * 5), GRACE),
                Decision::Keep
            );
        }
        assert_eq!(tenant.unreachable_since, None);
    }

    #[test]
    fn a_refusal_fails_at_once_whatever_came_before() {
        let t0 = Instant::now();
        let refused = Probe::Refused(Refusal::L1NotFound);
        let expected = Decision::FailClosed(FailReason::Refused(Refusal::L1NotFound));
        let mut fresh = TenantLiveness::default();
        assert_eq!(fresh.observe(refused, t0, GRACE), expected);
        // In the middle of an unreachable run, long before its grace is up.
        let mut down = TenantLiveness::default();
        assert_eq!(down.observe(DOWN, t0, GRACE), Decision::Keep);
        assert_eq!(down.observe(refused, t0 + secs(1), GRACE), expected);
    }

    #[test]
    fn an_unreachable_hsm_fails_once_the_grace_is_up() {
        let (mut tenant, t0) = (TenantLiveness::default(), Instant::now());
        assert_eq!(tenant.observe(DOWN, t0, GRACE), Decision::Keep);
        assert_eq!(tenant.unreachable_since, Some(t0));
        let other = Probe::Unreachable(Outage::TokenUnavailable);
        assert_eq!(tenant.observe(other, t0 + secs(30), GRACE), Decision::Keep);
        assert_eq!(tenant.observe(DOWN, t0 + secs(59), GRACE), Decision::Keep);
        // Counted from the first verdict of the run, and named by the last.
        assert_eq!(
            tenant.observe(other, t0 + secs(60), GRACE),
            Decision::FailClosed(FailReason::Unreachable {
                outage: Outage::TokenUnavailable,
                after: secs(60),
            })
        );
        assert!(matches!(
            tenant.observe(DOWN, t0 + secs(65), GRACE),
            Decision::FailClosed(FailReason::Unreachable { .. })
        ));
    }

    #[test]
    fn alive_ends_the_run() {
        let (mut tenant, t0) = (TenantLiveness::default(), Instant::now());
        assert_eq!(tenant.observe(DOWN, t0, GRACE), Decision::Keep);
        assert_eq!(tenant.observe(DOWN, t0 + secs(55), GRACE), Decision::Keep);
        assert_eq!(
            tenant.observe(Probe::Alive, t0 + secs(56), GRACE),
            Decision::Keep
        );
        assert_eq!(tenant.unreachable_since, None);
        // A new run starts its own count: 61 s after the first outage, 5 s into this one.
        assert_eq!(tenant.observe(DOWN, t0 + secs(57), GRACE), Decision::Keep);
        assert_eq!(tenant.observe(DOWN, t0 + secs(62), GRACE), Decision::Keep);
        assert!(matches!(
            tenant.observe(DOWN, t0 + secs(117), GRACE),
            Decision::FailClosed(_)
        ));
    }

    #[test]
    fn zero_grace_fails_at_the_first_unreachable_verdict() {
        let (mut tenant, t0) = (TenantLiveness::default(), Instant::now());
        assert_eq!(
            tenant.observe(DOWN, t0, Duration::ZERO),
            Decision::FailClosed(FailReason::Unreachable {
                outage: Outage::TimedOut,
                after: Duration::ZERO,
            })
        );
    }

    #[test]
    fn a_verdict_from_before_the_run_counts_as_its_start() {
        let (mut tenant, t0) = (TenantLiveness::default(), Instant::now());
        assert_eq!(tenant.observe(DOWN, t0 + secs(10), GRACE), Decision::Keep);
        assert_eq!(tenant.observe(DOWN, t0, GRACE), Decision::Keep);
        assert_eq!(tenant.unreachable_since, Some(t0 + secs(10)));
    }

    #[test]
    fn reasons_read_as_sentences() {
        assert_eq!(
            FailReason::Refused(Refusal::L1NotPermitted).to_string(),
            "the HSM refused the L1: the HSM does not permit decryption with the L1 key"
        );
        assert_eq!(
            FailReason::Unreachable {
                outage: Outage::TokenUnavailable,
                after: Duration::from_millis(61_500),
            }
            .to_string(),
            "the HSM was unreachable for 61 s: the HSM token is unavailable"
        );
    }

    fn parse(text: &str) -> Result<LivenessConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn config_defaults_and_bounds() {
        let defaults = parse("").unwrap();
        assert_eq!(defaults, LivenessConfig::default());
        assert_eq!(defaults.interval(), secs(5));
        assert_eq!(defaults.grace(), secs(60));
        let config = parse("interval_secs = 1\ngrace_secs = 0").unwrap();
        assert_eq!(
            (config.interval(), config.grace()),
            (secs(1), Duration::ZERO)
        );
        let config = parse("interval_secs = 3600\ngrace_secs = 86400").unwrap();
        assert_eq!(
            (config.interval(), config.grace()),
            (secs(3600), secs(86400))
        );
        for bad in [
            "interval_secs = 0",
            "interval_secs = 3601",
            "grace_secs = 86401",
            "grace_secs = -1",
            "interval = 5",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let error = LivenessConfig::new(0, 60).unwrap_err();
        assert_eq!(error.key, "pkcs11.liveness.interval_secs");
        let error = LivenessConfig::new(5, 86401).unwrap_err();
        assert_eq!(error.key, "pkcs11.liveness.grace_secs");
    }
}
