//! What each gateway last said of its re-wrap (`gateway/src/rewrap.rs`): at the end of every
//! pass over its vault it reports, for each service key it serves, when the pass began and how
//! many records it left under each older version (Krypton's Rewrap Report). `kryptonctl service
//! rewrap-status` shows them, so an operator sees from the core, for the whole fleet of
//! gateways, when an old version can be retired.
//!
//! Held in memory only: it is progress, not state, and the gateways send it again at the end
//! of each pass. Bounded: one report per (service key, gateway), only for a service key that
//! exists, with at most one count per older version.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kmip::DateTime;

use super::Core;
use crate::error::RequestError;
use crate::hierarchy::{self, L3Id};

/// The reports of every gateway, by service key then gateway.
#[derive(Debug, Default)]
pub(super) struct RewrapProgress {
    reports: Mutex<HashMap<L3Id, BTreeMap<String, GatewayRewrap>>>,
}

/// One gateway's last report on one service key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GatewayRewrap {
    /// The gateway's identity (its client certificate's name).
    pub(crate) gateway: String,
    /// When the reported pass began: records written before then and not behind are under the
    /// version that was active then.
    pub(crate) pass_started: DateTime,
    /// When the core received the report.
    pub(crate) reported: DateTime,
    /// Records left under each older version, for the versions with any.
    pub(crate) behind: BTreeMap<u32, u64>,
}

/// A gateway's report as the KMIP service read it, not yet checked against the service key.
#[derive(Debug)]
pub(crate) struct RewrapReport {
    pub(crate) l3: L3Id,
    pub(crate) gateway: String,
    pub(crate) pass_started: DateTime,
    pub(crate) behind: Vec<(u32, u64)>,
}

impl Core {
    /// Keeps `report` in place of its gateway's last one for that service key. Refused for a
    /// service key the keyring does not hold, and for a version that is not older than the
    /// active one.
    pub(crate) async fn record_rewrap(
        self: &Arc<Self>,
        report: RewrapReport,
    ) -> Result<(), RequestError> {
        let l3 = report.l3.clone();
        let current = self
            .keys(move |_, unsealed| hierarchy::current_version(unsealed.keyring(), &l3))
            .await?;
        if report
            .behind
            .iter()
            .any(|&(version, _)| version == 0 || version >= current)
        {
            return Err(RequestError::InvalidRequest(
                "a Version Behind names a version that is not older than the active one",
            ));
        }
        let kept = GatewayRewrap {
            gateway: report.gateway.clone(),
            pass_started: report.pass_started,
            reported: DateTime::now(),
            behind: report.behind.into_iter().filter(|(_, n)| *n > 0).collect(),
        };
        self.rewrap_progress
            .lock()
            .entry(report.l3)
            .or_default()
            .insert(report.gateway, kept);
        Ok(())
    }

    /// The last report of every gateway on `l3`, by gateway.
    pub(crate) fn rewrap_reports(&self, l3: &L3Id) -> Vec<GatewayRewrap> {
        self.rewrap_progress
            .lock()
            .get(l3)
            .map(|reports| reports.values().cloned().collect())
            .unwrap_or_default()
    }
}

impl RewrapProgress {
    fn lock(&self) -> MutexGuard<'_, HashMap<L3Id, BTreeMap<String, GatewayRewrap>>> {
        // Each report is inserted whole: a panic elsewhere cannot have left one half-written.
        self.reports.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
