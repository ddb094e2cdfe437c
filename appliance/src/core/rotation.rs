//! Master-key rotation: a new version of the record key seals every write from the moment it
//! is stored; the core then re-seals, in the background, every record sealed under an older
//! version, and retires the older versions once none is left (see [`crate::record_keys`]).
//!
//! The re-seal goes through the families sealed under the record key in steps of
//! [`RESEAL_STEP`] records. Each step holds the lifecycle's write lock, so that no writer
//! rewrites a record between its read and its re-seal, and is one durable write; between steps
//! the lock is free and the data path runs. A kill at any point leaves every record under the
//! old or the new version, and the stored versions hold both until the retirement: the next
//! unseal resumes the re-seal from the start of the first family (records already re-sealed
//! are skipped without being opened).
//!
//! A rotation is refused while older versions are held, so there are never more than two.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::{Core, blocking};
use crate::audit::Operation;
use crate::caller::Caller;
use crate::error::{Bug, Error, ErrorChain};
use crate::seal::{Lifecycle, Unsealed};
use crate::store::Column;

/// Records scanned per step under the write lock: a few milliseconds of work.
const RESEAL_STEP: usize = 256;
/// The pause between steps, which leaves the lock to the data path and the disk to others.
const RESEAL_PAUSE: Duration = Duration::from_millis(5);

/// The families sealed under the record key; the registry's objects are sealed under their
/// tenant's key, and the install records are not sealed.
const SEALED_BY_RECORD_KEY: [Column; 7] = [
    Column::Tenants,
    Column::Services,
    Column::Objects,
    Column::Audit,
    Column::Shredded,
    Column::Tasks,
    Column::Unlinks,
];

/// The background re-seal's progress, for `status`.
#[derive(Debug, Default)]
pub(super) struct Resealing {
    running: AtomicBool,
    resealed: AtomicU64,
}

/// Where the master key stands, as `status` reports it.
#[derive(Debug)]
pub(crate) struct MasterKeyInfo {
    /// The version that seals every write.
    pub(crate) version: u32,
    /// Older versions still held while their records are re-sealed.
    pub(crate) retiring: Vec<u32>,
    /// Records re-sealed since this process started.
    pub(crate) resealed: u64,
}

impl Core {
    /// Adds a new version of the record key, which seals every write from now on, and starts
    /// re-sealing the records sealed under the one it replaces. Audited as
    /// `master-key-rotate`; returns the new version and the audit record.
    pub(crate) async fn rotate_master_key(
        self: &Arc<Self>,
        caller: Caller,
    ) -> Result<(u32, u64), Error> {
        if !self.leads() {
            return Err(Error::Following);
        }
        let core = Arc::clone(self);
        let rotated = blocking(move || {
            core.with_unsealed_mut(|unsealed| {
                let (records, master) = unsealed.records_mut();
                let sequence = records
                    .rotate(&core.store, master, |batch| {
                        core.audit.stage(batch, Operation::MasterKeyRotate, &caller)
                    })?
                    .ok_or(Error::Internal(Bug::NoAuditRecord))?;
                let version = records.current();
                tracing::warn!(%caller, version, audit_sequence = sequence, "master key rotated: a new record key version seals every write; older records are re-sealed in the background");
                Ok((version, sequence))
            })
        })
        .await?;
        self.resume_resealing();
        Ok(rotated)
    }

    /// Where the master key of `unsealed` stands.
    pub(super) fn master_key_info(&self, unsealed: &Unsealed) -> MasterKeyInfo {
        MasterKeyInfo {
            version: unsealed.records().current(),
            retiring: unsealed.records().retiring(),
            resealed: self.resealing.resealed.load(Ordering::Relaxed),
        }
    }

    /// Starts the background re-seal if older versions of the record key are held and it is
    /// not already running: after a rotation, and after every unseal (a re-seal cut short by
    /// a seal or a kill resumes).
    pub(crate) fn resume_resealing(self: &Arc<Self>) {
        let retiring = matches!(
            self.read().as_deref(),
            Ok(Lifecycle::Unsealed(unsealed)) if !unsealed.records().retiring().is_empty()
        );
        // The leading core re-seals; one that follows resumes it if it takes over.
        if !retiring || !self.leads() || self.resealing.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let core = Arc::clone(self);
        tokio::spawn(async move {
            match core.reseal_all().await {
                Ok(true) => {}
                Ok(false) => tracing::info!(
                    "master key re-seal paused: the core was sealed; it resumes at the next unseal"
                ),
                Err(error) => {
                    tracing::error!(error = %ErrorChain(&error), "master key re-seal stopped; the older version stays held until it completes (it resumes at the next unseal)")
                }
            }
            core.resealing.running.store(false, Ordering::Release);
        });
    }

    /// Re-seals every family, then retires the older versions. `Ok(false)`: sealed meanwhile.
    async fn reseal_all(self: &Arc<Self>) -> Result<bool, Error> {
        for column in SEALED_BY_RECORD_KEY {
            let mut from = Box::<[u8]>::default();
            loop {
                let core = Arc::clone(self);
                let step = blocking(move || core.reseal_step(column, &from)).await?;
                match step {
                    None => return Ok(false),
                    Some(None) => break,
                    Some(Some(next)) => from = next,
                }
                tokio::time::sleep(RESEAL_PAUSE).await;
            }
        }
        let core = Arc::clone(self);
        blocking(move || core.retire_record_keys()).await?;
        Ok(true)
    }

    /// One step of the re-seal of `column` from `from`, under the write lock: where the next
    /// starts (`Some(None)`: the family is done), or `None` if the core is not unsealed.
    fn reseal_step(&self, column: Column, from: &[u8]) -> Result<Option<Option<Box<[u8]>>>, Error> {
        let lifecycle = self.write()?;
        let Lifecycle::Unsealed(unsealed) = &*lifecycle else {
            return Ok(None);
        };
        let step = self
            .store
            .reseal(unsealed.records(), column, b"", from, RESEAL_STEP)?;
        self.resealing
            .resealed
            .fetch_add(step.resealed as u64, Ordering::Relaxed);
        Ok(Some(step.next))
    }

    /// Drops the older versions, every record being sealed under the current one. Audited as
    /// `master-key-retire` by the core itself.
    fn retire_record_keys(&self) -> Result<(), Error> {
        self.with_unsealed_mut(|unsealed| {
            let (records, master) = unsealed.records_mut();
            let retired = records.retiring();
            let subject = retired
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let sequence = records.retire(&self.store, master, |batch| {
                self.audit.stage_about(
                    batch,
                    Operation::MasterKeyRetire,
                    &Caller::Core,
                    Some(format!("versions {subject}")),
                )
            })?;
            tracing::warn!(retired = %subject, version = records.current(), audit_sequence = ?sequence, "master key versions retired: every record is sealed under the current version");
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Filter;
    use crate::core::AuditSettings;
    use crate::hsm_seal::SealConfig;
    use crate::store::Store;

    const OPERATOR: Caller = Caller::LocalProcess { uid: 0, pid: None };

    fn open_core(dir: &std::path::Path) -> Arc<Core> {
        let seal = SealConfig::Shamir {};
        let audit = AuditSettings {
            data_path: false,
            export: Arc::new(krypton_service::audit::AuditExport::journal_only()),
        };
        Arc::new(
            Core::open(
                Store::open(dir).unwrap(),
                Duration::from_secs(60),
                None,
                &seal,
                &audit,
            )
            .unwrap(),
        )
    }

    async fn unseal(core: &Arc<Core>, shares: &[String]) {
        for share in shares {
            let share = share.parse::<shamir::Share>().unwrap();
            core.unseal(OPERATOR, share).await.unwrap();
        }
    }

    /// An unsealed core on the Shamir seal in `dir`, its audit log a few re-seal steps long,
    /// and two of its shares.
    async fn unsealed_core(dir: &std::path::Path) -> (Arc<Core>, Vec<String>) {
        let core = open_core(dir);
        let report = core.init(OPERATOR, 2, 3).await.unwrap();
        let shares: Vec<String> = report.shares[..2].iter().map(|s| s.to_string()).collect();
        unseal(&core, &shares).await;
        for _ in 0..RESEAL_STEP * 2 {
            core.status(&OPERATOR).unwrap();
        }
        (core, shares)
    }

    /// Rotates without starting the background re-seal.
    fn rotate_only(core: &Core) {
        core.with_unsealed_mut(|unsealed| {
            let (records, master) = unsealed.records_mut();
            records.rotate(&core.store, master, |_| Ok(()))
        })
        .unwrap();
    }

    /// Waits for the background re-seal to retire every older version.
    async fn retired(core: &Core) -> MasterKeyInfo {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let info = core
                .with_unsealed(|unsealed| Ok::<_, Error>(core.master_key_info(unsealed)))
                .unwrap();
            if info.retiring.is_empty() {
                return info;
            }
            assert!(std::time::Instant::now() < deadline, "{info:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every record sealed under the record key claims `version`, and the audit log (most of
    /// them) opens whole.
    fn all_under(core: &Core, version: u32) {
        for column in SEALED_BY_RECORD_KEY {
            let versions = core.store.key_versions(column);
            assert!(
                versions.iter().all(|v| *v == Some(version)),
                "{column}: {versions:?}"
            );
        }
        let (records, _) = core
            .audit_log(&OPERATOR, Some(0), 1000, &Filter::default())
            .unwrap();
        assert!(records.len() > RESEAL_STEP * 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rotation_reseals_every_record_then_retires_the_old_version() {
        let dir = tempfile::tempdir().unwrap();
        let (core, _) = unsealed_core(dir.path()).await;
        let before = core.store.key_versions(Column::Audit);
        assert!(before.iter().all(|v| *v == Some(1)));

        let (version, _) = core.rotate_master_key(OPERATOR).await.unwrap();
        assert_eq!(version, 2);
        let info = retired(&core).await;
        assert_eq!(info.version, 2);
        assert!(info.resealed >= before.len() as u64, "{info:?}");
        all_under(&core, 2);
        let (records, _) = core
            .audit_log(&OPERATOR, None, 10, &Filter::default())
            .unwrap();
        let retire = records
            .iter()
            .find(|r| r.entry.operation == Operation::MasterKeyRetire.into());
        assert!(retire.is_some(), "{records:?}");
    }

    #[tokio::test]
    async fn a_second_rotation_waits_for_the_first_to_retire() {
        let dir = tempfile::tempdir().unwrap();
        let (core, _) = unsealed_core(dir.path()).await;
        rotate_only(&core);
        let err = core.rotate_master_key(OPERATOR).await.unwrap_err();
        assert!(
            matches!(err, Error::MasterKeyRetiring { version: 1 }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_reseal_cut_short_resumes_after_the_next_unseal() {
        let dir = tempfile::tempdir().unwrap();
        let (core, shares) = unsealed_core(dir.path()).await;
        rotate_only(&core);
        // One step, as a kill would leave it: some records under version 2, most under 1.
        let next = core.reseal_step(Column::Audit, b"").unwrap().unwrap();
        assert!(next.is_some());
        let versions = core.store.key_versions(Column::Audit);
        assert!(versions.contains(&Some(1)) && versions.contains(&Some(2)));
        drop(core);

        // A restart opens both versions and the re-seal resumes after the unseal.
        let core = open_core(dir.path());
        unseal(&core, &shares).await;
        assert_eq!(retired(&core).await.version, 2);
        all_under(&core, 2);
    }
}
