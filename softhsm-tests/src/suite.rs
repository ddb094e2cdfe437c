//! The `main` of a SoftHSM2 suite. SoftHSM2 takes its configuration from an environment variable
//! that must be set before any thread starts, so the installation is made first and shared by
//! every test, which libtest-mimic then runs as `cargo test` would (filters, `--list`, threads).
//!
//! - [`run`]: tests that each bring up their own krypton-core + krypton-gateway stack on one dev
//!   token ([`Fixture`]), with their own data dir, ports and processes, stopped when dropped.
//! - [`run_on_softhsm`]: tests of the PKCS#11 layer on a bare temporary installation.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use krypton_dev::softhsm::{self, SoftHsm};
use krypton_dev::stall::HsmStall;
use krypton_dev::token::{self, HsmSetup, TOKEN_LABEL};
use krypton_dev::{Stack, StackConfig, StackVault};
use libtest_mimic::{Arguments, Failed, Trial};

use crate::binaries::{debug_bin_dir, debug_binary};

/// A test of a stack suite.
pub type Test = fn(&Fixture);

/// A test of a suite on a bare SoftHSM2 installation.
pub type HsmTest = fn(&SoftHsm) -> Result<(), Failed>;

/// What every test of a suite shares: the dev token and the PKCS#11 context that made it.
#[derive(Debug, Clone)]
pub struct Fixture {
    hsm: HsmSetup,
    softhsm: Arc<SoftHsm>,
}

impl Fixture {
    /// The HSM set-up whose L1 the stacks' tenant is linked to.
    pub fn hsm(&self) -> &HsmSetup {
        &self.hsm
    }

    /// A stack of the debug binaries on a temporary data dir and free ports.
    pub fn stack(&self) -> Stack {
        self.stack_with(self.hsm.clone())
    }

    /// As [`Fixture::stack`], with the tenant linked to the L1 of `hsm` (see [`Fixture::new_l1`]).
    pub fn stack_with(&self, hsm: HsmSetup) -> Stack {
        Self::start(StackConfig::new(&debug_bin_dir(), hsm))
    }

    /// As [`Fixture::stack`], with the gateway's keys in `vault`.
    pub fn stack_on(&self, vault: StackVault) -> Stack {
        Self::start(StackConfig {
            vault,
            ..StackConfig::new(&debug_bin_dir(), self.hsm.clone())
        })
    }

    /// A stack of the debug binaries configured as `edit` leaves [`StackConfig::new`]'s.
    pub fn stack_configured(&self, edit: impl FnOnce(&mut StackConfig)) -> Stack {
        let mut config = StackConfig::new(&debug_bin_dir(), self.hsm.clone());
        edit(&mut config);
        Self::start(config)
    }

    fn start(config: StackConfig) -> Stack {
        for name in ["krypton-core", "kryptonctl", "krypton-gateway"] {
            debug_binary(name).unwrap_or_else(|message| panic!("{message}"));
        }
        Stack::start(config).unwrap_or_else(|error| panic!("the stack did not start: {error}"))
    }

    /// Generates an L1 key labelled `label` in the dev token, for a test that goes on to delete
    /// it; returns the set-up that links to it.
    pub fn new_l1(&self, label: &str) -> HsmSetup {
        let token = self.token();
        token
            .generate_l1(label)
            .unwrap_or_else(|error| panic!("cannot generate L1 {label}: {error}"));
        HsmSetup {
            l1_label: label.to_owned(),
            ..self.hsm.clone()
        }
    }

    /// The fixture's HSM with the PKCS#11 seal: the master key sealed by the seal key in the
    /// seal token (made once per suite), whose PIN is written to `pin_file` (a new file the
    /// test owns, so that it may swap it).
    pub fn sealed_hsm(&self, pin_file: &Path) -> HsmSetup {
        // Tests run in parallel: one of them makes the token, the others find it.
        static PREPARING: Mutex<()> = Mutex::new(());
        let _preparing = PREPARING.lock().unwrap_or_else(PoisonError::into_inner);
        let seal = token::prepare_seal_in(&self.softhsm, pin_file)
            .unwrap_or_else(|error| panic!("cannot prepare the seal token: {error}"));
        HsmSetup {
            seal: Some(seal),
            ..self.hsm.clone()
        }
    }

    /// Deletes the L1 labelled `label` from the dev token, as a customer revoking Krypton's
    /// access at the HSM would.
    pub fn delete_l1(&self, label: &str) {
        self.token()
            .delete_key(label)
            .unwrap_or_else(|error| panic!("cannot delete L1 {label}: {error}"));
    }

    /// The dev token, for a test that reads what only the customer's HSM can (its L1).
    pub fn token(&self) -> softhsm::Token<'_> {
        self.softhsm
            .open_token(TOKEN_LABEL)
            .ok()
            .flatten()
            .expect("the dev token made by the suite")
    }
}

/// How long the core may take to re-open a tenant's L2 through the HSM (after an unseal or a
/// relink): a bound against a hang, not a speed expectation.
pub const REOPEN_LIMIT: Duration = Duration::from_secs(30);

/// Waits until the stack's tenant is in `state` as `kryptonctl tenant list` reports it, for
/// at most `limit`.
pub fn wait_for_tenant(stack: &Stack, state: &str, limit: Duration) {
    let tenant = &stack.config().tenant;
    let deadline = Instant::now() + limit;
    loop {
        let now = stack
            .core()
            .ctl()
            .tenant_state(tenant)
            .unwrap_or_else(|error| {
                panic!("kryptonctl tenant list failed: {error}");
            });
        if now.as_deref() == Some(state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tenant {tenant} is {now:?}, not {state}, after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The fixture's HSM reached through OpenSC's PKCS#11 spy, whose FIFO `stall` holds: a core
/// started with the returned set-up can be made to hang in every HSM call ([`HsmStall::stall`]).
/// The [`HsmStall`] must outlive the core; `fifo` is a path in a directory the test owns.
pub fn stalling_hsm(fixture: &Fixture, fifo: &Path) -> (HsmStall, HsmSetup) {
    // Opened before the core loads the module: the spy waits for the FIFO's reader.
    let stall =
        HsmStall::open(fifo).unwrap_or_else(|error| panic!("cannot open the stall: {error}"));
    let mut hsm = fixture.hsm().clone();
    hsm.module = HsmStall::spy_module();
    hsm.extra_env = HsmStall::envs(&softhsm::module(), fifo).to_vec();
    (stall, hsm)
}

/// Makes the dev token, runs `tests` (filtered and reported as `cargo test` does) and removes
/// the token again.
///
/// # Safety
/// Sets `SOFTHSM2_CONF` for the process: call it first thing in `main`, before any thread starts.
pub unsafe fn run(tests: &[(&'static str, Test)]) -> ExitCode {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("cannot make the suite's temporary directory: {error}");
            return ExitCode::FAILURE;
        }
    };
    let hsm_dir = dir.path().join("softhsm");
    // SAFETY: the caller's guarantee, passed on.
    let prepared = unsafe { SoftHsm::install_in(&hsm_dir) }
        .map_err(krypton_dev::Error::from)
        .and_then(|softhsm| Ok((token::prepare_in(&softhsm, &hsm_dir)?, softhsm)));
    let fixture = match prepared {
        Ok((hsm, softhsm)) => Fixture {
            hsm,
            softhsm: Arc::new(softhsm),
        },
        Err(error) => {
            eprintln!("cannot set up the SoftHSM2 token (is softhsm2 installed?): {error}");
            return ExitCode::FAILURE;
        }
    };
    let trials = tests
        .iter()
        .map(|&(name, test)| {
            let fixture = fixture.clone();
            Trial::test(name, move || {
                test(&fixture);
                Ok(())
            })
        })
        .collect();
    let exit = libtest_mimic::run(&Arguments::from_args(), trials).exit_code();
    drop(fixture);
    drop(dir);
    exit
}

/// Makes a temporary SoftHSM2 installation (no token yet), runs `tests` on it and removes it.
///
/// # Safety
/// As [`run`]: first thing in `main`, before any thread starts.
pub unsafe fn run_on_softhsm(tests: &[(&'static str, HsmTest)]) -> ExitCode {
    // SAFETY: the caller's guarantee, passed on.
    let hsm = match unsafe { SoftHsm::install() } {
        Ok(hsm) => Arc::new(hsm),
        Err(error) => {
            eprintln!("cannot set up SoftHSM2 (is the softhsm2 package installed?): {error}");
            return ExitCode::FAILURE;
        }
    };
    let trials = tests
        .iter()
        .map(|&(name, test)| {
            let hsm = Arc::clone(&hsm);
            Trial::test(name, move || test(&hsm))
        })
        .collect();
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}
