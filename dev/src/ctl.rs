//! kryptonctl, run as an operator would run it, with `--json` so its answers are read exactly.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::Error;
use crate::process::run_bounded;

/// The longest one kryptonctl command may take (its own request timeout is shorter).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// The core's state, as `kryptonctl status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoreState {
    Uninitialized,
    Sealed,
    Unsealing,
    Unsealed,
}

/// One gateway's last re-wrap report on a service, as `kryptonctl service rewrap-status`
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewrapReport {
    /// When the reported pass began, Unix seconds.
    pub pass_started_unix_secs: i64,
    /// The records it left under each older version, for the versions with any.
    pub behind: BTreeMap<u64, u64>,
}

/// kryptonctl talking to one core's control socket.
#[derive(Debug, Clone)]
pub struct Ctl {
    program: PathBuf,
    socket: PathBuf,
}

impl Ctl {
    pub fn new(program: &Path, socket: &Path) -> Self {
        Self {
            program: program.to_owned(),
            socket: socket.to_owned(),
        }
    }

    /// The control socket this talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The core's state.
    pub fn status(&self) -> Result<CoreState, Error> {
        let answer = self.run(&["status".as_ref()])?;
        match answer.get("state").and_then(Value::as_str) {
            Some("uninitialized") => Ok(CoreState::Uninitialized),
            Some("sealed") => Ok(CoreState::Sealed),
            Some("unsealing") => Ok(CoreState::Unsealing),
            Some("unsealed") => Ok(CoreState::Unsealed),
            _ => Err(Error::CtlOutput {
                command: "status".to_owned(),
                output: answer.to_string(),
            }),
        }
    }

    /// The tenants `kryptonctl status` reports unavailable, with the reason of each.
    pub fn unavailable_tenants(&self) -> Result<Vec<(String, String)>, Error> {
        let answer = self.run(&["status".as_ref()])?;
        let listed = answer["unavailable_tenants"]
            .as_array()
            .into_iter()
            .flatten();
        Ok(listed
            .filter_map(|entry| {
                let tenant = entry["tenant"].as_str()?;
                Some((tenant.to_owned(), entry["reason"].as_str()?.to_owned()))
            })
            .collect())
    }

    /// Why the core's last auto-unseal failed, while it is sealed on the PKCS#11 seal.
    pub fn auto_unseal_error(&self) -> Result<Option<String>, Error> {
        let answer = self.run(&["status".as_ref()])?;
        Ok(answer["auto_unseal_error"].as_str().map(str::to_owned))
    }

    /// Generates the master key and writes `shares` shares, any `threshold` of which unseal,
    /// to `share_dir/share-<i>.txt`.
    pub fn init(&self, shares: u32, threshold: u32, share_dir: &Path) -> Result<(), Error> {
        let (shares, threshold) = (shares.to_string(), threshold.to_string());
        self.run(&[
            "init".as_ref(),
            "--shares".as_ref(),
            shares.as_ref(),
            "--threshold".as_ref(),
            threshold.as_ref(),
            "--share-dir".as_ref(),
            share_dir.as_os_str(),
        ])
        .map(drop)
    }

    /// Submits the share in `share_file`.
    pub fn unseal(&self, share_file: &Path) -> Result<(), Error> {
        self.run(&[
            "unseal".as_ref(),
            "--share-file".as_ref(),
            share_file.as_os_str(),
        ])
        .map(drop)
    }

    /// Starts a rekey authorized by the shares in `current`: `shares` new shares, any
    /// `threshold` of which unseal, written to `share_dir/share-<i>.txt`, for the seal `seal`
    /// (`"shamir"`, `"pkcs11"`; `None`: the installation's own). Returns the new key set's id.
    pub fn rekey(
        &self,
        current: &[PathBuf],
        (shares, threshold): (u32, u32),
        seal: Option<&str>,
        share_dir: &Path,
    ) -> Result<String, Error> {
        let (shares, threshold) = (shares.to_string(), threshold.to_string());
        let mut args: Vec<&OsStr> = vec![
            "rekey".as_ref(),
            "--shares".as_ref(),
            shares.as_ref(),
            "--threshold".as_ref(),
            threshold.as_ref(),
            "--share-dir".as_ref(),
            share_dir.as_os_str(),
        ];
        if let Some(seal) = seal {
            args.extend([OsStr::new("--seal"), OsStr::new(seal)]);
        }
        args.extend(share_file_args(current));
        let answer = self.run(&args)?;
        Ok(answer["installation"]["key_set"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Confirms the rekey with the new shares in `new`: from then on only they work.
    pub fn confirm_rekey(&self, new: &[PathBuf]) -> Result<(), Error> {
        let mut args: Vec<&OsStr> = vec!["rekey".as_ref(), "--confirm".as_ref()];
        args.extend(share_file_args(new));
        self.run(&args).map(drop)
    }

    /// Writes a backup of the core's store to `out` (a new file).
    pub fn backup(&self, out: &Path) -> Result<(), Error> {
        self.run(&["backup".as_ref(), "--out".as_ref(), out.as_os_str()])
            .map(drop)
    }

    /// The key set in force, as `kryptonctl status` reports it.
    pub fn key_set(&self) -> Result<String, Error> {
        let answer = self.run(&["status".as_ref()])?;
        Ok(answer["installation"]["key_set"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Rotates the master key's record key; returns the new version.
    pub fn rotate_master_key(&self) -> Result<u64, Error> {
        let command = ["master-key", "rotate"];
        let answer = self.run(&command.map(AsRef::as_ref))?;
        answer["version"].as_u64().ok_or_else(|| Error::CtlOutput {
            command: command.join(" "),
            output: answer.to_string(),
        })
    }

    /// The master key's version and the older versions still being retired, as `status`
    /// reports them (`None` unless unsealed).
    pub fn master_key(&self) -> Result<Option<(u64, Vec<u64>)>, Error> {
        let answer = self.run(&["status".as_ref()])?;
        let key = &answer["master_key"];
        let (Some(version), Some(retiring)) = (key["version"].as_u64(), key["retiring"].as_array())
        else {
            return Ok(None);
        };
        Ok(Some((
            version,
            retiring.iter().filter_map(Value::as_u64).collect(),
        )))
    }

    /// Forgets the shares submitted so far.
    pub fn reset_unseal(&self) -> Result<(), Error> {
        self.run(&["unseal".as_ref(), "--reset".as_ref()]).map(drop)
    }

    /// Links `tenant` to the L1 key labelled `l1_label` in the configured token.
    pub fn link_tenant(&self, tenant: &str, l1_label: &str) -> Result<(), Error> {
        self.run(&[
            "tenant".as_ref(),
            "link".as_ref(),
            tenant.as_ref(),
            "--l1".as_ref(),
            l1_label.as_ref(),
        ])
        .map(drop)
    }

    /// Seals the core: every key is wiped from memory until the next unseal.
    pub fn seal(&self) -> Result<(), Error> {
        self.run(&["seal".as_ref()]).map(drop)
    }

    /// The kill switch: wipes `tenant`'s L2 and L3s now (a later [`Ctl::link_tenant`] with the
    /// same L1 restores them).
    pub fn unlink_tenant(&self, tenant: &str) -> Result<(), Error> {
        self.run(&["tenant".as_ref(), "unlink".as_ref(), tenant.as_ref()])
            .map(drop)
    }

    /// Unlinks `tenant` and deletes its wrapped keys and registry objects for good.
    pub fn destroy_tenant(&self, tenant: &str) -> Result<(), Error> {
        let args: [&OsStr; 5] = [
            "tenant".as_ref(),
            "unlink".as_ref(),
            tenant.as_ref(),
            "--destroy".as_ref(),
            "--yes".as_ref(),
        ];
        self.run(&args).map(drop)
    }

    /// The newest `limit` records of the audit log, as `kryptonctl --json audit tail` prints
    /// them.
    pub fn audit_tail(&self, limit: u32) -> Result<Vec<Value>, Error> {
        let limit = limit.to_string();
        let args: [&OsStr; 4] = [
            "audit".as_ref(),
            "tail".as_ref(),
            "--limit".as_ref(),
            limit.as_ref(),
        ];
        let answer = self.run(&args)?;
        Ok(answer["records"].as_array().cloned().unwrap_or_default())
    }

    /// The newest `limit` records that `filter` matches (pairs of `audit tail` options and
    /// values, e.g. `("--operation", "backup")`), however many data-path records came after.
    pub fn audit_search(&self, limit: u32, filter: &[(&str, &str)]) -> Result<Vec<Value>, Error> {
        let limit = limit.to_string();
        let mut args: Vec<&OsStr> = vec![
            "audit".as_ref(),
            "tail".as_ref(),
            "--limit".as_ref(),
            limit.as_ref(),
        ];
        for (option, value) in filter {
            args.push(option.as_ref());
            args.push(value.as_ref());
        }
        let answer = self.run(&args)?;
        Ok(answer["records"].as_array().cloned().unwrap_or_default())
    }

    /// `kryptonctl --json audit verify`'s verdict on an intact log (a broken one is an error).
    pub fn audit_verify(&self) -> Result<Value, Error> {
        self.run(&["audit".as_ref(), "verify".as_ref()])
    }

    /// Why `tenant` is unavailable, as `kryptonctl tenant list` reports it.
    pub fn tenant_reason(&self, tenant: &str) -> Result<Option<String>, Error> {
        let answer = self.run(&["tenant".as_ref(), "list".as_ref()])?;
        let tenants = answer["tenants"].as_array().into_iter().flatten();
        Ok(tenants
            .filter(|entry| entry["tenant"] == tenant)
            .find_map(|entry| entry["reason"].as_str().map(str::to_owned)))
    }

    /// `tenant`'s state as `kryptonctl tenant list` reports it ("active", "unlinked",
    /// "unavailable"), or `None` for an unknown tenant.
    pub fn tenant_state(&self, tenant: &str) -> Result<Option<String>, Error> {
        let answer = self.run(&["tenant".as_ref(), "list".as_ref()])?;
        let tenants = answer["tenants"].as_array().into_iter().flatten();
        Ok(tenants
            .filter(|entry| entry["tenant"] == tenant)
            .find_map(|entry| entry["state"].as_str().map(str::to_owned)))
    }

    /// Creates the L3 of `service` in `tenant`.
    pub fn create_service(&self, tenant: &str, service: &str) -> Result<(), Error> {
        self.run(&[
            "service".as_ref(),
            "create".as_ref(),
            tenant.as_ref(),
            service.as_ref(),
        ])
        .map(drop)
    }

    /// Adds a key version to `service` of `tenant` for new wraps; returns the new version.
    pub fn rotate_service(&self, tenant: &str, service: &str) -> Result<u64, Error> {
        let command = ["service", "rotate", tenant, service];
        let answer = self.run(&command.map(AsRef::as_ref))?;
        answer["current_version"]
            .as_u64()
            .ok_or_else(|| Error::CtlOutput {
                command: command.join(" "),
                output: answer.to_string(),
            })
    }

    /// Retires version `version` of `service` of `tenant` (`change` "retire"), reinstates it
    /// ("reinstate") or destroys it ("destroy-version"); returns the service's versions as
    /// `(version, state)`.
    pub fn change_version(
        &self,
        tenant: &str,
        service: &str,
        version: u32,
        change: &str,
    ) -> Result<Vec<(u64, String)>, Error> {
        let version = version.to_string();
        let mut command = vec!["service", change, tenant, service, "--version", &version];
        if change == "destroy-version" {
            command.push("--yes");
        }
        let args: Vec<&OsStr> = command.iter().map(AsRef::as_ref).collect();
        let answer = self.run(&args)?;
        Ok(versions_of(&answer))
    }

    /// The versions of `service` of `tenant` and their states, as `kryptonctl service list`
    /// reports them.
    pub fn service_versions(
        &self,
        tenant: &str,
        service: &str,
    ) -> Result<Vec<(u64, String)>, Error> {
        let answer = self.run(&["service".as_ref(), "list".as_ref(), tenant.as_ref()])?;
        Ok(answer["services"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|entry| entry["service"] == service)
            .map(versions_of)
            .unwrap_or_default())
    }

    /// What each gateway last reported of its re-wrap of `service` of `tenant`, as
    /// `kryptonctl service rewrap-status` shows it, by gateway.
    pub fn rewrap_status(
        &self,
        tenant: &str,
        service: &str,
    ) -> Result<BTreeMap<String, RewrapReport>, Error> {
        let command = ["service", "rewrap-status", tenant, service];
        let answer = self.run(&command.map(AsRef::as_ref))?;
        Ok(answer["rewrap"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|report| {
                let behind = report["behind"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| {
                        let count = |field: &str| b[field].as_u64().unwrap_or_default();
                        (count("version"), count("records"))
                    })
                    .collect();
                let gateway = report["gateway"].as_str().unwrap_or_default().to_owned();
                let pass_started_unix_secs = report["pass_started_unix_secs"]
                    .as_i64()
                    .unwrap_or_default();
                let report = RewrapReport {
                    pass_started_unix_secs,
                    behind,
                };
                (gateway, report)
            })
            .collect())
    }

    /// Moves `tenant` to the L1 labelled `l1_label`.
    pub fn move_l1(&self, tenant: &str, l1_label: &str) -> Result<(), Error> {
        let command = ["tenant", "move-l1", tenant, "--l1", l1_label];
        self.run(&command.map(AsRef::as_ref)).map(drop)
    }

    /// Gives `tenant` a new L2; returns its version.
    pub fn rotate_l2(&self, tenant: &str) -> Result<u64, Error> {
        let answer = self.run(&["tenant", "rotate-l2", tenant].map(AsRef::as_ref))?;
        Ok(answer["l2_version"].as_u64().unwrap_or_default())
    }

    /// The label of `tenant`'s L1, as `kryptonctl tenant list` reports it.
    pub fn tenant_l1(&self, tenant: &str) -> Result<Option<String>, Error> {
        Ok(self
            .tenant_entry(tenant)?
            .and_then(|entry| entry["l1_label"].as_str().map(str::to_owned)))
    }

    /// `tenant`'s L2 version and the archived versions still held, as `kryptonctl tenant
    /// list` reports them.
    pub fn tenant_l2(&self, tenant: &str) -> Result<Option<(u64, Vec<u64>)>, Error> {
        Ok(self.tenant_entry(tenant)?.map(|entry| {
            let archived = entry["archived_l2_versions"]
                .as_array()
                .into_iter()
                .flatten();
            (
                entry["l2_version"].as_u64().unwrap_or_default(),
                archived.filter_map(Value::as_u64).collect(),
            )
        }))
    }

    fn tenant_entry(&self, tenant: &str) -> Result<Option<Value>, Error> {
        let mut answer = self.run(&["tenant".as_ref(), "list".as_ref()])?;
        let tenants = answer["tenants"].as_array_mut().map(std::mem::take);
        Ok(tenants
            .into_iter()
            .flatten()
            .find(|entry| entry["tenant"] == tenant))
    }

    /// The whole `kryptonctl --json status` document.
    pub fn status_document(&self) -> Result<Value, Error> {
        self.run(&["status".as_ref()])
    }

    /// Runs one command and returns the JSON document it printed (`null` if it printed none).
    /// Arguments never carry a secret: shares travel in files.
    fn run(&self, args: &[&OsStr]) -> Result<Value, Error> {
        let command_line = args
            .iter()
            .map(|arg| arg.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = Command::new(&self.program);
        command
            .arg("--socket")
            .arg(&self.socket)
            .arg("--json")
            .args(args.iter().map(OsString::from));
        let Some(output) = run_bounded(command, COMMAND_LIMIT)? else {
            return Err(Error::CtlTimeout {
                command: command_line,
                waited: COMMAND_LIMIT,
            });
        };
        if !output.status.success() {
            let (reason, message) = failure(&output.stderr);
            return Err(Error::Ctl {
                command: command_line,
                status: output.status,
                reason,
                message,
            });
        }
        let stdout = output.stdout.trim();
        if stdout.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(stdout).map_err(|_| Error::CtlOutput {
            command: command_line,
            output: stdout.to_owned(),
        })
    }
}

/// `--share-file FILE` for each of `files`.
fn share_file_args(files: &[PathBuf]) -> impl Iterator<Item = &OsStr> {
    files
        .iter()
        .flat_map(|file| ["--share-file".as_ref(), file.as_os_str()])
}

/// The reason and message of kryptonctl's JSON error (`{"error": {"reason", "message"}}`), or
/// its stderr as it is when that is not JSON.
fn failure(stderr: &str) -> (String, String) {
    let error = serde_json::from_str::<Value>(stderr.trim())
        .ok()
        .and_then(|document| document.get("error").cloned());
    let field = |name| {
        error
            .as_ref()
            .and_then(|e| e.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match (field("reason"), field("message")) {
        (Some(reason), Some(message)) => (reason, message),
        _ => ("unknown".to_owned(), stderr.trim().to_owned()),
    }
}

/// The `(version, state)` pairs of a service as `kryptonctl --json` prints it.
fn versions_of(service: &Value) -> Vec<(u64, String)> {
    service["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| Some((v["version"].as_u64()?, v["state"].as_str()?.to_owned())))
        .collect()
}
