//! The cores on one PostgreSQL store following each other (`[store] follow`): each change
//! another core makes to a record this core holds in memory reaches it through the store's
//! change feed and is applied here — on a follower, every change of the leader, so that it
//! serves the data path with the keys the leader would; on the leader, the unlinks asked
//! through followers, which it carries out.
//!
//! - A tenant **unlinked or destroyed** is revoked at once, wiping its keys, before any other
//!   change is looked at and without waiting for a re-open under way: the kill switch reaches
//!   every core within the feed's delay.
//! - A tenant **linked, relinked, rotated or given a service (version)** is re-opened through
//!   the HSM from its records as they are now, and installed against the ticket taken before
//!   its records were read: the keys in service go on serving meanwhile, and a change that
//!   lands during the re-open (an unlink, a newer re-open) makes it read the records again.
//! - A change to the **installation** (a master-key rotation or retirement, a rekey) stops the
//!   core: it is started again by its service manager and unseals with the installation as it
//!   now is.
//! - An **unlink asked through a follower** (the kill switch pulled there) makes every core take
//!   the tenant as unlinked at once; the leading core carries it out — the tenant's record
//!   unlinked, the request removed — when it learns of it, when it unseals and when it takes the
//!   store over.
//!
//! While sealed the changes wait: the unseal reads every tenant's record, and those that
//! changed meanwhile are applied again once it is unsealed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::Receiver;
use tokio::sync::watch;

use super::Core;
use super::tenants::{REOPEN_TIMEOUT, record_key};
use crate::caller::Caller;
use crate::error::{Error, ErrorChain};
use crate::hierarchy::TenantState;
use crate::hierarchy::records;
use crate::hsm::TenantId;
use crate::store::{Change, Column, StoreError};

/// How often changes that arrived while sealed are looked at again.
const SEALED_RETRY: Duration = Duration::from_millis(200);
/// How many times one tenant is re-opened when its state keeps changing under the re-open.
const REOPEN_TRIES: usize = 4;

impl Core {
    /// The other cores' changes: `None` on RocksDB, and after the first call.
    pub(crate) fn changes(&self) -> Option<Receiver<Vec<Change>>> {
        self.store.changes()
    }

    /// Turns true when this core leads its store.
    pub(crate) fn leading(&self) -> watch::Receiver<bool> {
        self.store.leading()
    }

    /// Once a core that follows takes the store over: what the leader resumes.
    pub(crate) async fn lead_on_takeover(self: Arc<Self>, mut leading: watch::Receiver<bool>) {
        if *leading.borrow_and_update() {
            // Leading from the start: the unseal resumes it.
            return;
        }
        if leading.wait_for(|leads| *leads).await.is_ok() {
            tracing::warn!("this core now leads the store");
            self.resume_leader_work();
        }
    }

    /// What the leading core resumes in the background when it unseals or takes the store
    /// over: the re-seal after a master-key rotation, and the unlinks asked through followers.
    pub(crate) fn resume_leader_work(self: &Arc<Self>) {
        self.resume_resealing();
        // Only a core that leads a store other cores follow has unlinks asked through them.
        if !self.leads() || !self.store.shared() {
            return;
        }
        let core = Arc::clone(self);
        tokio::spawn(async move {
            let asked = core
                .unsealed(|core, unsealed| {
                    records::unlink_requests(&core.store, record_key(unsealed))
                })
                .await;
            match asked {
                Ok(asked) => {
                    for tenant in asked {
                        core.carry_out_unlink(tenant).await;
                    }
                }
                Err(error) => {
                    tracing::error!(error = %ErrorChain(&error), "the unlinks asked through followers could not be read; they are carried out at the next unseal")
                }
            }
        });
    }

    /// Carries out the unlink of `tenant` asked through a follower: as an unlink of its own.
    async fn carry_out_unlink(self: &Arc<Self>, tenant: TenantId) {
        match self.unlink(Caller::Core, tenant.clone(), false).await {
            Ok(sequence) => {
                tracing::warn!(%tenant, audit_sequence = sequence, "the unlink asked through a following core carried out")
            }
            Err(error) => {
                tracing::error!(%tenant, error = %ErrorChain(&error), "the unlink asked through a following core was not carried out; every core takes the tenant as unlinked meanwhile")
            }
        }
    }

    /// Applies the other cores' changes as `changes` delivers them, until it ends (the core
    /// stops). An installation change is `Err`: the core stops.
    pub(crate) async fn follow(
        self: &Arc<Self>,
        mut changes: Receiver<Vec<Change>>,
    ) -> Result<(), Error> {
        let mut waiting = HashSet::new();
        loop {
            let page = tokio::select! {
                page = changes.recv() => page,
                () = tokio::time::sleep(SEALED_RETRY), if !waiting.is_empty() => Some(Vec::new()),
            };
            let Some(page) = page else { break };
            for change in page {
                if change.column == Column::Meta {
                    return Err(Error::Store {
                        context: "following the leading core",
                        source: StoreError::InstallationChanged,
                    });
                }
                waiting.extend(records::changed_tenant(change.column, &change.key));
            }
            if !waiting.is_empty()
                && self
                    .state()
                    .is_ok_and(|state| state == crate::seal::State::Unsealed)
            {
                for tenant in std::mem::take(&mut waiting) {
                    self.catch_up(tenant).await;
                }
            }
        }
        Ok(())
    }

    /// Brings `tenant` in memory to what its records say: revoked at once if unlinked or
    /// destroyed, else re-opened in the background.
    async fn catch_up(self: &Arc<Self>, tenant: TenantId) {
        match self.revoke_if_gone(&tenant).await {
            Ok(true) if self.leads() => {
                let core = Arc::clone(self);
                tokio::spawn(async move {
                    let asked = {
                        let tenant = tenant.clone();
                        core.unsealed(move |core, unsealed| {
                            records::unlink_asked(&core.store, record_key(unsealed), &tenant)
                        })
                        .await
                    };
                    if matches!(asked, Ok(true)) {
                        core.carry_out_unlink(tenant).await;
                    }
                });
            }
            Ok(true) => {}
            Ok(false) => {
                let core = Arc::clone(self);
                tokio::spawn(async move { core.reopen_current(&tenant).await });
            }
            Err(error) => self.fail_closed(&tenant, &error),
        }
    }

    /// Revokes `tenant` if its record says unlinked or is gone: `Ok(true)`. `Ok(false)`: it is
    /// linked.
    async fn revoke_if_gone(self: &Arc<Self>, tenant: &TenantId) -> Result<bool, Error> {
        let tenant = tenant.clone();
        self.unsealed(move |core, unsealed| {
            let record = records::read_tenant(&core.store, record_key(unsealed), &tenant)?;
            let keyring = unsealed.keyring();
            match record {
                Some(record) if record.linked => return Ok(false),
                Some(_) => {
                    keyring.revoke(&tenant, TenantState::Unlinked);
                    tracing::warn!(%tenant, "tenant unlinked through another core: its keys zeroized");
                }
                None => {
                    keyring.remove(&tenant);
                    tracing::warn!(%tenant, "tenant destroyed through another core: its keys zeroized");
                }
            }
            Ok(true)
        })
        .await
    }

    /// Re-opens the linked `tenant` from its records as they are now, and installs its keys
    /// unless its state changed meanwhile; then reads the records again.
    async fn reopen_current(self: &Arc<Self>, tenant: &TenantId) {
        for _ in 0..REOPEN_TRIES {
            let read = {
                let tenant = tenant.clone();
                self.unsealed(move |core, unsealed| {
                    // The ticket before the read: a change landing after it fails the install.
                    let ticket = unsealed.keyring().ticket(&tenant);
                    let record = records::read_tenant(&core.store, record_key(unsealed), &tenant)?;
                    Ok((ticket, record))
                })
                .await
            };
            let (ticket, record) = match read {
                Ok((ticket, Some(record))) if record.linked => (ticket, record),
                // Unlinked or destroyed since: the feed brings that change too.
                Ok(_) => return,
                Err(error) => return self.fail_closed(tenant, &error),
            };
            let state = match tokio::time::timeout(REOPEN_TIMEOUT, self.open_tenant(tenant, record))
                .await
            {
                Ok(Ok(keys)) => TenantState::Active(keys),
                Ok(Err(error)) => TenantState::Unavailable(ErrorChain(&error).to_string()),
                Err(_) => TenantState::Unavailable(format!(
                    "the HSM did not re-open its L2 within {REOPEN_TIMEOUT:?}"
                )),
            };
            match self.install(tenant, ticket, state) {
                Ok(()) => {
                    tracing::info!(%tenant, "tenant re-opened as the leading core changed it");
                    return;
                }
                Err(Error::Sealed | Error::Uninitialized) => return,
                // Changed under the re-open: read again.
                Err(_) => {}
            }
        }
        tracing::error!(%tenant, "the tenant kept changing under its re-open; it waits for the next change");
    }

    /// Makes `tenant` unavailable on this core: what its records say could not be read.
    fn fail_closed(&self, tenant: &TenantId, error: &Error) {
        let reason = format!("following the leading core failed: {}", ErrorChain(error));
        tracing::error!(%tenant, %reason, "tenant failed closed");
        let _unsealed = self.with_unsealed(|unsealed| {
            unsealed
                .keyring()
                .revoke(tenant, TenantState::Unavailable(reason));
            Ok::<_, Error>(())
        });
    }
}
