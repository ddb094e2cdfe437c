//! The install metadata: what `init` recorded about the master key.
//!
//! It must be readable while sealed (the key check is what verifies a rebuilt master key), so
//! it cannot be sealed under that key. It holds no secret and is stored in the clear in the
//! `meta` family, with an HMAC under the master key's metadata key. The tag is checked as soon
//! as the master key is rebuilt: a record edited on disk keeps the core sealed.
//!
//! Stored layout: `tag (32) || CBOR body`; the tag covers the family, the record key and the body.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Bug, Error};
use crate::master_key::MasterKey;
use crate::store::Column;

/// The record key of the install metadata in [`Column::Meta`].
pub(crate) const RECORD_KEY: &[u8] = b"installation";
/// Where a rekey keeps the install record of the new shares until they are confirmed: the
/// bytes that will then be stored at [`RECORD_KEY`], tagged for that place.
pub(crate) const PENDING_RECORD_KEY: &[u8] = b"installation.pending";

const TAG_LEN: usize = 32;
const TAG_LABEL: &[u8] = b"krypton.installation.v1";
/// A genuine record is well under a kilobyte; anything larger is not parsed at all.
const MAX_RECORD_BYTES: usize = 4096;

/// What `init` recorded. Holds no secret.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Installation {
    /// The serialized `shamir::KeyCheck`: verifies the key the shares rebuild (the master key
    /// under the Shamir seal, the recovery key under the PKCS#11 seal).
    key_check: Vec<u8>,
    /// How many shares were handed out.
    shares: u8,
    /// When `init` ran, in seconds since the Unix epoch.
    created_unix_secs: u64,
    /// How the master key is kept. Records written before the PKCS#11 seal have none: Shamir.
    #[serde(default)]
    seal: SealRecord,
}

/// How an installation's master key is kept between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SealRecord {
    /// Split into the shares: K of them rebuild it.
    #[default]
    Shamir,
    /// Sealed by the HSM's seal key (the wrapped-L2 format, bound to the key check). The
    /// shares rebuild only a recovery key, which can never open it.
    Pkcs11 {
        /// The master key as the HSM sealed it.
        sealed_master: Vec<u8>,
    },
}

impl SealRecord {
    /// The seal's name, as `[seal] type` spells it.
    pub(crate) fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Which seal this is.
    pub(crate) fn kind(&self) -> SealKind {
        match self {
            Self::Shamir => SealKind::Shamir,
            Self::Pkcs11 { .. } => SealKind::Pkcs11,
        }
    }
}

/// The two seals, without what they hold: what a rekey moves an installation to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SealKind {
    /// The shares unseal.
    Shamir,
    /// The seal HSM unseals; the shares are recovery shares.
    Pkcs11,
}

impl SealKind {
    /// The seal's name, as `[seal] type` spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Shamir => "shamir",
            Self::Pkcs11 => "pkcs11",
        }
    }
}

/// An install record as read from disk, not yet authenticated.
#[derive(Debug)]
pub(crate) struct StoredInstallation {
    installation: Installation,
    key_check: shamir::KeyCheck,
    body: Vec<u8>,
    tag: [u8; TAG_LEN],
}

impl Installation {
    /// The record of an installation whose master key is kept as `seal` says, with `shares`
    /// shares checked by `key_check`.
    pub(crate) fn new(key_check: &shamir::KeyCheck, shares: u8, seal: SealRecord) -> Self {
        Self {
            key_check: key_check.to_bytes().to_vec(),
            shares,
            created_unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
            seal,
        }
    }

    /// The stored form, tagged under `master`.
    pub(crate) fn encode(&self, master: &MasterKey) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        ciborium::into_writer(self, &mut body)
            .map_err(|source| Error::Internal(Bug::RecordEncode(source)))?;
        let tag = master.metadata_tag(&tag_input(&body));
        let mut stored = Vec::with_capacity(TAG_LEN + body.len());
        stored.extend_from_slice(tag.as_ref());
        stored.extend_from_slice(&body);
        Ok(stored)
    }

    /// How many shares were handed out.
    pub(crate) fn shares(&self) -> u8 {
        self.shares
    }

    /// When `init` ran, in seconds since the Unix epoch.
    pub(crate) fn created_unix_secs(&self) -> u64 {
        self.created_unix_secs
    }

    /// How the master key is kept.
    pub(crate) fn seal(&self) -> &SealRecord {
        &self.seal
    }
}

impl StoredInstallation {
    /// Parses a stored record. Any malformation is reported as tampering: we wrote it whole.
    pub(crate) fn decode(stored: &[u8]) -> Result<Self, Error> {
        let tampered = || Error::TamperedRecord {
            column: Column::Meta,
            key: RECORD_KEY.into(),
        };
        if stored.len() > MAX_RECORD_BYTES || stored.len() < TAG_LEN {
            return Err(tampered());
        }
        let (tag, body) = stored.split_at(TAG_LEN);
        let installation: Installation = ciborium::from_reader(body).map_err(|_| tampered())?;
        let key_check =
            shamir::KeyCheck::from_bytes(&installation.key_check).map_err(|_| tampered())?;
        Ok(Self {
            key_check,
            installation,
            body: body.to_vec(),
            tag: tag.try_into().map_err(|_| tampered())?,
        })
    }

    /// The key check, for rebuilding the master key. Unauthenticated until
    /// [`authenticate`](Self::authenticate): a forged one only makes genuine shares fail.
    pub(crate) fn key_check(&self) -> &shamir::KeyCheck {
        &self.key_check
    }

    /// The recorded metadata, unauthenticated: for display and share pre-checks only.
    pub(crate) fn unverified(&self) -> &Installation {
        &self.installation
    }

    /// Checks the record's tag under the rebuilt `master` key.
    pub(crate) fn authenticate(&self, master: &MasterKey) -> Result<(), Error> {
        if master.verify_metadata_tag(&tag_input(&self.body), &self.tag) {
            Ok(())
        } else {
            Err(Error::TamperedRecord {
                column: Column::Meta,
                key: RECORD_KEY.into(),
            })
        }
    }
}

/// What the tag covers: a label, the family and key the record lives at, and the body.
fn tag_input(body: &[u8]) -> Vec<u8> {
    let family = Column::Meta.name().as_bytes();
    let mut input =
        Vec::with_capacity(TAG_LABEL.len() + family.len() + RECORD_KEY.len() + body.len() + 3);
    for part in [TAG_LABEL, family, RECORD_KEY] {
        // Each part is a short constant; its length byte keeps the parts apart.
        input.push(part.len() as u8);
        input.extend_from_slice(part);
    }
    input.extend_from_slice(body);
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed() -> (MasterKey, shamir::Split, Vec<u8>) {
        let master = MasterKey::generate().unwrap();
        let split = master.split(2, 3).unwrap();
        let stored = Installation::new(&split.key_check, 3, SealRecord::Shamir)
            .encode(&master)
            .unwrap();
        (master, split, stored)
    }

    #[test]
    fn round_trip_authenticates() {
        let (master, split, stored) = installed();
        let decoded = StoredInstallation::decode(&stored).unwrap();
        assert_eq!(decoded.unverified().shares(), 3);
        let rebuilt = MasterKey::combine(&split.shares[..2], decoded.key_check()).unwrap();
        decoded.authenticate(&rebuilt).unwrap();
        assert!(
            StoredInstallation::decode(&stored)
                .unwrap()
                .authenticate(&master)
                .is_ok()
        );
    }

    #[test]
    fn any_edit_is_detected_after_unseal() {
        let (master, _, stored) = installed();
        for i in 0..stored.len() {
            let mut edited = stored.clone();
            edited[i] ^= 0x01;
            let outcome = StoredInstallation::decode(&edited).and_then(|d| d.authenticate(&master));
            assert!(
                matches!(
                    outcome,
                    Err(Error::TamperedRecord {
                        column: Column::Meta,
                        ..
                    })
                ),
                "byte {i} edited and accepted"
            );
        }
    }

    #[test]
    fn another_master_key_does_not_authenticate() {
        let (_, _, stored) = installed();
        let other = MasterKey::generate().unwrap();
        let decoded = StoredInstallation::decode(&stored).unwrap();
        assert!(decoded.authenticate(&other).is_err());
    }

    #[test]
    fn a_record_without_a_seal_is_shamir_and_the_seal_is_authenticated() {
        #[derive(Serialize)]
        struct Before {
            key_check: Vec<u8>,
            shares: u8,
            created_unix_secs: u64,
        }
        let master = MasterKey::generate().unwrap();
        let split = master.split(2, 3).unwrap();
        let mut body = Vec::new();
        ciborium::into_writer(
            &Before {
                key_check: split.key_check.to_bytes().to_vec(),
                shares: 3,
                created_unix_secs: 1,
            },
            &mut body,
        )
        .unwrap();
        let mut stored = master.metadata_tag(&tag_input(&body)).as_ref().to_vec();
        stored.extend_from_slice(&body);
        let decoded = StoredInstallation::decode(&stored).unwrap();
        decoded.authenticate(&master).unwrap();
        assert_eq!(decoded.unverified().seal(), &SealRecord::Shamir);

        let sealed = SealRecord::Pkcs11 {
            sealed_master: vec![1; 68],
        };
        let stored = Installation::new(&split.key_check, 3, sealed.clone())
            .encode(&master)
            .unwrap();
        let decoded = StoredInstallation::decode(&stored).unwrap();
        assert_eq!(decoded.unverified().seal(), &sealed);
        decoded.authenticate(&master).unwrap();
    }

    #[test]
    fn oversized_and_short_records_are_refused_unparsed() {
        for len in [0, TAG_LEN - 1, MAX_RECORD_BYTES + 1] {
            assert!(StoredInstallation::decode(&vec![0; len]).is_err());
        }
    }
}
