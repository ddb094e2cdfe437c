//! The wrapped data key (L4) a gateway stores: self-describing, so rotation is transparent and
//! blobs of an older format keep opening.
//!
//! Both formats share one layout, integers big-endian:
//!
//! | offset | size | field                                               |
//! |--------|------|-----------------------------------------------------|
//! | 0      | 1    | format: 2 (written), or 1 (still read)              |
//! | 1      | 4    | the L3 version that sealed it                       |
//! | 5      | 12   | nonce, drawn at random by the core                  |
//! | 17     | n    | ciphertext of the L4 (n = its length, 1 to 65536)   |
//! | 17 + n | 16   | tag                                                 |
//!
//! **Format 2** seals with AES-256-GCM-SIV (docs/architecture.md says why) under the associated
//! data
//!
//! ```text
//! "krypton/l4-wrap/v2\0" || len16(tenant) || tenant || len16(service) || service
//!                        || L3 version (4) || len16(owner) || owner || len16(id) || id
//! ```
//!
//! where `len16` is a field's length in two bytes. The tenant and service are those of the L3
//! the request names (`l3/<tenant>/<service>`); the owner and identifier are the
//! [`WrapBinding`] the gateway sends as additional data. A blob moved or copied to another
//! owner's or another key's record, or pointed at another service or tenant, or relabelled with
//! another version, does not open.
//!
//! **Format 1** (written before owner binding) sealed with AES-256-GCM under
//! `"krypton/l4-wrap/v1\0" || L3 version || id`: it still opens with the identifier of the
//! binding, and the gateway re-wraps it to format 2 the first time it does.

use kmip::objects::WrapBinding;
use kmip::objects::wrap_binding::{BLOB_FORMAT_BOUND, BLOB_FORMAT_ID_ONLY};
use zeroize::Zeroizing;

use crate::error::RequestError;
use crate::secret::SecretKey;

use super::L3Id;
use super::gcm::{self, Cipher, IV_LEN, TAG_LEN};

const DOMAIN_V1: &[u8] = b"krypton/l4-wrap/v1\0";
const DOMAIN_V2: &[u8] = b"krypton/l4-wrap/v2\0";
const HEADER_LEN: usize = 1 + 4 + IV_LEN;
/// The largest L4 wrapped. Symmetric data keys are 16 to 256 bytes and the private keys the
/// gateway keeps are at most about 2.4 KB (RSA-4096 as PKCS#8), but the gateway also keeps the
/// X.509 certificates applications register, wrapped like everything it stores, and takes
/// those up to 64 KiB. The bound matches the gateway's, so a blob stays under what it accepts
/// back.
pub(crate) const MAX_KEY_LEN: usize = 64 * 1024;

/// Wraps `key`, the L4 `binding` names, under `l3_key`, version `version` of `l3`: a format 2
/// blob.
pub(super) fn wrap(
    l3_key: &SecretKey,
    l3: &L3Id,
    version: u32,
    binding: &WrapBinding,
    key: &[u8],
) -> Result<Vec<u8>, RequestError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(RequestError::InvalidRequest(
            "the data to wrap must be 1 to 65536 bytes",
        ));
    }
    let aad = associated_data_v2(l3, version, binding)?;
    let (iv, sealed) = gcm::seal_with(Cipher::GcmSiv, l3_key, &aad, key)?;
    let mut blob = Vec::with_capacity(HEADER_LEN + sealed.len());
    blob.push(BLOB_FORMAT_BOUND);
    blob.extend_from_slice(&version.to_be_bytes());
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// The L3 version a blob names, read before the key is chosen.
pub(super) fn version(blob: &[u8]) -> Result<u32, RequestError> {
    format(blob)?;
    let version = blob[1..]
        .first_chunk::<4>()
        .ok_or(RequestError::MalformedWrappedKey("truncated"))?;
    Ok(u32::from_be_bytes(*version))
}

/// Unwraps the L4 `binding` names from `blob`, under `l3_key`: the version of `l3` that
/// [`version`] named.
pub(super) fn unwrap(
    l3_key: &SecretKey,
    l3: &L3Id,
    binding: &WrapBinding,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, RequestError> {
    let version = version(blob)?;
    let (header, sealed) = blob.split_at(HEADER_LEN);
    let iv = header[5..]
        .first_chunk::<IV_LEN>()
        .ok_or(RequestError::MalformedWrappedKey("truncated"))?;
    let (cipher, aad) = match format(blob)? {
        BLOB_FORMAT_ID_ONLY => (
            Cipher::Gcm,
            [DOMAIN_V1, &version.to_be_bytes(), binding.id.as_bytes()].concat(),
        ),
        _ => (Cipher::GcmSiv, associated_data_v2(l3, version, binding)?),
    };
    gcm::open_with(cipher, l3_key, iv, &aad, sealed).ok_or(RequestError::UnauthenticWrappedKey)
}

/// The blob's format, once its length is checked.
fn format(blob: &[u8]) -> Result<u8, RequestError> {
    let format = *blob
        .first()
        .ok_or(RequestError::MalformedWrappedKey("empty"))?;
    if format != BLOB_FORMAT_ID_ONLY && format != BLOB_FORMAT_BOUND {
        return Err(RequestError::MalformedWrappedKey("unknown format version"));
    }
    if blob.len() < HEADER_LEN + TAG_LEN + 1 {
        return Err(RequestError::MalformedWrappedKey("truncated"));
    }
    if blob.len() > HEADER_LEN + MAX_KEY_LEN + TAG_LEN {
        return Err(RequestError::MalformedWrappedKey(
            "longer than any wrapped key",
        ));
    }
    Ok(format)
}

fn associated_data_v2(
    l3: &L3Id,
    version: u32,
    binding: &WrapBinding,
) -> Result<Vec<u8>, RequestError> {
    let fields = [
        l3.tenant.as_str(),
        l3.service.as_str(),
        &binding.owner,
        &binding.id,
    ];
    let mut aad =
        Vec::with_capacity(DOMAIN_V2.len() + 12 + fields.iter().map(|f| f.len()).sum::<usize>());
    aad.extend_from_slice(DOMAIN_V2);
    for (index, field) in fields.iter().enumerate() {
        if index == 2 {
            aad.extend_from_slice(&version.to_be_bytes());
        }
        let len = u16::try_from(field.len()).map_err(|_| {
            RequestError::InvalidRequest("the key's owner and identifier are 1 to 1024 bytes each")
        })?;
        aad.extend_from_slice(&len.to_be_bytes());
        aad.extend_from_slice(field.as_bytes());
    }
    Ok(aad)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::aead::{AES_256_GCM, AES_256_GCM_SIV, Aad, LessSafeKey, Nonce, UnboundKey};

    use super::*;
    use crate::hierarchy::names::ServiceName;
    use crate::hsm::TenantId;
    use crate::secret::WhenIdle;

    fn l3(tenant: &str, service: &str) -> L3Id {
        L3Id {
            tenant: TenantId::new(tenant).unwrap(),
            service: ServiceName::new(service).unwrap(),
        }
    }

    fn binding(owner: &str, id: &str) -> WrapBinding {
        WrapBinding::new(owner, id)
    }

    /// A format 1 blob, written as the core wrote it before owner binding.
    fn wrap_v1(l3_key: &SecretKey, version: u32, id: &str, key: &[u8]) -> Vec<u8> {
        let aad = [DOMAIN_V1, &version.to_be_bytes(), id.as_bytes()].concat();
        let (iv, sealed) = gcm::seal(l3_key, &aad, key).unwrap();
        [&[1u8][..], &version.to_be_bytes(), &iv, &sealed].concat()
    }

    /// Opens a blob with aws-lc directly, from the layout the module documents.
    fn open_as_documented(l3_key: &SecretKey, aad: &[u8], blob: &[u8]) -> Vec<u8> {
        let algorithm = match blob[0] {
            1 => &AES_256_GCM,
            2 => &AES_256_GCM_SIV,
            other => panic!("format {other}"),
        };
        let key =
            l3_key.expose(|bytes| LessSafeKey::new(UnboundKey::new(algorithm, bytes).unwrap()));
        let nonce = Nonce::try_assume_unique_for_key(&blob[5..17]).unwrap();
        let mut buffer = blob[17..].to_vec();
        let len = key
            .open_in_place(nonce, Aad::from(aad), &mut buffer)
            .unwrap()
            .len();
        buffer.truncate(len);
        buffer
    }

    #[test]
    fn round_trips_with_the_documented_layout() {
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let acme = l3("acme", "payments");
        let alice = binding("app-alice", "key-1");
        let blob = wrap(&key, &acme, 7, &alice, &[0x11; 32]).unwrap();
        assert_eq!(blob.len(), HEADER_LEN + 32 + TAG_LEN);
        assert_eq!(blob[..5], [2, 0, 0, 0, 7]);
        assert_eq!(version(&blob).unwrap(), 7);
        assert_eq!(
            unwrap(&key, &acme, &alice, &blob).unwrap().as_slice(),
            &[0x11; 32]
        );
        assert!(!blob.windows(32).any(|w| w == [0x11; 32]));
        let aad = [
            &b"krypton/l4-wrap/v2\0"[..],
            b"\x00\x04acme\x00\x08payments",
            &[0, 0, 0, 7],
            b"\x00\x09app-alice\x00\x05key-1",
        ]
        .concat();
        assert_eq!(open_as_documented(&key, &aad, &blob), [0x11; 32]);
    }

    #[test]
    fn a_blob_opens_only_in_its_place() {
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let acme = l3("acme", "payments");
        let alice = binding("app-alice", "key-1");
        let blob = wrap(&key, &acme, 1, &alice, &[0x11; 32]).unwrap();
        let elsewhere = [
            (l3("acme", "payments"), binding("app-bob", "key-1")),
            (l3("acme", "payments"), binding("app-alice", "key-2")),
            (l3("acme", "orders"), binding("app-alice", "key-1")),
            (l3("beta", "payments"), binding("app-alice", "key-1")),
            // The length prefixes keep the fields apart.
            (l3("acme", "payments"), binding("app-alicek", "ey-1")),
        ];
        for (service, place) in &elsewhere {
            assert!(
                matches!(
                    unwrap(&key, service, place, &blob),
                    Err(RequestError::UnauthenticWrappedKey)
                ),
                "{service} {place:?}"
            );
        }
        let mut relabelled = blob.clone();
        relabelled[4] = 2;
        assert!(matches!(
            unwrap(&key, &acme, &alice, &relabelled),
            Err(RequestError::UnauthenticWrappedKey)
        ));
        // A format 2 blob passed off as format 1 is opened with GCM and fails.
        let mut downgraded = blob.clone();
        downgraded[0] = 1;
        assert!(matches!(
            unwrap(&key, &acme, &alice, &downgraded),
            Err(RequestError::UnauthenticWrappedKey)
        ));
    }

    #[test]
    fn format_1_blobs_still_open_by_their_identifier() {
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let acme = l3("acme", "payments");
        let blob = wrap_v1(&key, 3, "key-1", &[0x22; 32]);
        assert_eq!(version(&blob).unwrap(), 3);
        assert_eq!(
            unwrap(&key, &acme, &binding("app-alice", "key-1"), &blob)
                .unwrap()
                .as_slice(),
            &[0x22; 32]
        );
        assert!(matches!(
            unwrap(&key, &acme, &binding("app-alice", "key-2"), &blob),
            Err(RequestError::UnauthenticWrappedKey)
        ));
        // Passed off as format 2, it is opened with GCM-SIV and the full binding, and fails.
        let mut upgraded = blob.clone();
        upgraded[0] = 2;
        assert!(matches!(
            unwrap(&key, &acme, &binding("app-alice", "key-1"), &upgraded),
            Err(RequestError::UnauthenticWrappedKey)
        ));
    }

    #[test]
    fn refuses_malformed_blobs_and_bad_input() {
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let acme = l3("acme", "payments");
        let alice = binding("app-alice", "key-1");
        let blob = wrap(&key, &acme, 1, &alice, &[0x11; 32]).unwrap();
        for bad in [
            &blob[..0],
            &blob[..HEADER_LEN + TAG_LEN],
            &[3u8; 60][..],
            &[2u8; HEADER_LEN + MAX_KEY_LEN + TAG_LEN + 1][..],
        ] {
            assert!(matches!(
                unwrap(&key, &acme, &alice, bad),
                Err(RequestError::MalformedWrappedKey(_))
            ));
        }
        for bad_key in [&[][..], &[1; MAX_KEY_LEN + 1][..]] {
            assert!(matches!(
                wrap(&key, &acme, 1, &alice, bad_key),
                Err(RequestError::InvalidRequest(_))
            ));
        }
    }
}
