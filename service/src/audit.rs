//! The audit trail as both daemons export it, for the security team's tools: each event a
//! line of JSON in a file that a SIEM agent ships (rotated by size), and a log event of target
//! `krypton_audit` — under systemd a journal entry with the event's fields.
//!
//! The export is a copy for shipping. The record is the core's sealed hash chain
//! (`kryptonctl audit verify`); the gateway's events are tied to the core's by their
//! correlation id.
//!
//! **Never in the way of a request.** Lines are written by a thread of their own, a group per
//! write every few milliseconds: an event is queued (at most [`QUEUE_GROUPS`] groups) and the
//! caller goes on. When the
//! file falls that far behind, what does not fit is counted, and the count written as an event
//! of its own (`audit-export-dropped`) once there is room again.
//!
//! **The journal gets what people are paged for**: every control-plane event, and on the data
//! path only refusals. A data path at tens of thousands of requests a second would otherwise
//! be throttled by journald's rate limit, losing exactly the refusals.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use serde::{Deserialize, Serialize};

use crate::config::{OutOfRange, RelativePath, require_absolute, require_range};

/// Groups of lines queued for the writer thread at most.
pub const QUEUE_GROUPS: usize = 4096;

/// How long the writer lets lines gather after the first before it writes them.
const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

/// The `[audit]` table of a daemon's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Record the data path: at the core every wrap, unwrap and registry operation in the
    /// chain; at the gateway every KMIP operation in the export. On by default.
    pub data_path: bool,
    /// The JSON-lines file; absent: no file (the journal still gets its share).
    pub json_lines: Option<PathBuf>,
    /// The file is rotated once it has grown past this many bytes.
    pub rotate_bytes: usize,
    /// Rotated files kept (`audit.jsonl.1` is the newest), the oldest deleted.
    pub keep: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            data_path: true,
            json_lines: None,
            rotate_bytes: 64 * 1024 * 1024,
            keep: 8,
        }
    }
}

impl AuditConfig {
    /// Checks the values, naming the key at fault.
    ///
    /// # Errors
    ///
    /// The file's path is relative, or a number is out of range.
    pub fn check<E: From<RelativePath> + From<OutOfRange>>(&self) -> Result<(), E> {
        if let Some(path) = &self.json_lines {
            require_absolute("audit.json_lines", path)?;
        }
        require_range("audit.rotate_bytes", self.rotate_bytes, 4096, 1 << 40)?;
        require_range("audit.keep", self.keep, 1, 1000)?;
        Ok(())
    }
}

/// Which plane an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Plane {
    /// Operators and the orchestrator: unseal, link, unlink, rotations...
    Control,
    /// Applications' requests and the gateways' wraps and unwraps.
    Data,
}

/// How a decision went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Done as asked.
    Ok,
    /// Refused; the event's `reason` says why.
    Refused,
}

impl Outcome {
    /// Refused when there is a reason why, else done.
    #[must_use]
    pub fn of(reason: Option<&str>) -> Self {
        if reason.is_some() {
            Self::Refused
        } else {
            Self::Ok
        }
    }
}

/// One event, as the JSON line and the journal fields show it. Never a key, a share or a PIN:
/// identifiers and reasons only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEvent<'a> {
    /// The record's position in the core's chain; absent for the gateway's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// When, in milliseconds since the Unix epoch.
    pub time_unix_millis: u64,
    /// `krypton-core` or `krypton-gateway`.
    pub source: &'static str,
    /// Control or data plane.
    pub plane: Plane,
    /// What was asked: `tenant-unlink`, `kmip-get`, ...
    pub operation: &'a str,
    /// Who asked, as authenticated: `uid=0 pid=42`, `gateway=gw-1 for=app-7`, `app-7`.
    pub caller: &'a str,
    /// What it was about: `acme`, `acme/payments key 0f3a…`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<&'a str>,
    /// Done or refused.
    pub outcome: Outcome,
    /// Why it was refused: the KMIP Result Reason and message, or the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// The id that ties a gateway's event to the core's record of the same request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<&'a str>,
}

impl AuditEvent<'_> {
    /// Logs the event under target `krypton_audit` (journal fields `F_AUDIT_SEQUENCE`,
    /// `F_OPERATION`, `F_CALLER`, `F_SUBJECT`, `F_OUTCOME`, `F_REASON`, `F_CORRELATION`...).
    fn log(&self) {
        let outcome = match self.outcome {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
        };
        tracing::info!(
            target: "krypton_audit",
            audit_sequence = self.sequence,
            source = self.source,
            operation = self.operation,
            caller = %self.caller,
            subject = self.subject,
            outcome,
            reason = self.reason,
            correlation = self.correlation,
            "audit record"
        );
    }

    /// Whether the journal gets this event: see the module's documentation.
    fn for_the_journal(&self) -> bool {
        self.plane == Plane::Control || self.outcome == Outcome::Refused
    }
}

/// Milliseconds since the Unix epoch, now; a clock before 1970 reads as the epoch rather than
/// refuse to record.
#[must_use]
pub fn now_unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Where a daemon's audit events go: the journal, and the JSON-lines file if configured.
#[derive(Debug)]
pub struct AuditExport {
    file: Option<FileWriter>,
    /// Events the file could not take since the last group it did.
    dropped: AtomicU64,
}

/// The thread writing the JSON-lines file, and its queue.
#[derive(Debug)]
struct FileWriter {
    queue: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl AuditExport {
    /// To the journal only.
    #[must_use]
    pub fn journal_only() -> Self {
        Self {
            file: None,
            dropped: AtomicU64::new(0),
        }
    }

    /// As `config` says.
    ///
    /// # Errors
    ///
    /// The file cannot be opened for appending (it is created with mode 0600).
    pub fn open(config: &AuditConfig) -> io::Result<Self> {
        let Some(path) = &config.json_lines else {
            return Ok(Self::journal_only());
        };
        let file = FileWriter::start(path, config.rotate_bytes, config.keep)?;
        Ok(Self {
            file: Some(file),
            dropped: AtomicU64::new(0),
        })
    }

    /// Exports `events`, in order: the journal's share logged now, every line queued for the
    /// file as one group.
    pub fn emit(&self, events: &[AuditEvent<'_>]) {
        for event in events.iter().filter(|event| event.for_the_journal()) {
            event.log();
        }
        let Some(file) = &self.file else {
            return;
        };
        let mut group = Vec::with_capacity(events.len() * 256);
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            write_line(&mut group, &DroppedEvents::now(dropped));
        }
        for event in events {
            write_line(&mut group, event);
        }
        if !file.send(group) {
            let lost = u64::try_from(events.len()).unwrap_or(u64::MAX);
            self.dropped
                .fetch_add(dropped.saturating_add(lost), Ordering::Relaxed);
        }
    }
}

/// The event that says how many the file did not take.
#[derive(Serialize)]
struct DroppedEvents {
    time_unix_millis: u64,
    source: &'static str,
    operation: &'static str,
    dropped: u64,
}

impl DroppedEvents {
    fn now(dropped: u64) -> Self {
        Self {
            time_unix_millis: now_unix_millis(),
            source: "export",
            operation: "audit-export-dropped",
            dropped,
        }
    }
}

fn write_line(group: &mut Vec<u8>, value: &impl Serialize) {
    // Serializing plain strings and numbers into memory cannot fail.
    if serde_json::to_writer(&mut *group, value).is_ok() {
        group.push(b'\n');
    }
}

impl FileWriter {
    fn start(path: &Path, rotate_bytes: usize, keep: usize) -> io::Result<Self> {
        // Readable by the daemon's user only: the events name tenants, identities and keys.
        let mut options = OpenOptions::new();
        options.read(true).create(true).append(true).mode(0o600);
        // Opened here first so that a path that cannot be written is an error at start-up
        // (with its reason), not a silent writer thread.
        options.open(path)?;
        let file = FileRotate::new(
            path,
            AppendCount::new(keep),
            ContentLimit::BytesSurpassed(rotate_bytes),
            Compression::None,
            Some(options),
        );
        let (queue, groups) = mpsc::sync_channel(QUEUE_GROUPS);
        let thread = std::thread::Builder::new()
            .name("audit-export".to_owned())
            .spawn(move || write_groups(file, &groups))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues `group`; `false` if the queue is full.
    fn send(&self, group: Vec<u8>) -> bool {
        match self.queue.as_ref().map(|queue| queue.try_send(group)) {
            Some(Ok(())) => true,
            Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => false,
        }
    }
}

impl Drop for FileWriter {
    /// Writes what is queued before the daemon goes.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes the queued groups, those waiting together, until the queue closes.
fn write_groups(mut file: FileRotate<AppendCount>, groups: &Receiver<Vec<u8>>) {
    let mut failing = false;
    while let Ok(mut pending) = groups.recv() {
        // Let more gather: one write (and one wake of this thread) per few milliseconds, not
        // per event. A sender never waits for this thread.
        std::thread::sleep(GATHER);
        while let Ok(more) = groups.try_recv() {
            pending.extend_from_slice(&more);
        }
        match file.write_all(&pending).and_then(|()| file.flush()) {
            Ok(()) => failing = false,
            // Said once per run of failures, not once per group.
            Err(error) if !failing => {
                failing = true;
                tracing::error!(%error, "the audit JSON-lines file cannot be written: events are lost from it until it can");
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(operation: &str) -> AuditEvent<'_> {
        AuditEvent {
            sequence: Some(7),
            time_unix_millis: 1,
            source: "krypton-core",
            plane: Plane::Data,
            operation,
            caller: "gateway=gw-1 for=app-1",
            subject: Some("acme/payments key k1"),
            outcome: Outcome::Refused,
            reason: Some("ItemNotFound: k1"),
            correlation: Some("c-1"),
        }
    }

    /// Every line kept, oldest file first (`keep` = 2: `.2`, `.1`, then the file itself).
    fn kept_lines(path: &Path) -> Vec<serde_json::Value> {
        let rotated = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
        [rotated(2), rotated(1), path.to_owned()]
            .iter()
            .filter_map(|file| std::fs::read_to_string(file).ok())
            .flat_map(|text| {
                text.lines()
                    .map(|line| serde_json::from_str(line).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn lines_are_written_in_order_and_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let config = AuditConfig {
            json_lines: Some(path.clone()),
            rotate_bytes: 4096,
            keep: 2,
            ..AuditConfig::default()
        };
        let export = AuditExport::open(&config).unwrap();
        let names: Vec<String> = (0..80).map(|n| format!("kmip-get-{n}")).collect();
        for (n, name) in names.iter().enumerate() {
            export.emit(&[event(name)]);
            // Each line written before the next is sent: one group per write, so that the
            // file is cut between lines as it fills.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while kept_lines(&path).last().map(|l| l["operation"].clone())
                != Some(serde_json::Value::from(format!("kmip-get-{n}")))
            {
                assert!(std::time::Instant::now() < deadline, "line {n} not written");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        drop(export);
        let lines = kept_lines(&path);
        let last = lines.last().unwrap();
        assert_eq!(last["operation"], "kmip-get-79");
        assert_eq!(last["outcome"], "refused");
        assert_eq!(last["correlation"], "c-1");
        assert_eq!(last["sequence"], 7);
        let numbers: Vec<u32> = lines
            .iter()
            .map(|l| l["operation"].as_str().unwrap()[9..].parse().unwrap())
            .collect();
        assert!(
            numbers.windows(2).all(|pair| pair[1] == pair[0] + 1),
            "lines keep their order across rotations: {numbers:?}"
        );
        assert!(numbers[0] > 0, "the oldest were rotated away: {numbers:?}");
        assert!(!dir.path().join("audit.jsonl.3").exists(), "keep = 2");
    }

    #[test]
    fn a_path_that_cannot_be_written_is_refused_at_start() {
        let config = AuditConfig {
            json_lines: Some(PathBuf::from("/nonexistent-dir/audit.jsonl")),
            ..AuditConfig::default()
        };
        assert!(AuditExport::open(&config).is_err());
    }

    #[test]
    fn the_journal_gets_control_events_and_refusals_only() {
        let refused = event("kmip-get");
        let done = AuditEvent {
            outcome: Outcome::Ok,
            reason: None,
            ..event("kmip-get")
        };
        let control = AuditEvent {
            plane: Plane::Control,
            ..done.clone()
        };
        assert!(refused.for_the_journal());
        assert!(!done.for_the_journal());
        assert!(control.for_the_journal());
    }
}
