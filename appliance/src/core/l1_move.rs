//! Moving a tenant to another L1: the customer rotates or replaces its root key in the HSM,
//! and the tenant's L2 — and so every L3 and L4 under it — goes with it unchanged.
//!
//! Authorized as a link is (an operator on the control socket). The steps, each bounded by the
//! HSM's call timeout:
//!
//! 1. the old L1 opens the stored L2 (so the move proves the old key still works, and the L2
//!    it wraps is the one in memory, compared in constant time);
//! 2. the new L1 wraps it, and opens the result again (so the new key is usable for unwrap,
//!    `CKA_DECRYPT`, before anything depends on it);
//! 3. one write replaces the tenant record's L1 label and wrapped L2, with its audit record.
//!
//! A kill before step 3 leaves the record on the old L1; after it, on the new one: the tenant is
//! usable under one of the two at every point, and the old L1 may be deleted from the HSM once
//! the move has answered. The liveness watch probes the new L1 from then on.

use std::sync::Arc;

use super::Core;
use super::tenants::record_key;
use crate::audit::Operation;
use crate::caller::Caller;
use crate::error::Error;
use crate::hierarchy::Origin;
use crate::hierarchy::records::{self, TenantRecord};
use crate::hsm::{L1Ref, TenantId};
use crate::store::Column;

/// What a move did.
#[derive(Debug)]
pub(crate) struct L1Move {
    /// False if the tenant was on that L1 already: nothing was written.
    pub(crate) moved: bool,
    pub(crate) previous_l1_label: String,
    pub(crate) audit_sequence: u64,
}

impl Core {
    /// Moves the active `tenant` to the L1 labelled `l1_label`.
    pub(crate) async fn move_l1(
        self: &Arc<Self>,
        caller: Caller,
        tenant: TenantId,
        l1_label: String,
    ) -> Result<L1Move, Error> {
        let hsm = self.hsm.as_ref().ok_or(Error::HsmNotConfigured)?;
        let new_l1 = L1Ref::label(l1_label.clone()).map_err(Error::InvalidName)?;
        let _admin = self.admin().await?;
        // Older L2 versions an L2 rotation still holds are wrapped by the old L1: they are
        // retired first, so that nothing is left depending on the L1 being replaced.
        self.retire_archived_l2(&tenant).await?;
        // Moving needs the L2 the old L1 opens to be the one in use.
        let (record, ticket) = self.active_record(&tenant).await?;
        let previous_l1_label = record.l1_label.clone();
        if previous_l1_label == l1_label {
            return Ok(L1Move {
                moved: false,
                previous_l1_label,
                audit_sequence: 0,
            });
        }
        let old_l1 = L1Ref::label(previous_l1_label.clone()).map_err(Error::InvalidName)?;
        let old_wrapped = records::wrapped_l2(&tenant, &record)?;
        let l2 = hsm
            .unwrap_l2(&old_l1, &tenant, &old_wrapped)
            .await
            .map_err(Error::Hsm)?;
        let new_wrapped = self.wrap_checked(&new_l1, &tenant, &l2).await?;
        self.unsealed(move |core, unsealed| {
            let keyring = unsealed.keyring();
            if !keyring.holds_l2(&tenant, ticket, &l2) {
                return Err(Error::TenantUnavailable {
                    tenant,
                    reason: "its state changed while the HSM moved its L2; nothing was moved"
                        .to_owned(),
                });
            }
            let moved = TenantRecord {
                l1_label: l1_label.clone(),
                wrapped_l2: new_wrapped.to_bytes(),
                ..record
            };
            let mut batch = core.store.batch(record_key(unsealed));
            batch.put_sealed(Column::Tenants, &records::tenant_key(&tenant), &moved)?;
            core.audit.stage_about(
                &mut batch,
                Operation::TenantMoveL1,
                &caller,
                Some(format!("{tenant} l1={previous_l1_label}->{l1_label}")),
            )?;
            let audit_sequence = batch.commit_audited()?;
            let origin = Origin {
                l1: new_l1,
                version: moved.l2_version,
                wrapped: new_wrapped,
            };
            if keyring.move_origin(&tenant, ticket, origin).is_err() {
                // Revoked between the check and here: the revocation stands, and the record,
                // on the new L1, is what a relink opens.
                tracing::warn!(%tenant, "tenant revoked during its L1 move; the move is stored");
            }
            tracing::warn!(%caller, %tenant, from = %previous_l1_label, to = %l1_label, audit_sequence, "tenant moved to another L1");
            Ok(L1Move {
                moved: true,
                previous_l1_label,
                audit_sequence,
            })
        })
        .await
    }
}
