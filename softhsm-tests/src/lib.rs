//! What Krypton's end-to-end suites share besides krypton-dev (whose `softhsm` module is their
//! SoftHSM2 harness and whose `Stack` brings up core and gateway): finding the workspace's
//! binaries and the Python that runs PyKMIP ([`binaries`]), the `main` of a suite whose tests
//! each start their own core + gateway stack on one dev token ([`suite`]), PyKMIP as an
//! application of the gateway ([`pykmip`]), krypton-load as one ([`load`]), and mutual TLS to the gateway for the suites that
//! speak KMIP from Rust ([`tls`]).

pub mod binaries;
pub mod load;
pub mod pykmip;
pub mod suite;
pub mod tls;

pub use binaries::{debug_bin_dir, debug_binary, python};
