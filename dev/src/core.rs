//! krypton-core as the dev run starts it, and its unseal ceremony with dev shares kept on disk.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use crate::config::{
    self, Audit, Control, CoreKmip, CoreOrchestration, CoreStore, CoreToml, Hardening, PinFile,
    Pkcs11, Seal, Telemetry,
};
use crate::ctl::{CoreState, Ctl};
use crate::process::Daemon;
use crate::token::HsmSetup;
use crate::{Error, pki, softhsm};

/// How long the core may take to open its store and control socket.
const START_LIMIT: Duration = Duration::from_secs(60);
/// The store's directory within the core's directory.
pub(crate) const STORE_DIR: &str = "store";
/// The core's configuration file, in its directory.
pub(crate) const CONFIG_FILE: &str = "core.toml";
/// The core's audit JSON-lines file, in its directory.
pub(crate) const AUDIT_FILE: &str = "audit.jsonl";
/// The dev split: three shares, any two of which unseal.
const SHARES: u32 = 3;
const THRESHOLD: u32 = 2;

/// What the ceremony had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ceremony {
    /// A new master key was made and split, then the core unsealed with two shares.
    Initialized,
    /// The core came up sealed and was unsealed with two saved shares.
    Unsealed,
    /// The core was unsealed already.
    AlreadyUnsealed,
    /// The core unsealed itself with its seal HSM (the PKCS#11 seal).
    AutoUnsealed,
}

/// What a core serves besides its control socket, where it keeps its records, and whether it
/// records the data path; `Default`: nothing served, RocksDB in its directory, the data path
/// recorded.
#[derive(Debug, Clone, Default)]
pub struct Listeners {
    /// `[store]`; `None`: RocksDB in the core's directory.
    pub store: Option<CoreStore>,
    /// `[kmip]`, for gateways.
    pub kmip: Option<CoreKmip>,
    /// `[telemetry]`'s address.
    pub telemetry: Option<SocketAddr>,
    /// `[orchestration]`, for the governance plane.
    pub orchestration: Option<CoreOrchestration>,
    /// `[audit] data_path = false` and no JSON-lines file (to measure what the audit costs).
    pub without_data_audit: bool,
}

/// A running krypton-core whose files live in one directory: `core.toml`, `store/`,
/// `control.sock` and `audit.jsonl`. Stopped when dropped.
#[derive(Debug)]
pub struct Core {
    daemon: Daemon,
    ctl: Ctl,
    /// Its `[telemetry]` listener, if it has one.
    telemetry: Option<SocketAddr>,
    /// On the PKCS#11 seal: the core unseals itself, the shares only recover.
    auto_unseal: bool,
}

impl Core {
    /// Writes `dir/core.toml` (with `[pkcs11]`, `[seal]`, and the `listeners` given), starts
    /// the core from `bin_dir` with its output in `log`, and waits until its control socket
    /// answers: unless its store is a PostgreSQL store it may stand by for (then
    /// [`Core::wait_for_control`] waits for the takeover).
    pub fn start(
        bin_dir: &Path,
        dir: &Path,
        hsm: Option<&HsmSetup>,
        listeners: Listeners,
        log: &Path,
    ) -> Result<Self, Error> {
        let Listeners {
            store,
            kmip,
            telemetry,
            orchestration,
            without_data_audit,
        } = listeners;
        pki::create_private_dir(dir)?;
        let standby = store.as_ref().is_some_and(CoreStore::standby);
        let socket = dir.join("control.sock");
        let toml = CoreToml {
            data_dir: dir.join(STORE_DIR),
            store,
            control: Control {
                socket: socket.clone(),
            },
            hardening: Hardening {
                allow_unlocked_memory: true,
            },
            pkcs11: hsm.map(|hsm| Pkcs11 {
                module: hsm.module.clone(),
                token_label: hsm.token_label.clone(),
                pin: PinFile {
                    file: hsm.pin_file.clone(),
                },
                call_timeout_ms: hsm.call_timeout_ms,
                liveness: hsm.liveness,
            }),
            seal: hsm.and_then(|hsm| hsm.seal.as_ref()).map(|seal| Seal {
                kind: "pkcs11",
                key_label: seal.key_label.clone(),
                pkcs11: Pkcs11 {
                    module: seal.module.clone(),
                    token_label: seal.token_label.clone(),
                    pin: PinFile {
                        file: seal.pin_file.clone(),
                    },
                    call_timeout_ms: None,
                    liveness: None,
                },
            }),
            kmip,
            telemetry: telemetry.map(|listen| Telemetry { listen }),
            orchestration,
            audit: Audit::new(!without_data_audit, dir.join(AUDIT_FILE)),
        };
        let config_file = dir.join(CONFIG_FILE);
        config::write(&config_file, CONFIG_FILE, &toml)?;
        let ctl_program = bin_dir.join("kryptonctl");
        if !ctl_program.is_file() {
            return Err(Error::MissingBinary(ctl_program));
        }
        // The core opens the token before its control socket answers (see softhsm::token_files).
        let _token_files = hsm.map(|_| softhsm::token_files());
        let env = hsm.map(HsmSetup::core_env).unwrap_or_default();
        let env: Vec<_> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        let daemon = Daemon::spawn(
            "krypton-core",
            &bin_dir.join("krypton-core"),
            &["--config".as_ref(), config_file.as_os_str()],
            &env,
            log,
        )?;
        let mut core = Self {
            daemon,
            ctl: Ctl::new(&ctl_program, &socket),
            telemetry,
            auto_unseal: hsm.is_some_and(|hsm| hsm.seal.is_some()),
        };
        if !standby {
            core.wait_for_control(START_LIMIT)?;
        }
        Ok(core)
    }

    /// Waits up to `limit` for the core's control socket to answer: at once for a core that
    /// owns its store, once it took over for a standby.
    pub fn wait_for_control(&mut self, limit: Duration) -> Result<(), Error> {
        let (ctl, socket) = (&self.ctl, self.ctl.socket().to_owned());
        self.daemon
            .wait_until("answering on its control socket", limit, || {
                socket.exists() && ctl.status().is_ok()
            })
    }

    /// Waits up to `limit` until `tenant` is active on this core: its keys re-opened.
    pub fn wait_for_tenant(&mut self, tenant: &str, limit: Duration) -> Result<(), Error> {
        let ctl = &self.ctl;
        self.daemon.wait_until("serving its tenant", limit, || {
            ctl.tenant_state(tenant).ok().flatten().as_deref() == Some("active")
        })
    }

    /// kryptonctl for this core.
    pub fn ctl(&self) -> &Ctl {
        &self.ctl
    }

    /// Its telemetry listener (`/metrics`, `/healthz`, `/readyz`), if it has one.
    pub fn telemetry(&self) -> Option<SocketAddr> {
        self.telemetry
    }

    /// The core's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.daemon.pid()
    }

    /// The core's log file.
    pub fn log(&self) -> &Path {
        self.daemon.log()
    }

    /// Brings the core to unsealed: a new core is initialised with a 2-of-3 split whose shares
    /// are written to `share_dir` (DEV ONLY: real shares go to their custodians), and a sealed
    /// one is unsealed with two of the shares there. On the PKCS#11 seal the shares are
    /// recovery shares: this waits for the core to unseal itself.
    pub fn ceremony(&mut self, share_dir: &Path) -> Result<Ceremony, Error> {
        let done = match self.ctl.status()? {
            CoreState::Unsealed => return Ok(Ceremony::AlreadyUnsealed),
            CoreState::Uninitialized => {
                if share_files(share_dir).iter().any(|file| file.exists()) {
                    return Err(Error::Inconsistent {
                        path: share_dir.to_owned(),
                        what: "shares of an earlier installation are here, but the core is new",
                    });
                }
                pki::create_private_dir(share_dir)?;
                pki::write_new(
                    &share_dir.join("DEV-ONLY.txt"),
                    b"These shares unseal a krypton-dev core. DEV ONLY: real shares are never kept \
                      together, and never next to the core.\n",
                    0o600,
                )
                .or_else(ignore_existing)?;
                self.ctl.init(SHARES, THRESHOLD, share_dir)?;
                Ceremony::Initialized
            }
            CoreState::Unsealing => {
                self.ctl.reset_unseal()?;
                Ceremony::Unsealed
            }
            CoreState::Sealed => Ceremony::Unsealed,
        };
        if self.auto_unseal {
            let ctl = &self.ctl;
            self.daemon
                .wait_until("unsealed by its seal HSM", START_LIMIT, || {
                    matches!(ctl.status(), Ok(CoreState::Unsealed))
                })?;
            return Ok(match done {
                Ceremony::Initialized => done,
                _ => Ceremony::AutoUnsealed,
            });
        }
        for share in share_files(share_dir).iter().take(THRESHOLD as usize) {
            if !share.exists() {
                return Err(Error::Inconsistent {
                    path: share.clone(),
                    what: "the saved dev share is missing",
                });
            }
            self.ctl.unseal(share)?;
        }
        Ok(done)
    }

    /// Waits until the core's KMIP service accepts connections on `addr`.
    pub fn wait_for_kmip(&mut self, addr: SocketAddr) -> Result<(), Error> {
        self.daemon.wait_for_listener(addr, START_LIMIT)
    }

    /// Fails if the core has exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        self.daemon.check_running()
    }

    /// Stops the core (SIGTERM seals it) and returns how it exited.
    pub fn stop(&mut self) -> Result<Option<ExitStatus>, Error> {
        self.daemon.stop()
    }
}

/// The share files a 2-of-3 dev init writes, in order.
pub fn share_files(share_dir: &Path) -> Vec<PathBuf> {
    (1..=SHARES)
        .map(|i| share_dir.join(format!("share-{i}.txt")))
        .collect()
}

fn ignore_existing(error: Error) -> Result<(), Error> {
    match error {
        Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(())
        }
        other => Err(other),
    }
}
