//! The requests of each workload, and the check that each was answered with success.
//!
//! Requests are plain KMIP a standard server understands: an AES-256 Create with a usage mask
//! (PyKMIP's server requires one), Get by identifier, Revoke with Cessation of Operation. The
//! server-side cryptography workloads make and activate their key at set-up, then send the
//! run's data (`--data-size` bytes) per request with the parameters named (no server defaults
//! relied on).

use kmip::net::Client;
use kmip::{
    ActivateRequest, Attribute, BlockCipherMode, CreateKeyPairRequest, CreateRequest,
    CryptographicAlgorithm, CryptographicParameters, CryptographicUsageMask, DestroyRequest,
    DigitalSignatureAlgorithm, EncryptRequest, GetRequest, LocateRequest, MacRequest, Name,
    ObjectType, ProtocolVersion, QueryFunction, QueryRequest, RequestBatchItem, RequestHeader,
    RequestMessage, ResponseMessage, ResponsePayload, ResultStatus, RevocationReason,
    RevocationReasonCode, RevokeRequest, SignRequest, TypedRequest,
};

use crate::args::Workload;
use crate::error::Error;

/// The name Locate looks for: no key carries it, so every Locate searches and finds nothing.
const ABSENT_NAME: &str = "krypton-load: no key has this name";
/// The byte the cryptography workloads' data is made of.
const DATA_BYTE: u8 = 0x5a;

/// One connection's client, in the KMIP version of the run.
#[derive(Debug)]
pub struct Session {
    pub client: Client,
    pub version: ProtocolVersion,
}

/// A workload readied on one connection: what [`once`] repeats.
#[derive(Debug)]
pub enum Plan {
    Create,
    /// Get of these keys, one after the other, round and round.
    Get(Keys),
    CreateGet,
    Lifecycle,
    Query,
    Locate,
    /// Encrypt the data under this key.
    Encrypt(String, Data),
    /// MAC the data under this key.
    Mac(String, Data),
    /// Sign the data with this private key.
    Sign(String, Data),
}

/// What a cryptography workload encrypts, MACs or signs in each request.
pub type Data = Box<[u8]>;

/// The keys one connection's `get` reads, and which is next.
#[derive(Debug)]
pub struct Keys {
    ids: Vec<String>,
    next: usize,
}

impl Keys {
    /// The key to read now; the one after it next time.
    fn next(&mut self) -> &str {
        let id = self.next;
        self.next = (id + 1) % self.ids.len();
        &self.ids[id]
    }
}

/// Readies `workload` on `session`, outside the measurement: `get` creates its `keys` (at least
/// one), the cryptography workloads their key and `data_size` bytes of data.
///
/// # Errors
///
/// The failure of the set-up request.
pub async fn prepare(
    workload: Workload,
    keys: usize,
    data_size: u32,
    session: &mut Session,
) -> Result<Plan, Error> {
    let data = || -> Data {
        let size = usize::try_from(data_size).unwrap_or(usize::MAX);
        vec![DATA_BYTE; size].into()
    };
    Ok(match workload {
        Workload::Create => Plan::Create,
        Workload::Get => {
            let keys = keys.max(1);
            let mut ids = Vec::with_capacity(keys);
            while ids.len() < keys {
                ids.push(session.create().await?);
            }
            Plan::Get(Keys { ids, next: 0 })
        }
        Workload::CreateGet => Plan::CreateGet,
        Workload::Lifecycle => Plan::Lifecycle,
        Workload::Query => Plan::Query,
        Workload::Locate => Plan::Locate,
        Workload::Encrypt => Plan::Encrypt(session.active_aes_key().await?, data()),
        Workload::Mac => Plan::Mac(session.active_hmac_key().await?, data()),
        Workload::Sign => Plan::Sign(session.active_signing_key().await?, data()),
    })
}

/// Runs `plan` once on `session`.
///
/// # Errors
///
/// The failure of the first request that failed; the rest of the operation is not run.
pub async fn once(plan: &mut Plan, session: &mut Session) -> Result<(), Error> {
    match plan {
        Plan::Create => session.create().await.map(drop),
        Plan::Get(keys) => session.get(keys.next()).await,
        Plan::CreateGet => {
            let key = session.create().await?;
            session.get(&key).await
        }
        Plan::Lifecycle => session.lifecycle().await,
        Plan::Query => session.query().await,
        Plan::Locate => session.locate().await,
        Plan::Encrypt(key, data) => session.encrypt(key, data).await,
        Plan::Mac(key, data) => session.mac(key, data).await,
        Plan::Sign(key, data) => session.sign(key, data).await,
    }
}

impl Session {
    async fn create(&mut self) -> Result<String, Error> {
        let request = CreateRequest {
            object_type: ObjectType::SymmetricKey,
            attributes: vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
                Attribute::CryptographicLength(256),
                Attribute::CryptographicUsageMask(
                    CryptographicUsageMask::ENCRYPT | CryptographicUsageMask::DECRYPT,
                ),
            ],
        };
        match self.call(request).await? {
            ResponsePayload::Create(created) => Ok(created.unique_identifier),
            _ => Err(Error::Unexpected {
                operation: CreateRequest::OPERATION,
            }),
        }
    }

    /// An AES-256 key, activated.
    async fn active_aes_key(&mut self) -> Result<String, Error> {
        let key = self.create().await?;
        self.activate(&key).await?;
        Ok(key)
    }

    /// An HMAC-SHA256 key, activated.
    async fn active_hmac_key(&mut self) -> Result<String, Error> {
        let request = CreateRequest {
            object_type: ObjectType::SymmetricKey,
            attributes: vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::HmacSha256),
                Attribute::CryptographicLength(256),
                Attribute::CryptographicUsageMask(CryptographicUsageMask::MAC_GENERATE),
            ],
        };
        let ResponsePayload::Create(created) = self.call(request).await? else {
            return Err(Error::Unexpected {
                operation: CreateRequest::OPERATION,
            });
        };
        self.activate(&created.unique_identifier).await?;
        Ok(created.unique_identifier)
    }

    /// The private key of an ECDSA P-256 pair, activated.
    async fn active_signing_key(&mut self) -> Result<String, Error> {
        let request = CreateKeyPairRequest {
            common_attributes: vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Ecdsa),
                Attribute::CryptographicLength(256),
            ],
            private_key_attributes: vec![Attribute::CryptographicUsageMask(
                CryptographicUsageMask::SIGN,
            )],
            public_key_attributes: vec![Attribute::CryptographicUsageMask(
                CryptographicUsageMask::VERIFY,
            )],
        };
        let ResponsePayload::CreateKeyPair(pair) = self.call(request).await? else {
            return Err(Error::Unexpected {
                operation: CreateKeyPairRequest::OPERATION,
            });
        };
        self.activate(&pair.private_key_unique_identifier).await?;
        Ok(pair.private_key_unique_identifier)
    }

    async fn activate(&mut self, key: &str) -> Result<(), Error> {
        self.call(ActivateRequest {
            unique_identifier: Some(key.into()),
        })
        .await
        .map(drop)
    }

    async fn encrypt(&mut self, key: &str, data: &[u8]) -> Result<(), Error> {
        self.call(EncryptRequest {
            unique_identifier: Some(key.into()),
            cryptographic_parameters: Some(CryptographicParameters {
                cryptographic_algorithm: Some(CryptographicAlgorithm::Aes),
                block_cipher_mode: Some(BlockCipherMode::Gcm),
                tag_length: Some(16),
                ..CryptographicParameters::default()
            }),
            data: data.into(),
            iv_counter_nonce: None,
            authenticated_encryption_additional_data: None,
        })
        .await
        .map(drop)
    }

    async fn mac(&mut self, key: &str, data: &[u8]) -> Result<(), Error> {
        self.call(MacRequest {
            unique_identifier: Some(key.into()),
            cryptographic_parameters: None,
            data: data.into(),
        })
        .await
        .map(drop)
    }

    async fn sign(&mut self, key: &str, data: &[u8]) -> Result<(), Error> {
        self.call(SignRequest {
            unique_identifier: Some(key.into()),
            cryptographic_parameters: Some(CryptographicParameters {
                digital_signature_algorithm: Some(DigitalSignatureAlgorithm::EcdsaWithSha256),
                ..CryptographicParameters::default()
            }),
            data: data.into(),
        })
        .await
        .map(drop)
    }

    async fn get(&mut self, key: &str) -> Result<(), Error> {
        self.call(GetRequest {
            unique_identifier: Some(key.into()),
            ..GetRequest::default()
        })
        .await
        .map(drop)
    }

    async fn lifecycle(&mut self) -> Result<(), Error> {
        let key = self.create().await?;
        let id = || Some(key.as_str().into());
        self.activate(&key).await?;
        self.get(&key).await?;
        self.call(RevokeRequest {
            unique_identifier: id(),
            revocation_reason: RevocationReason {
                code: RevocationReasonCode::CessationOfOperation,
                message: None,
            },
            compromise_occurrence_date: None,
        })
        .await?;
        self.call(DestroyRequest {
            unique_identifier: id(),
        })
        .await
        .map(drop)
    }

    async fn query(&mut self) -> Result<(), Error> {
        self.call(QueryRequest {
            query_functions: vec![QueryFunction::QueryOperations, QueryFunction::QueryObjects],
        })
        .await
        .map(drop)
    }

    async fn locate(&mut self) -> Result<(), Error> {
        self.call(LocateRequest {
            attributes: vec![Attribute::Name(Name::text(ABSENT_NAME))],
            ..LocateRequest::default()
        })
        .await
        .map(drop)
    }

    /// Sends one request of one batch item; returns the payload of a successful answer.
    async fn call<R: TypedRequest>(&mut self, request: R) -> Result<ResponsePayload, Error> {
        let operation = R::OPERATION;
        let message = RequestMessage {
            header: RequestHeader::new(self.version),
            batch_items: vec![RequestBatchItem::new(request)],
        }
        .to_item();
        let answer = self
            .client
            .call(&message)
            .await
            .map_err(|source| Error::Transport { operation, source })?;
        let response = ResponseMessage::from_item(&answer)
            .map_err(|source| Error::Malformed { operation, source })?;
        let [item] = <[_; 1]>::try_from(response.batch_items)
            .map_err(|_| Error::Unexpected { operation })?;
        if item.result_status != ResultStatus::Success {
            return Err(Error::Refused {
                operation,
                reason: item.result_reason,
                message: item.result_message,
            });
        }
        // A Success with no payload is what some operations answer in some versions; for the
        // operations here it means the server did not do what was asked.
        item.payload.ok_or(Error::Unexpected { operation })
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn a_connection_reads_its_keys_round_and_round() {
        let mut keys = Keys {
            ids: ["a", "b", "c"].map(String::from).to_vec(),
            next: 0,
        };
        let read: Vec<_> = (0..7).map(|_| keys.next().to_owned()).collect();
        assert_eq!(read, ["a", "b", "c", "a", "b", "c", "a"]);
    }
}
