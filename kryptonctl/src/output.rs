//! What kryptonctl prints: lines for people, or one JSON document with `--json`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use krypton_control_api::v1;
use krypton_service::doctor::{self, Finding};
use serde_json::{Value, json};

use crate::failure::Failure;
use crate::shares::ShareDir;

/// Printer for one command's result.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    json: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Self { json }
    }

    /// Prints `failure` on one line of stderr and returns its exit code.
    pub(crate) fn failure(self, failure: &Failure) -> ExitCode {
        let reason = failure.reason();
        if self.json {
            let mut error = json!({ "reason": reason.name(), "message": failure.message() });
            if let Some(group) = failure.share_group() {
                error["share_group"] = group.into();
            }
            eprintln!("{}", json!({ "error": error }));
        } else {
            eprintln!("kryptonctl: {}", failure.message());
        }
        reason.exit_code()
    }

    /// The shares of a fresh init: written to `share_dir`, or printed. If writing fails the
    /// shares are printed anyway: the core does not keep them, so this is their only chance.
    pub(crate) fn init(
        self,
        response: &v1::InitResponse,
        share_dir: Option<&ShareDir>,
    ) -> Result<(), Failure> {
        let written = share_dir.map(|dir| dir.write(&response.shares));
        let files = match &written {
            Some(Ok(files)) => Some(files.as_slice()),
            Some(Err(_)) | None => None,
        };
        let installation = response.installation.clone().unwrap_or_default();
        if self.json {
            let mut document = json!({ "installation": installation_json(&installation) });
            document["shares"] = match files {
                Some(files) => files.iter().map(|f| f.display().to_string()).collect(),
                None => response.shares.iter().map(String::as_str).collect(),
            };
            document["shares_are"] = if files.is_some() { "files" } else { "text" }.into();
            println!("{document}");
        } else {
            let purpose = if installation.seal == "pkcs11" {
                "are recovery shares: the seal HSM unseals this core, and the shares never do"
            } else {
                "unseal this core"
            };
            println!(
                "WARNING: the {n} shares are shown once. The core does not keep them and cannot show them again.\n\
                 Give each share to a different custodian. Any {k} of the {n} {purpose}; fewer reveal nothing.\n\
                 Key set {key_set}.",
                n = installation.shares,
                k = installation.threshold,
                key_set = installation.key_set,
            );
            match files {
                Some(files) => {
                    for file in files {
                        println!("  wrote {}", file.display());
                    }
                    println!("Move each file to its custodian, then delete it from this machine.");
                }
                None => {
                    for (index, share) in (1..).zip(&response.shares) {
                        println!("\nShare {index} of {}:\n  {share}", response.shares.len());
                    }
                }
            }
        }
        match written {
            Some(Err(failure)) => Err(failure),
            _ => Ok(()),
        }
    }

    pub(crate) fn unseal(self, response: &v1::UnsealResponse) {
        let progress = response.progress.unwrap_or_default();
        if self.json {
            println!(
                "{}",
                json!({
                    "state": state_name(response.state()),
                    "progress": response.progress.as_ref().map(progress_json),
                    "audit_sequence": response.audit_sequence,
                    "restarted_after_expiry": response.restarted_after_expiry,
                })
            );
            return;
        }
        if response.restarted_after_expiry {
            println!(
                "note: the shares entered earlier had expired and were forgotten; this share starts over"
            );
        }
        match response.audit_sequence {
            Some(sequence) => println!("unsealed (audit record {sequence})"),
            None => println!(
                "share accepted: {}/{} received; the rest must be entered within {}",
                progress.received,
                progress.threshold,
                human_duration(progress.expires_in_secs),
            ),
        }
    }

    pub(crate) fn reset(self, response: &v1::ResetUnsealResponse) {
        if self.json {
            println!("{}", json!({ "discarded": response.discarded }));
        } else {
            println!(
                "unseal progress reset: {} share(s) forgotten",
                response.discarded
            );
        }
    }

    pub(crate) fn reloaded(self, response: &v1::ReloadResponse) {
        let unapplied = &response.restart_only_changes;
        if self.json {
            println!(
                "{}",
                json!({ "reloaded": true, "restart_only_changes": unapplied })
            );
            return;
        }
        println!("configuration reloaded: [kmip.tls] and [[kmip.gateways]] in force");
        if !unapplied.is_empty() {
            println!(
                "changed in the file but not applied until a restart: {}",
                unapplied.join(", ")
            );
        }
    }

    pub(crate) fn master_key_rotated(self, response: &v1::RotateMasterKeyResponse) {
        if self.json {
            println!(
                "{}",
                json!({
                    "version": response.version,
                    "audit_sequence": response.audit_sequence,
                })
            );
        } else {
            println!(
                "master key rotated: version {} seals every write; older records are re-sealed in the background (audit record {})",
                response.version, response.audit_sequence
            );
        }
    }

    /// One line per finding (`ok   hsm: ...`, `FAIL tls: ...`), or `{"findings": [...]}`;
    /// returns how many failed.
    pub(crate) fn doctor(self, findings: &[Finding]) -> usize {
        doctor::print(findings, self.json)
    }

    pub(crate) fn sealed(self, response: &v1::SealResponse) {
        if self.json {
            println!(
                "{}",
                json!({ "state": "sealed", "audit_sequence": response.audit_sequence })
            );
        } else {
            println!(
                "sealed: master key zeroized (audit record {})",
                response.audit_sequence
            );
        }
    }

    /// The new shares of a rekey, as init shows shares, and what to do next.
    pub(crate) fn rekey(
        self,
        response: v1::RekeyResponse,
        share_dir: Option<&ShareDir>,
    ) -> Result<(), Failure> {
        let as_init = v1::InitResponse {
            shares: response.shares,
            installation: response.installation,
        };
        self.init(&as_init, share_dir)?;
        if !self.json {
            println!(
                "The current shares work until K of these new ones confirm them: kryptonctl rekey --confirm --share-file ..."
            );
        }
        Ok(())
    }

    pub(crate) fn backup(self, path: &Path, bytes: u64) {
        if self.json {
            println!(
                "{}",
                json!({ "out": path.display().to_string(), "bytes": bytes })
            );
        } else {
            println!(
                "backup written to {} ({bytes} bytes); restore it offline with krypton-core restore",
                path.display()
            );
        }
    }

    pub(crate) fn rekey_confirmed(self, response: &v1::ConfirmRekeyResponse) {
        let installation = response.installation.clone().unwrap_or_default();
        if self.json {
            println!(
                "{}",
                json!({
                    "installation": installation_json(&installation),
                    "audit_sequence": response.audit_sequence,
                })
            );
        } else {
            println!(
                "rekey confirmed: key set {} (any {} of {}) is in force; the previous shares are refused (audit record {})",
                installation.key_set,
                installation.threshold,
                installation.shares,
                response.audit_sequence
            );
        }
    }

    pub(crate) fn status(self, response: &v1::StatusResponse) {
        if self.json {
            println!(
                "{}",
                json!({
                    "state": state_name(response.state()),
                    "progress": response.progress.as_ref().map(progress_json),
                    "installation": response.installation.as_ref().map(installation_json),
                    "tenants_linked": response.tenants_linked,
                    "store_role": if response.follows { "follows" } else { "leads" },
                    "unavailable_tenants": response
                        .unavailable_tenants
                        .iter()
                        .map(|t| json!({ "tenant": t.tenant, "reason": t.reason }))
                        .collect::<Vec<_>>(),
                    "uptime_secs": response.uptime_secs,
                    "audit_sequence": response.audit_sequence,
                    "auto_unseal_error": (!response.auto_unseal_error.is_empty())
                        .then_some(&response.auto_unseal_error),
                    "master_key": response.master_key.as_ref().map(|key| json!({
                        "version": key.version,
                        "retiring": key.retiring,
                        "resealed": key.resealed,
                    })),
                    "orchestration": response.orchestration.as_ref().map(|o| json!({
                        "grpc_listen": (!o.grpc_listen.is_empty()).then_some(&o.grpc_listen),
                        "amqp": o.amqp.as_ref().map(|amqp| json!({
                            "connected": amqp.connected,
                            "backlog": amqp.backlog,
                            "last_task_id": amqp.last_task_id,
                            "last_task_type": amqp.last_task_type,
                            "last_task_unix_secs": amqp.last_task_unix_secs,
                        })),
                    })),
                })
            );
            return;
        }
        println!("state:          {}", state_name(response.state()));
        if response.follows {
            println!("store:          follows the core that leads it (changes go there)");
        }
        if let Some(progress) = &response.progress {
            println!(
                "unseal:         {}/{} shares received, expires in {}",
                progress.received,
                progress.threshold,
                human_duration(progress.expires_in_secs)
            );
        }
        if !response.auto_unseal_error.is_empty() {
            println!(
                "AUTO-UNSEAL:    failing, retrying: {}",
                response.auto_unseal_error
            );
        }
        if let Some(installation) = &response.installation {
            println!("seal:           {}", installation.seal);
            println!("key set:        {}", installation.key_set);
            println!(
                "shares:         any {} of {}",
                installation.threshold, installation.shares
            );
            println!(
                "initialized:    {}",
                humantime::format_rfc3339_seconds(
                    UNIX_EPOCH + Duration::from_secs(installation.created_unix_secs)
                )
            );
        }
        if let Some(key) = &response.master_key {
            println!("master key:     {}", master_key_line(key));
        }
        println!("tenants linked: {}", response.tenants_linked);
        if let Some(orchestration) = &response.orchestration {
            for line in orchestration_lines(orchestration) {
                println!("orchestration:  {line}");
            }
        }
        for unavailable in &response.unavailable_tenants {
            println!(
                "UNAVAILABLE:    tenant {}: {}",
                unavailable.tenant, unavailable.reason
            );
        }
        println!("uptime:         {}", human_duration(response.uptime_secs));
        if let Some(sequence) = response.audit_sequence {
            println!("audit record:   {sequence}");
        }
    }

    pub(crate) fn audit(self, response: &v1::AuditLogResponse) {
        if self.json {
            let records: Vec<Value> = response.records.iter().map(audit_json).collect();
            println!(
                "{}",
                json!({ "records": records, "audit_sequence": response.audit_sequence })
            );
        } else {
            self.audit_lines(&response.records);
        }
    }

    /// Records one per line, as `audit tail --follow` prints them (with `--json`, a document
    /// each).
    pub(crate) fn audit_lines(self, records: &[v1::AuditRecord]) {
        for record in records {
            if self.json {
                println!("{}", audit_json(record));
                continue;
            }
            let time = UNIX_EPOCH + Duration::from_millis(record.time_unix_millis);
            let optional = |label: &str, value: &Option<String>| {
                value
                    .as_ref()
                    .map(|value| format!("  {label}{value}"))
                    .unwrap_or_default()
            };
            println!(
                "{:>8}  {}  {:<14}  {}{}{}{}",
                record.sequence,
                humantime::format_rfc3339_millis(time),
                record.operation,
                record.caller,
                optional("", &record.subject),
                optional("REFUSED: ", &record.refused),
                optional("correlation=", &record.correlation),
            );
        }
    }

    /// The verdict of `audit verify` when intact (a broken log is an error, printed as one).
    pub(crate) fn audit_verified(self, response: &v1::VerifyAuditResponse) {
        if !response.intact {
            return;
        }
        if self.json {
            println!(
                "{}",
                json!({
                    "intact": true,
                    "first_sequence": response.first_sequence,
                    "last_sequence": response.last_sequence,
                    "unchained": response.unchained,
                    "audit_sequence": response.audit_sequence,
                })
            );
        } else if response.last_sequence == 0 {
            println!("audit log intact: empty");
        } else {
            println!(
                "audit log intact: records {} to {}, {} of them written before the chain (audit record {})",
                response.first_sequence,
                response.last_sequence,
                response.unchained,
                response.audit_sequence
            );
        }
    }

    pub(crate) fn linked(self, tenant: &str, response: &v1::LinkTenantResponse) {
        if self.json {
            println!(
                "{}",
                json!({ "tenant": tenant, "relinked": response.relinked, "audit_sequence": response.audit_sequence })
            );
        } else if response.relinked {
            println!(
                "tenant {tenant} relinked: its stored L2 re-opened by the HSM (audit record {})",
                response.audit_sequence
            );
        } else {
            println!(
                "tenant {tenant} linked: new L2 wrapped by the HSM (audit record {})",
                response.audit_sequence
            );
        }
    }

    pub(crate) fn unlinked(
        self,
        tenant: &str,
        destroyed: bool,
        response: &v1::UnlinkTenantResponse,
    ) {
        if self.json {
            println!(
                "{}",
                json!({ "tenant": tenant, "destroyed": destroyed, "audit_sequence": response.audit_sequence })
            );
        } else if destroyed {
            println!(
                "tenant {tenant} destroyed: keys zeroized, wrapped keys deleted; nothing wrapped for it can be unwrapped again (audit record {})",
                response.audit_sequence
            );
        } else {
            println!(
                "tenant {tenant} unlinked: keys zeroized; relink with the same L1 to restore (audit record {})",
                response.audit_sequence
            );
        }
    }

    pub(crate) fn tenants(self, response: &v1::ListTenantsResponse) {
        if self.json {
            let tenants: Vec<Value> = response
                .tenants
                .iter()
                .map(|t| {
                    json!({
                        "tenant": t.tenant,
                        "l1_label": t.l1_label,
                        "state": tenant_state_name(t.state()),
                        "reason": t.reason,
                        "services": t.services,
                        "l2_version": t.l2_version,
                        "archived_l2_versions": t.archived_l2_versions,
                    })
                })
                .collect();
            println!(
                "{}",
                json!({ "tenants": tenants, "audit_sequence": response.audit_sequence })
            );
            return;
        }
        println!(
            "{:<24}  {:<12}  {:>8}  {:<18}  L1",
            "TENANT", "STATE", "SERVICES", "L2"
        );
        for t in &response.tenants {
            println!(
                "{:<24}  {:<12}  {:>8}  {:<18}  {}{}",
                t.tenant,
                tenant_state_name(t.state()),
                t.services,
                l2_text(t),
                t.l1_label,
                t.reason
                    .as_ref()
                    .map(|reason| format!("\n    reason: {reason}"))
                    .unwrap_or_default(),
            );
        }
    }

    pub(crate) fn service(self, response: &v1::ServiceResponse) {
        let service = response.service.clone().unwrap_or_default();
        if self.json {
            let mut document = service_json(&service);
            document["audit_sequence"] = response.audit_sequence.into();
            println!("{document}");
        } else {
            println!(
                "service {}/{} active version {} ({}): KMIP identifier {} (audit record {})",
                service.tenant,
                service.service,
                service.current_version,
                versions_text(&service),
                service.unique_identifier,
                response.audit_sequence
            );
        }
    }

    pub(crate) fn services(self, response: &v1::ListServicesResponse) {
        if self.json {
            let services: Vec<Value> = response.services.iter().map(service_json).collect();
            println!(
                "{}",
                json!({ "services": services, "audit_sequence": response.audit_sequence })
            );
            return;
        }
        println!(
            "{:<24}  {:>7}  {:<24}  VERSIONS",
            "SERVICE", "ACTIVE", "KMIP IDENTIFIER"
        );
        for s in &response.services {
            println!(
                "{:<24}  {:>7}  {:<24}  {}",
                s.service,
                s.current_version,
                s.unique_identifier,
                versions_text(s)
            );
        }
    }

    pub(crate) fn rewrap_status(self, service: &v1::Service) {
        if self.json {
            println!("{}", service_json(service));
            return;
        }
        println!(
            "service {}/{} active version {} ({})",
            service.tenant,
            service.service,
            service.current_version,
            versions_text(service)
        );
        if service.rewrap.is_empty() {
            println!("no gateway has reported a re-wrap pass since the core started");
            return;
        }
        println!(
            "{:<24}  {:<20}  {:<20}  BEHIND",
            "GATEWAY", "PASS STARTED", "REPORTED"
        );
        for report in &service.rewrap {
            let behind = if report.behind.is_empty() {
                "nothing".to_owned()
            } else {
                report
                    .behind
                    .iter()
                    .map(|b| format!("v{}: {}", b.version, b.records))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "{:<24}  {:<20}  {:<20}  {behind}",
                report.gateway,
                unix_time(report.pass_started_unix_secs),
                unix_time(report.reported_unix_secs),
            );
        }
    }

    pub(crate) fn l2_rotated(self, tenant: &str, response: &v1::RotateTenantL2Response) {
        if self.json {
            println!(
                "{}",
                json!({
                    "tenant": tenant,
                    "l2_version": response.l2_version,
                    "audit_sequence": response.audit_sequence,
                })
            );
        } else {
            println!(
                "tenant {tenant} now has L2 v{}: its service keys are sealed under it; the old L2 is destroyed once its registry objects are re-sealed (see `tenant list`) (audit record {})",
                response.l2_version, response.audit_sequence
            );
        }
    }

    pub(crate) fn moved(self, tenant: &str, l1: &str, response: &v1::MoveTenantL1Response) {
        if self.json {
            println!(
                "{}",
                json!({
                    "tenant": tenant,
                    "l1_label": l1,
                    "previous_l1_label": response.previous_l1_label,
                    "moved": response.moved,
                    "audit_sequence": response.audit_sequence,
                })
            );
        } else if response.moved {
            println!(
                "tenant {tenant} moved from L1 {} to L1 {l1}: its L2 is wrapped by the new key only; the old one may be deleted from the HSM (audit record {})",
                response.previous_l1_label, response.audit_sequence
            );
        } else {
            println!("tenant {tenant} is on L1 {l1} already: nothing changed");
        }
    }
}

/// `v3`, or `v3 (retiring v2)` while an L2 rotation's re-seal runs.
fn l2_text(tenant: &v1::Tenant) -> String {
    let archived: Vec<String> = tenant
        .archived_l2_versions
        .iter()
        .map(|v| format!("v{v}"))
        .collect();
    if archived.is_empty() {
        format!("v{}", tenant.l2_version)
    } else {
        format!("v{} (retiring {})", tenant.l2_version, archived.join(","))
    }
}

fn audit_json(record: &v1::AuditRecord) -> Value {
    json!({
        "sequence": record.sequence,
        "time_unix_millis": record.time_unix_millis,
        "operation": record.operation,
        "caller": record.caller,
        "subject": record.subject,
        "outcome": if record.refused.is_some() { "refused" } else { "ok" },
        "reason": record.refused,
        "correlation": record.correlation,
    })
}

fn service_json(service: &v1::Service) -> Value {
    let versions: Vec<Value> = service
        .versions
        .iter()
        .map(|v| json!({ "version": v.version, "state": version_state_name(v.state()) }))
        .collect();
    let rewrap: Vec<Value> = service
        .rewrap
        .iter()
        .map(|report| {
            let behind: Vec<Value> = report
                .behind
                .iter()
                .map(|b| json!({ "version": b.version, "records": b.records }))
                .collect();
            json!({
                "gateway": report.gateway,
                "pass_started_unix_secs": report.pass_started_unix_secs,
                "reported_unix_secs": report.reported_unix_secs,
                "behind": behind,
            })
        })
        .collect();
    json!({
        "tenant": service.tenant,
        "service": service.service,
        "unique_identifier": service.unique_identifier,
        "current_version": service.current_version,
        "versions": versions,
        "rewrap": rewrap,
    })
}

/// Unix seconds as an RFC 3339 time (UTC); one before 1970 as the number.
fn unix_time(seconds: i64) -> String {
    u64::try_from(seconds).map_or_else(
        |_| seconds.to_string(),
        |seconds| {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds)).to_string()
        },
    )
}

/// `1:retired 2:decrypt-only 3:active`.
fn versions_text(service: &v1::Service) -> String {
    service
        .versions
        .iter()
        .map(|v| format!("{}:{}", v.version, version_state_name(v.state())))
        .collect::<Vec<_>>()
        .join(" ")
}

fn version_state_name(state: v1::ServiceVersionState) -> &'static str {
    match state {
        v1::ServiceVersionState::Unspecified => "unknown",
        v1::ServiceVersionState::Active => "active",
        v1::ServiceVersionState::DecryptOnly => "decrypt-only",
        v1::ServiceVersionState::Retired => "retired",
        v1::ServiceVersionState::Destroyed => "destroyed",
    }
}

fn tenant_state_name(state: v1::TenantState) -> &'static str {
    match state {
        v1::TenantState::Unspecified => "unknown",
        v1::TenantState::Active => "active",
        v1::TenantState::Opening => "opening",
        v1::TenantState::Unavailable => "unavailable",
        v1::TenantState::Unlinked => "unlinked",
    }
}

fn state_name(state: v1::State) -> &'static str {
    match state {
        v1::State::Unspecified => "unknown",
        v1::State::Uninitialized => "uninitialized",
        v1::State::Sealed => "sealed",
        v1::State::Unsealing => "unsealing",
        v1::State::Unsealed => "unsealed",
    }
}

fn progress_json(progress: &v1::UnsealProgress) -> Value {
    json!({
        "received": progress.received,
        "threshold": progress.threshold,
        "expires_in_secs": progress.expires_in_secs,
    })
}

fn installation_json(installation: &v1::Installation) -> Value {
    json!({
        "key_set": installation.key_set,
        "threshold": installation.threshold,
        "shares": installation.shares,
        "created_unix_secs": installation.created_unix_secs,
        "seal": installation.seal,
    })
}

fn human_duration(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// The master key's version and, while a rotation is being completed, what is left of it.
/// The orchestration links, one line each: the gRPC listener, then the broker.
fn orchestration_lines(orchestration: &v1::Orchestration) -> Vec<String> {
    let mut lines = Vec::new();
    if !orchestration.grpc_listen.is_empty() {
        lines.push(format!("gRPC on {}", orchestration.grpc_listen));
    }
    if let Some(amqp) = &orchestration.amqp {
        let state = if amqp.connected {
            "connected"
        } else {
            "DISCONNECTED, reconnecting"
        };
        let last = match (&amqp.last_task_id, &amqp.last_task_type) {
            (Some(id), Some(kind)) => format!("; last task {kind} {id}"),
            _ => String::new(),
        };
        lines.push(format!(
            "broker {state}; {} tasks waiting{last}",
            amqp.backlog
        ));
    }
    lines
}

fn master_key_line(key: &v1::MasterKey) -> String {
    if key.retiring.is_empty() {
        return format!("version {}", key.version);
    }
    let retiring: Vec<String> = key.retiring.iter().map(u32::to_string).collect();
    format!(
        "version {}; retiring version {} ({} records re-sealed so far)",
        key.version,
        retiring.join(", "),
        key.resealed
    )
}
