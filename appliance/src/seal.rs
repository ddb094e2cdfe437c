//! The core's lifecycle, as a state machine whose states own what they hold.
//!
//! ```text
//! Uninitialized --init--> Sealed --share--> Unsealing --K-th share--> Unsealed
//!                           ^  |               |  (reset, expiry,        ^  |
//!                           |  |               |   wrong share set)      |  |
//!                           +--|---------------+----------seal-----------|--+
//!                              +------------- HSM seal opened -----------+
//! ```
//!
//! An installation on the PKCS#11 seal goes from `Sealed` to `Unsealed` in one step, with the
//! master key the HSM opened ([`Sealed::auto_unseal`]); its shares are recovery shares and are
//! refused before they are counted.
//!
//! Every start begins `Sealed` (or `Uninitialized`). Transitions consume the state they leave,
//! so the shares of an abandoned attempt and the keys of a sealed core are dropped, and wiped,
//! by the move itself. This module does no I/O; [`crate::core`] persists and audits.

use std::sync::Arc;
use std::time::Instant;

use crate::error::Error;
use crate::hierarchy::Keyring;
use crate::installation::{SealRecord, StoredInstallation};
use crate::master_key::MasterKey;
use crate::record_keys::RecordKeys;

/// Which state the core is in, for reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// No master key has been generated for this data directory.
    Uninitialized,
    /// Initialized, holding no share and no key.
    Sealed,
    /// Holding fewer shares than the threshold.
    Unsealing,
    /// Holding the master key; cryptographic requests are served.
    Unsealed,
}

/// How far an unseal attempt has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Distinct valid shares received.
    pub(crate) received: usize,
    /// Shares needed.
    pub(crate) threshold: u8,
    /// When the shares received so far are forgotten.
    pub(crate) deadline: Instant,
}

/// The lifecycle state together with what it holds.
#[derive(Debug)]
pub(crate) enum Lifecycle {
    Uninitialized,
    Sealed(Sealed),
    Unsealing(Unsealing),
    Unsealed(Unsealed),
}

/// Initialized and holding nothing secret.
#[derive(Debug)]
pub(crate) struct Sealed {
    installation: StoredInstallation,
}

/// Collecting shares. The shares are secret and wiped when this value is dropped.
pub(crate) struct Unsealing {
    installation: StoredInstallation,
    shares: Vec<shamir::Share>,
    deadline: Instant,
}

/// Holding the master key, rebuilt and verified, with an authenticated install record, and
/// the tenants' keys re-opened since.
#[derive(Debug)]
pub(crate) struct Unsealed {
    installation: StoredInstallation,
    master: MasterKey,
    /// Version 1 only until the core puts the stored versions in force
    /// ([`Unsealed::load_records`]).
    records: RecordKeys,
    keyring: Arc<Keyring>,
}

/// What adding a share led to.
#[derive(Debug)]
pub(crate) enum AddShare {
    /// Accepted; more shares are needed.
    Pending(Unsealing),
    /// Accepted, and the threshold reached: the master key is rebuilt and verified.
    Unsealed(Unsealed),
    /// Refused without being counted; the state is as it was before.
    Refused(Lifecycle, Error),
    /// The threshold was reached but the shares did not rebuild this installation's master key
    /// (or its install record failed authentication): every share is forgotten.
    Failed(Sealed, Error),
}

impl std::fmt::Debug for Unsealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsealing")
            .field("received", &self.shares.len())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Lifecycle {
    /// The state a core starts in, given the install record on disk (if any).
    pub(crate) fn boot(installation: Option<StoredInstallation>) -> Self {
        match installation {
            None => Self::Uninitialized,
            Some(installation) => Self::Sealed(Sealed::new(installation)),
        }
    }

    /// The state's name.
    pub(crate) fn state(&self) -> State {
        match self {
            Self::Uninitialized => State::Uninitialized,
            Self::Sealed(_) => State::Sealed,
            Self::Unsealing(_) => State::Unsealing,
            Self::Unsealed(_) => State::Unsealed,
        }
    }

    /// The install record, once initialized.
    pub(crate) fn installation(&self) -> Option<&StoredInstallation> {
        match self {
            Self::Uninitialized => None,
            Self::Sealed(s) => Some(&s.installation),
            Self::Unsealing(u) => Some(&u.installation),
            Self::Unsealed(u) => Some(&u.installation),
        }
    }

    /// Forgets an unseal attempt whose deadline has passed. Returns the new state and whether
    /// an attempt was forgotten.
    pub(crate) fn expire(self, now: Instant) -> (Self, bool) {
        match self {
            Self::Unsealing(attempt) if attempt.is_expired(now) => {
                (Self::Sealed(attempt.reset().0), true)
            }
            other => (other, false),
        }
    }
}

impl Sealed {
    /// The sealed state of an installation.
    pub(crate) fn new(installation: StoredInstallation) -> Self {
        Self { installation }
    }

    /// Unseals with `master`, as the HSM seal opened it, once it authenticates the install
    /// record; otherwise stays sealed.
    pub(crate) fn auto_unseal(self, master: MasterKey) -> AddShare {
        match self.installation.authenticate(&master) {
            Ok(()) => Unsealed::open(self.installation, master),
            Err(error) => AddShare::Failed(self, error),
        }
    }

    /// Starts an unseal attempt with its first share; the attempt expires at `deadline`.
    pub(crate) fn add_share(self, share: shamir::Share, deadline: Instant) -> AddShare {
        if let Err(refusal) = admit(&self.installation, &[], &share) {
            return AddShare::Refused(Lifecycle::Sealed(self), refusal);
        }
        Unsealing {
            installation: self.installation,
            shares: Vec::new(),
            deadline,
        }
        .accept(share)
    }
}

impl Unsealing {
    /// Adds one more share.
    pub(crate) fn add_share(self, share: shamir::Share) -> AddShare {
        match admit(&self.installation, &self.shares, &share) {
            Ok(()) => self.accept(share),
            Err(refusal) => AddShare::Refused(Lifecycle::Unsealing(self), refusal),
        }
    }

    /// Forgets every share received; returns the sealed state and how many were forgotten.
    pub(crate) fn reset(self) -> (Sealed, usize) {
        let discarded = self.shares.len();
        (Sealed::new(self.installation), discarded)
    }

    /// Whether the attempt's deadline has passed at `now`.
    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        now >= self.deadline
    }

    /// How far the attempt has come.
    pub(crate) fn progress(&self) -> Progress {
        Progress {
            received: self.shares.len(),
            threshold: self.installation.key_check().threshold(),
            deadline: self.deadline,
        }
    }

    fn accept(mut self, share: shamir::Share) -> AddShare {
        self.shares.push(share);
        if self.shares.len() < usize::from(self.installation.key_check().threshold()) {
            return AddShare::Pending(self);
        }
        let rebuilt =
            MasterKey::combine(&self.shares, self.installation.key_check()).and_then(|master| {
                self.installation.authenticate(&master)?;
                Ok(master)
            });
        match rebuilt {
            Ok(master) => Unsealed::open(self.installation, master),
            Err(error) => AddShare::Failed(Sealed::new(self.installation), error),
        }
    }
}

impl Unsealed {
    /// The unsealed state of `installation`, once `master` authenticated it.
    fn open(installation: StoredInstallation, master: MasterKey) -> AddShare {
        match RecordKeys::first(&master) {
            Ok(records) => AddShare::Unsealed(Self {
                installation,
                master,
                records,
                keyring: Arc::default(),
            }),
            Err(error) => AddShare::Failed(Sealed::new(installation), error),
        }
    }

    /// Puts in force the versions of the record key read from the store: the first thing the
    /// core does once unsealed, before any record is read or written.
    pub(crate) fn load_records(&mut self, records: RecordKeys) {
        self.records = records;
    }

    /// The versions of the record key, which seal and open the core's own records.
    pub(crate) fn records(&self) -> &RecordKeys {
        &self.records
    }

    /// The versions of the record key, to rotate or retire, and the master key that seals
    /// them.
    pub(crate) fn records_mut(&mut self) -> (&mut RecordKeys, &MasterKey) {
        (&mut self.records, &self.master)
    }

    /// Drops, and so wipes, the master key and every key derived from it, and every tenant's
    /// L2 and L3s.
    pub(crate) fn seal(self) -> Sealed {
        self.keyring.close();
        Sealed::new(self.installation)
    }

    /// The tenants' keys.
    pub(crate) fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }

    /// The master key.
    pub(crate) fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The install record in force.
    pub(crate) fn installation(&self) -> &StoredInstallation {
        &self.installation
    }

    /// Puts `installation` in force (a confirmed rekey), once it authenticates under the
    /// master key.
    pub(crate) fn reinstall(&mut self, installation: StoredInstallation) -> Result<(), Error> {
        installation.authenticate(&self.master)?;
        self.installation = installation;
        Ok(())
    }
}

/// Refuses a share that cannot belong to this attempt, before it is counted: any share of an
/// installation on the HSM seal (a recovery share), one from another key set, with another
/// threshold, or with an index already received.
fn admit(
    installation: &StoredInstallation,
    received: &[shamir::Share],
    share: &shamir::Share,
) -> Result<(), Error> {
    if installation.unverified().seal() != &SealRecord::Shamir {
        return Err(Error::RecoveryShare);
    }
    installation.key_check().admit(share)?;
    if received.iter().any(|r| r.index() == share.index()) {
        return Err(shamir::Error::DuplicateIndex {
            index: share.index(),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::installation::Installation;

    struct Fixture {
        installation: StoredInstallation,
        shares: Vec<shamir::Share>,
    }

    /// A fresh K-of-N installation, its install record signed by the genuine master key but
    /// holding `key_check` as edited by `edit`.
    fn installed(threshold: u8, count: u8, edit: impl FnOnce(&mut [u8])) -> Fixture {
        let master = MasterKey::generate().unwrap();
        let split = master.split(threshold, count).unwrap();
        let mut key_check = split.key_check.to_bytes();
        edit(&mut key_check);
        let key_check = shamir::KeyCheck::from_bytes(&key_check).unwrap();
        let stored = Installation::new(&key_check, count, SealRecord::Shamir)
            .encode(&master)
            .unwrap();
        Fixture {
            installation: StoredInstallation::decode(&stored).unwrap(),
            shares: split.shares,
        }
    }

    fn genuine(threshold: u8, count: u8) -> Fixture {
        installed(threshold, count, |_| {})
    }

    fn copy(share: &shamir::Share) -> shamir::Share {
        share.to_string().parse().unwrap()
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(600)
    }

    fn pending(step: AddShare) -> Unsealing {
        match step {
            AddShare::Pending(attempt) => attempt,
            other => panic!("expected Pending, got {other:?}"),
        }
    }

    #[test]
    fn boots_uninitialized_or_sealed() {
        assert_eq!(Lifecycle::boot(None).state(), State::Uninitialized);
        let fixture = genuine(2, 3);
        assert_eq!(
            Lifecycle::boot(Some(fixture.installation)).state(),
            State::Sealed
        );
    }

    #[test]
    fn threshold_shares_unseal_and_seal_forgets_the_key() {
        let fixture = genuine(3, 5);
        let sealed = Sealed::new(fixture.installation);
        let attempt = pending(sealed.add_share(copy(&fixture.shares[4]), deadline()));
        assert_eq!(attempt.progress().received, 1);
        assert_eq!(attempt.progress().threshold, 3);
        let attempt = pending(attempt.add_share(copy(&fixture.shares[0])));
        let AddShare::Unsealed(unsealed) = attempt.add_share(copy(&fixture.shares[2])) else {
            panic!("three shares did not unseal");
        };
        let sealed = unsealed.seal();
        assert_eq!(Lifecycle::Sealed(sealed).state(), State::Sealed);
    }

    #[test]
    fn refused_shares_leave_the_state_as_it_was() {
        let fixture = genuine(3, 5);
        let foreign = genuine(3, 5);
        let sealed = Sealed::new(fixture.installation);
        let AddShare::Refused(Lifecycle::Sealed(sealed), error) =
            sealed.add_share(copy(&foreign.shares[0]), deadline())
        else {
            panic!("a foreign first share was not refused");
        };
        assert!(
            matches!(
                error,
                Error::ShareRefused {
                    source: shamir::Error::ForeignKeySet { .. },
                    ..
                }
            ),
            "{error}"
        );

        let attempt = pending(sealed.add_share(copy(&fixture.shares[1]), deadline()));
        let AddShare::Refused(Lifecycle::Unsealing(attempt), error) =
            attempt.add_share(copy(&fixture.shares[1]))
        else {
            panic!("a duplicate share was not refused");
        };
        assert!(
            matches!(
                error,
                Error::ShareRefused {
                    source: shamir::Error::DuplicateIndex { index: 2 },
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(attempt.progress().received, 1);
    }

    #[test]
    fn a_set_that_fails_the_key_check_forgets_every_share() {
        let fixture = installed(2, 3, |key_check| {
            let last = key_check.len() - 1;
            key_check[last] ^= 1;
        });
        let attempt = pending(
            Sealed::new(fixture.installation).add_share(copy(&fixture.shares[0]), deadline()),
        );
        let AddShare::Failed(_sealed, error) = attempt.add_share(copy(&fixture.shares[1])) else {
            panic!("a wrong set unsealed");
        };
        assert!(matches!(error, Error::WrongShares(_)), "{error}");
    }

    #[test]
    fn an_install_record_signed_by_another_key_fails_after_combining() {
        let fixture = genuine(2, 3);
        // The same key check, tagged under an unrelated master key.
        let other = MasterKey::generate().unwrap();
        let stored = Installation::new(fixture.installation.key_check(), 3, SealRecord::Shamir)
            .encode(&other)
            .unwrap();
        let sealed = Sealed::new(StoredInstallation::decode(&stored).unwrap());
        let attempt = pending(sealed.add_share(copy(&fixture.shares[0]), deadline()));
        let AddShare::Failed(_sealed, error) = attempt.add_share(copy(&fixture.shares[2])) else {
            panic!("an unauthenticated install record unsealed");
        };
        assert!(matches!(error, Error::TamperedRecord { .. }), "{error}");
    }

    #[test]
    fn recovery_shares_never_unseal_and_the_hsm_master_key_does() {
        let master = MasterKey::generate().unwrap();
        let recovery = MasterKey::generate().unwrap().split(2, 3).unwrap();
        let seal = SealRecord::Pkcs11 {
            sealed_master: vec![0; 68],
        };
        let stored = Installation::new(&recovery.key_check, 3, seal)
            .encode(&master)
            .unwrap();
        let sealed = Sealed::new(StoredInstallation::decode(&stored).unwrap());
        let AddShare::Refused(Lifecycle::Sealed(sealed), error) =
            sealed.add_share(copy(&recovery.shares[0]), deadline())
        else {
            panic!("a recovery share was counted");
        };
        assert!(matches!(error, Error::RecoveryShare), "{error}");

        let AddShare::Failed(sealed, error) = sealed.auto_unseal(MasterKey::generate().unwrap())
        else {
            panic!("another master key unsealed");
        };
        assert!(matches!(error, Error::TamperedRecord { .. }), "{error}");
        let AddShare::Unsealed(unsealed) = sealed.auto_unseal(master) else {
            panic!("the installation's master key did not unseal");
        };
        assert_eq!(Lifecycle::Unsealed(unsealed).state(), State::Unsealed);
    }

    #[test]
    fn attempts_expire_and_reset() {
        let fixture = genuine(2, 3);
        let start = Instant::now();
        let deadline = start + Duration::from_secs(10);
        let attempt = pending(
            Sealed::new(fixture.installation).add_share(copy(&fixture.shares[0]), deadline),
        );
        assert!(!attempt.is_expired(start));
        assert!(attempt.is_expired(deadline));

        let (lifecycle, expired) =
            Lifecycle::Unsealing(attempt).expire(start + Duration::from_secs(9));
        assert!(!expired);
        assert_eq!(lifecycle.state(), State::Unsealing);
        let (lifecycle, expired) = lifecycle.expire(deadline);
        assert!(expired);
        assert_eq!(lifecycle.state(), State::Sealed);

        let Lifecycle::Sealed(sealed) = lifecycle else {
            unreachable!()
        };
        let attempt = pending(sealed.add_share(copy(&fixture.shares[2]), deadline));
        let (_sealed, discarded) = attempt.reset();
        assert_eq!(discarded, 1);
    }
}
