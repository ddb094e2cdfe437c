//! The background re-wrap: brings every record of the vault under the active version of its
//! service key (L3), so that an operator can retire the older versions
//! (`kryptonctl service retire`) and a blob under them is refused from then on.
//!
//! A **pass** walks the whole vault ([`Vault::scan`]) and, for each record of a service this
//! gateway serves whose blob names an older version than the newest the core was seen wrapping
//! under ([`ActiveVersions`](crate::core_link::ActiveVersions)), has the core re-wrap it
//! (Rewrap, 32 records to a message: the key never leaves the core) and replaces the record's
//! blob by compare-and-set. The first record of each service in a pass is sent whatever its
//! version (a probe): the core's answer says which version is active *now*, so a pass judges by
//! what held when it began, even after a rotation no Create has shown the gateway yet. A record
//! changed meanwhile (a Get of a format 1 blob, a Destroy) is left for the next pass; so is one
//! the core refuses (its tenant unlinked, its version retired already). A pass runs at start
//! (the passes before a restart left no state to resume from: the records themselves say what
//! is left), when the core is seen wrapping under a newer version of a service key (a
//! rotation), and every `rescan_interval_secs`.
//!
//! **Throttled**: at most `records_per_second` records are sent to the core, a message at a
//! time, so the hot path keeps its speed (docs/benchmarks.md measures both). While the core is
//! unreachable the pass waits and goes on from the same place.
//!
//! **Progress** is metrics: `krypton_gateway_rewrap_records_total{outcome}` as the pass goes,
//! and at the end of each pass `krypton_gateway_rewrap_behind{service, version}`, the records
//! it left under each older version, and `krypton_gateway_rewrap_last_pass_started_seconds`,
//! when that pass began (Unix time): once a pass that began after a rotation reports nothing
//! behind, every record of this gateway's services is under the active version, and the older
//! versions can be retired.
//! Every gateway sharing a vault walks all of it, each for its own services; compare-and-set
//! keeps two gateways of one service from losing each other's writes.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::time::sleep;

use crate::config::RewrapConfig;
use crate::error::ErrorChain;
use crate::principal::L3Ref;
use crate::service::Gateway;
use crate::vault::{Record, ScanCursor, Vault, VaultError, WrappedKey};

/// Records read from the vault at once.
const PAGE: usize = 256;
/// Records re-wrapped in one message to the core.
const BATCH: usize = 32;
/// The first wait after the core or the vault failed, doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs passes until the task is aborted (at shutdown: stopping anywhere loses nothing, a
/// record is only ever replaced whole).
pub(crate) async fn run<V: Vault>(gateway: Arc<Gateway<V>>, settings: RewrapConfig) {
    let mut reported = BTreeSet::new();
    loop {
        let started = SystemTime::now();
        let behind = Pass::new(&gateway, &settings).run().await;
        report(&behind, &mut reported, started);
        tell_core(&gateway, &behind, started).await;
        let interval = Duration::from_secs(settings.rescan_interval_secs);
        tokio::select! {
            () = gateway.core().active_versions().rotated() => {}
            () = sleep(interval) => {}
        }
    }
}

/// Records still under an older version at the end of a pass, by service and version.
type Behind = BTreeMap<(String, u32), u64>;

/// One walk over the vault.
struct Pass<'g, V> {
    gateway: &'g Gateway<V>,
    pace: Pace,
    behind: Behind,
    /// The services a record was already sent for in this pass, whose active version the
    /// core's answer taught.
    probed: HashSet<L3Ref>,
}

impl<'g, V: Vault> Pass<'g, V> {
    fn new(gateway: &'g Gateway<V>, settings: &RewrapConfig) -> Self {
        Self {
            gateway,
            pace: Pace::new(settings.records_per_second),
            behind: Behind::new(),
            probed: HashSet::new(),
        }
    }

    async fn run(mut self) -> Behind {
        let started = Instant::now();
        let mut from: Option<ScanCursor> = None;
        loop {
            let page = retrying("reading the vault", || {
                self.gateway.vault().scan(from.clone(), PAGE)
            })
            .await;
            let tenancy = self.gateway.tenancy();
            let mut records = page
                .records
                .into_iter()
                .filter(|record| tenancy.serves(&record.l3));
            loop {
                let chunk = self.next_chunk(&mut records);
                if chunk.is_empty() {
                    break;
                }
                self.pace.wait(chunk.len()).await;
                self.rewrap(&chunk).await;
            }
            match page.next {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        tracing::info!(elapsed = ?started.elapsed(), left = self.behind.values().sum::<u64>(), "re-wrap pass done");
        self.behind
    }

    /// The next records of `records` to re-wrap, at most [`BATCH`]. Judged chunk by chunk, so
    /// that an answer for a service teaches its active version before the records after it are
    /// judged; a probe ends its chunk for that reason.
    fn next_chunk(&mut self, records: &mut impl Iterator<Item = Record>) -> Vec<Record> {
        let active = self.gateway.core().active_versions();
        let mut chunk = Vec::new();
        for record in records {
            // Destroyed keys have no blob left.
            let Some(version) = record.wrapped.as_ref().and_then(WrappedKey::l3_version) else {
                continue;
            };
            if self.probed.insert(record.l3.clone()) {
                chunk.push(record);
                break;
            }
            // Not known yet: the probe was refused (its tenant unlinked, say); each record
            // then gets its own answer.
            if active
                .newest(&record.l3)
                .is_none_or(|newest| version < newest)
            {
                chunk.push(record);
                if chunk.len() == BATCH {
                    break;
                }
            }
        }
        chunk
    }

    /// Has the core re-wrap `records` and stores what changed; counts the outcomes.
    async fn rewrap(&mut self, records: &[Record]) {
        let asked: Vec<_> = records
            .iter()
            .filter_map(|r| Some((&r.l3, r.owner.as_str(), r.id.as_str(), r.wrapped.as_ref()?)))
            .collect();
        let answers = retrying("asking krypton-core to re-wrap", || {
            self.gateway.core().rewrap(&asked)
        })
        .await;
        for (record, answer) in records.iter().zip(answers) {
            let outcome = match answer {
                Ok(wrapped) if Some(&wrapped) == record.wrapped.as_ref() => "current",
                Ok(wrapped) => self.store(record, wrapped).await,
                Err(error) => {
                    tracing::warn!(owner = %record.owner, key = %record.id, error = %ErrorChain(&error), "krypton-core did not re-wrap a key; the next pass tries again");
                    self.left_behind(record);
                    "refused"
                }
            };
            metrics::counter!("krypton_gateway_rewrap_records_total", "outcome" => outcome)
                .increment(1);
        }
    }

    /// Replaces `record`'s blob with `wrapped` if the record did not change since it was read.
    async fn store(&mut self, record: &Record, wrapped: WrappedKey) -> &'static str {
        let updated = Record {
            wrapped: Some(wrapped),
            ..record.clone()
        };
        match self.gateway.vault().update(updated).await {
            Ok(()) => "rewrapped",
            Err(VaultError::Conflict | VaultError::NotFound) => {
                self.left_behind(record);
                "changed"
            }
            Err(error) => {
                tracing::warn!(owner = %record.owner, key = %record.id, error = %ErrorChain(&error), "could not store a re-wrapped key; the next pass tries again");
                self.left_behind(record);
                "failed"
            }
        }
    }

    fn left_behind(&mut self, record: &Record) {
        let Some(version) = record.wrapped.as_ref().and_then(WrappedKey::l3_version) else {
            return;
        };
        // A record under the active version (a probe the core refused, say) is not behind.
        let active = self.gateway.core().active_versions().newest(&record.l3);
        if active.is_some_and(|active| version >= active) {
            return;
        }
        *self
            .behind
            .entry((record.l3.unique_identifier(), version))
            .or_default() += 1;
    }
}

/// Tells the core what the pass that `started` left behind for each service this gateway
/// serves (`kryptonctl service rewrap-status`). A core that does not take it hears from the
/// next pass.
async fn tell_core<V: Vault>(gateway: &Gateway<V>, behind: &Behind, started: SystemTime) {
    for l3 in gateway.tenancy().services() {
        let service = l3.unique_identifier();
        let left: Vec<(u32, u64)> = behind
            .range((service.clone(), 0)..=(service.clone(), u32::MAX))
            .map(|((_, version), count)| (*version, *count))
            .collect();
        if let Err(error) = gateway.core().report_rewrap(l3, started, &left).await {
            tracing::warn!(%service, error = %ErrorChain(&error), "could not tell krypton-core what the re-wrap pass left");
        }
    }
}

/// Sets `krypton_gateway_rewrap_behind` from a pass's `behind`, zeroing the series the pass no
/// longer found, and when the pass `started`: every record written before then and not behind
/// is under the active version known at that time.
fn report(behind: &Behind, reported: &mut BTreeSet<(String, u32)>, started: SystemTime) {
    for key in reported.iter().filter(|key| !behind.contains_key(*key)) {
        gauge_behind(key, 0);
    }
    for (key, count) in behind {
        gauge_behind(key, *count);
    }
    *reported = behind.keys().cloned().collect();
    let started = started
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64());
    metrics::gauge!("krypton_gateway_rewrap_last_pass_started_seconds").set(started);
}

fn gauge_behind((service, version): &(String, u32), count: u64) {
    // A gauge is a float: exact up to 2^53 records.
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("krypton_gateway_rewrap_behind", "service" => service.clone(), "version" => version.to_string())
        .set(count as f64);
}

/// Spaces the messages of a pass to at most a rate of records per second.
struct Pace {
    started: Instant,
    sent: u64,
    per_second: u32,
}

impl Pace {
    fn new(per_second: u32) -> Self {
        Self {
            started: Instant::now(),
            sent: 0,
            per_second: per_second.max(1),
        }
    }

    /// Waits until `count` more records keep the pass within its rate.
    async fn wait(&mut self, count: usize) {
        let due = Duration::from_secs_f64(self.sent as f64 / f64::from(self.per_second));
        if let Some(early) = due.checked_sub(self.started.elapsed()) {
            sleep(early).await;
        }
        self.sent += count as u64;
    }
}

/// Runs `call` until it succeeds, waiting longer after each failure (the core or the vault is
/// away): a pass holds its place rather than skip records.
async fn retrying<T, E, F, Fut>(doing: &'static str, mut call: F) -> T
where
    E: std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = MIN_BACKOFF;
    loop {
        match call().await {
            Ok(value) => return value,
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "re-wrap pass waits: {doing} failed");
                sleep(backoff).await;
                backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
            }
        }
    }
}
