//! Test harness for Krypton's end-to-end suites: a throw-away SoftHSM2 installation per test
//! process, with one token per test and customer root keys (L1) generated inside the token.
//!
//! SoftHSM2 reads its configuration file from `SOFTHSM2_CONF` when the module is initialised, and a
//! process may initialise a PKCS#11 module once. So a suite calls [`SoftHsm::install`] first thing in
//! its own `main` (the suites are `harness = false`), before any thread exists; the processes the
//! tests spawn (krypton-core) inherit the same configuration and see the same tokens.

mod softhsm;

pub use softhsm::{Error, SoftHsm, TestToken};
