//! Any vault, measured: each call's latency as `krypton_vault_duration_seconds{backend, call}`
//! and each failure of the storage beneath it as `krypton_vault_errors_total{backend, call}`.
//! Answers about the records (exists, not found, changed, the shred queue full) are not
//! failures of the vault and are not counted. Without a metrics recorder (telemetry off) the
//! facade's macros do nothing but an atomic load.

use std::future::Future;
use std::time::Instant;

use super::{Filter, Found, Record, ScanCursor, ScanPage, ShredNotice, Vault, VaultError};

/// `V`, with every call measured under the backend name it was given.
#[derive(Debug)]
pub struct Metered<V> {
    vault: V,
    backend: &'static str,
}

impl<V: Vault> Metered<V> {
    /// Measures `vault`, labelled `backend` (`"postgres"`, ...).
    pub fn new(vault: V, backend: &'static str) -> Self {
        Self { vault, backend }
    }

    async fn measured<T>(
        &self,
        call: &'static str,
        work: impl Future<Output = Result<T, VaultError>>,
    ) -> Result<T, VaultError> {
        let started = Instant::now();
        let result = work.await;
        let labels = [("backend", self.backend), ("call", call)];
        metrics::histogram!("krypton_vault_duration_seconds", &labels)
            .record(started.elapsed().as_secs_f64());
        if result.as_ref().is_err_and(is_failure) {
            metrics::counter!("krypton_vault_errors_total", &labels).increment(1);
        }
        result
    }
}

/// Whether `error` is the vault failing rather than an answer about the records.
fn is_failure(error: &VaultError) -> bool {
    match error {
        VaultError::Exists
        | VaultError::NotFound
        | VaultError::Conflict
        | VaultError::ShredQueueFull { .. } => false,
        VaultError::Storage { .. }
        | VaultError::Corrupt { .. }
        | VaultError::Misplaced { .. }
        | VaultError::Settings(_)
        | VaultError::Task(_) => true,
    }
}

impl<V: Vault> Vault for Metered<V> {
    async fn create(&self, record: Record) -> Result<(), VaultError> {
        self.measured("create", self.vault.create(record)).await
    }

    async fn get(&self, owner: &str, id: &str) -> Result<Option<Record>, VaultError> {
        self.measured("get", self.vault.get(owner, id)).await
    }

    async fn find(&self, owner: &str, id: &str) -> Result<Option<Found>, VaultError> {
        self.measured("find", self.vault.find(owner, id)).await
    }

    async fn update(&self, record: Record) -> Result<(), VaultError> {
        self.measured("update", self.vault.update(record)).await
    }

    async fn locate(
        &self,
        owner: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<String>, VaultError> {
        self.measured("locate", self.vault.locate(owner, filter, limit))
            .await
    }

    async fn shred(&self, record: Record, max_pending: usize) -> Result<(), VaultError> {
        self.measured("shred", self.vault.shred(record, max_pending))
            .await
    }

    async fn pending_shreds(&self, limit: usize) -> Result<Vec<ShredNotice>, VaultError> {
        self.measured("pending_shreds", self.vault.pending_shreds(limit))
            .await
    }

    async fn acknowledge_shred(&self, owner: &str, id: &str) -> Result<(), VaultError> {
        self.measured("acknowledge_shred", self.vault.acknowledge_shred(owner, id))
            .await
    }

    async fn scan(&self, from: Option<ScanCursor>, limit: usize) -> Result<ScanPage, VaultError> {
        self.measured("scan", self.vault.scan(from, limit)).await
    }
}
