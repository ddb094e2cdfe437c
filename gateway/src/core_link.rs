//! The gateway's link to krypton-core: a pool of persistent mutual-TLS connections carrying
//! KMIP, authenticated by the gateway's own client certificate.
//!
//! Over it the gateway asks the core to wrap and unwrap L4 keys, in standard KMIP 1.4:
//!
//! - **wrap** = Encrypt with the L3's Unique Identifier (`l3/<tenant>/<service>`),
//!   Cryptographic Parameters { Block Cipher Mode: GCM }, the L4 as Data, the L4's owner and
//!   Unique Identifier as Authenticated Encryption Additional Data (encoded as
//!   [`WrapBinding`]), and no IV: the core generates it. The response's Data is a
//!   self-describing blob (format, L3 version, nonce, tag) kept as it is.
//! - **unwrap** = Decrypt with the same identifier, the blob as Data and the same additional
//!   data; the response's Data is the L4.
//! - **shred** = Destroy of `l4/<tenant>/<service>/<the additional data in hex>`: the core
//!   records the L4 as destroyed and refuses every later unwrap of a blob bound to it.
//! - **rewrap** = Krypton's vendor extension Rewrap ([`kmip::RewrapRequest`]) with the L3's
//!   identifier, the blob and the same additional data, several to a message: the core gives
//!   back the blob under the L3's active version, the L4 never leaving it.
//! - **report_rewrap** = Krypton's vendor extension Rewrap Report
//!   ([`kmip::RewrapReportRequest`]): what a re-wrap pass left under the L3's older versions.
//!
//! Every blob the core hands back names the L3 version that wrapped it (its bytes 1 to 4); the
//! link remembers the newest version seen per L3 ([`CoreLink::active_versions`]), which tells
//! the re-wrap ([`crate::rewrap`]) that a service key was rotated and which records are behind.
//!
//! The core binds the tenant and service of the L3 and the owner and identifier into the blob,
//! so a blob moved or copied to another owner's or another key's record, or pointed at another
//! L3, does not unwrap. Every call is bounded by the pool's connect and request timeouts; when the
//! core is down a call fails as soon as the connection does, so Create and Get fail closed at
//! once, and the next call dials again: the link recovers by itself.
//!
//! **Several cores** (`[core] failover`: the core that leads the store, and standbys or
//! followers on it). Wraps, unwraps and re-wraps — the data path, which followers serve too —
//! are spread over the cores in turn ([`Route::AnyCore`]). Everything else (a shred, a report,
//! a client's forwarded request) goes to the core that last accepted such a call
//! ([`Route::Leader`]); a follower refuses it unread ([`kmip::objects::FOLLOWING_CORE`]) and it
//! goes on to the next core. When a core cannot be reached the call goes to the next, and goes
//! on trying them all until one answers or the request timeout has passed, so a takeover within
//! that bound fails no request; a core that could not be reached is passed over by the next
//! calls for [`DOWN_FOR`]. A request that may have reached a core that then went away is
//! repeated on another only if repeating it is harmless: the link's own operations (a wrap made
//! twice keeps the second; an unwrap, a shred, a re-wrap and a report change nothing twice),
//! never a client's forwarded request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use kmip::net::{NetError, Pool};
use kmip::{
    BlockCipherMode, CryptographicParameters, DecryptRequest, DestroyRequest, EncryptRequest,
    EncryptResponse, Item, ProtocolVersion, RequestBatchItem, RequestHeader, RequestMessage,
    ResponseBatchItem, ResponseMessage, ResponsePayload, ResultReason, ResultStatus,
    RewrapReportRequest, RewrapRequest, SecretBytes, Tag, TypedRequest, VersionBehind,
};
use tokio::sync::Notify;

use kmip::objects::wrap_binding::InvalidBinding;
use kmip::objects::{FOLLOWING_CORE, WrapBinding};

use crate::audit::current_correlation;
use crate::config::CoreConfig;
use crate::principal::L3Ref;
use crate::vault::WrappedKey;

/// The protocol version of the gateway's own requests: the first with AEAD fields.
const LINK_VERSION: ProtocolVersion = ProtocolVersion::V1_4;

/// The largest wrapped blob accepted from the core: the core's largest L4 (64 KiB, for the
/// largest certificate the gateway registers; keys are at most 4 KiB) plus its header (format,
/// L3 version, IV) and tag, with some slack; far below anything that could bloat the vault.
const MAX_WRAPPED_LEN: usize = 64 * 1024 + 64;

/// How long a call waits before trying every core again when none could be reached.
const FAILOVER_PAUSE: Duration = Duration::from_millis(50);
/// How long a core that could not be reached is passed over, while another can be tried.
const DOWN_FOR: Duration = Duration::from_secs(1);

/// Connections to the core, or to each of several cores on one store.
#[derive(Debug)]
pub struct CoreLink {
    /// A pool per core, the configured `address` first.
    cores: Vec<Pool>,
    /// The core that last accepted a call only the leading core takes: such calls go there
    /// first.
    current: AtomicUsize,
    /// Turns the data path over the cores.
    next: AtomicUsize,
    /// Per core, until when (milliseconds after `started`) it is passed over: it could not
    /// be reached.
    down_until: Vec<AtomicU64>,
    started: Instant,
    /// How long a call may go on trying cores.
    request_timeout: Duration,
    versions: ActiveVersions,
}

/// Which cores a call may go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Any: the data path, which a core following the leader serves too.
    AnyCore,
    /// The core that leads the store: anything that may change it.
    Leader,
}

/// Whether a request may be sent again to another core after its first core went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// Only if it was never sent: a client's request, which may change state.
    IfUnsent,
    /// Also if it may have been sent: the link's own, harmless to repeat.
    Harmless,
}

impl Repeat {
    /// Whether `error` from one core lets the request go to another.
    fn allows(self, error: &NetError) -> bool {
        match error {
            NetError::Connect { .. }
            | NetError::ConnectTimeout { .. }
            | NetError::Handshake { .. }
            | NetError::PoolBusy { .. } => true,
            NetError::Closed | NetError::Transport(_) | NetError::Poisoned => {
                self == Self::Harmless
            }
            _ => false,
        }
    }
}

/// The newest version of each L3 the core has wrapped under, as its blobs say.
#[derive(Debug, Default)]
pub(crate) struct ActiveVersions {
    newest: Mutex<HashMap<L3Ref, u32>>,
    /// Woken when an L3's newest version goes up: it was rotated.
    rotated: Notify,
}

impl ActiveVersions {
    /// Notes that the core wrapped `wrapped` under `l3` just now.
    fn saw(&self, l3: &L3Ref, wrapped: &WrappedKey) {
        let Some(version) = wrapped.l3_version() else {
            return;
        };
        let mut newest = self.newest.lock().unwrap_or_else(PoisonError::into_inner);
        let known = newest.entry(l3.clone()).or_insert(0);
        if version > *known {
            let rotated = *known != 0;
            *known = version;
            drop(newest);
            if rotated {
                self.rotated.notify_one();
            }
        }
    }

    /// The newest version of `l3` seen, if any.
    pub(crate) fn newest(&self, l3: &L3Ref) -> Option<u32> {
        self.newest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(l3)
            .copied()
    }

    /// Resolves once some L3's newest version went up after having been seen.
    pub(crate) async fn rotated(&self) {
        self.rotated.notified().await;
    }
}

/// Why a call to the core failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The core could not be reached, or did not answer in time, or the connection broke.
    #[error("krypton-core is unreachable")]
    Unreachable(#[source] NetError),

    /// The core answered with a failure.
    #[error("krypton-core refused ({reason:?}): {message}")]
    Refused {
        /// The core's Result Reason.
        reason: ResultReason,
        /// The core's Result Message.
        message: String,
    },

    /// The core's answer is not what the protocol or the gateway–core contract prescribes.
    #[error("krypton-core answered out of contract: {0}")]
    Contract(&'static str),

    /// The core's answer is TTLV but not a KMIP response.
    #[error("krypton-core's answer is not a KMIP response")]
    Decode(#[source] kmip::Error),

    /// The key's owner or identifier is too long to be bound into the wrapped blob; nothing was
    /// sent.
    #[error("the key's owner or identifier cannot be bound into its wrapped blob")]
    Unbindable(#[source] InvalidBinding),
}

impl CoreLink {
    /// A link to the configured core. Opens no connection yet.
    ///
    /// # Errors
    ///
    /// A configuration [`NetError`] if the TLS files cannot be used or the server name is
    /// invalid.
    pub fn new(config: &CoreConfig) -> Result<Self, NetError> {
        let tls = Arc::new(kmip::net::client_config(&config.tls)?);
        let cores = config
            .addresses()
            .map(|address| {
                Pool::new(
                    address,
                    &config.server_name,
                    Arc::clone(&tls),
                    config.limits.clone(),
                )
            })
            .collect::<Result<_, _>>()?;
        let down_until = config.addresses().map(|_| AtomicU64::new(0)).collect();
        Ok(Self {
            cores,
            current: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            down_until,
            started: Instant::now(),
            request_timeout: config.limits.request_timeout,
            versions: ActiveVersions::default(),
        })
    }

    /// The newest version of each L3 the core wrapped under, as far as this link saw.
    pub(crate) fn active_versions(&self) -> &ActiveVersions {
        &self.versions
    }

    /// Wraps L4 `key`, `owner`'s key `id`, under `l3`.
    pub(crate) async fn wrap(
        &self,
        l3: &L3Ref,
        owner: &str,
        id: &str,
        key: &SecretBytes,
    ) -> Result<WrappedKey, CoreError> {
        let request = wrap_request(l3, owner, id, key)?;
        let wrapped = match self.exchange(request, Route::AnyCore).await? {
            ResponsePayload::Encrypt(response) => wrapped_blob(response)?,
            _ => {
                return Err(CoreError::Contract(
                    "Encrypt answered with another operation",
                ));
            }
        };
        self.versions.saw(l3, &wrapped);
        Ok(wrapped)
    }

    /// Has the core wrap each record's key again under the active version of its L3, in one
    /// message: one answer per record, in order. A blob already under the active version comes
    /// back unchanged.
    pub(crate) async fn rewrap(
        &self,
        records: &[(&L3Ref, &str, &str, &WrappedKey)],
    ) -> Result<Vec<Result<WrappedKey, CoreError>>, CoreError> {
        let mut items = Vec::with_capacity(records.len());
        for &(l3, owner, id, wrapped) in records {
            items.push(RequestBatchItem::new(RewrapRequest {
                unique_identifier: Some(l3.unique_identifier().into()),
                data: wrapped.as_bytes().to_vec(),
                authenticated_encryption_additional_data: Some(binding(owner, id)?),
            }));
        }
        let response = self.send(&link_message(items), Route::AnyCore).await?;
        if response.batch_items.len() != records.len() {
            return Err(CoreError::Contract(
                "the answer has another number of batch items than the request",
            ));
        }
        let answers = response
            .batch_items
            .into_iter()
            .zip(records)
            .map(|(item, &(l3, ..))| {
                let wrapped = match item_payload(item)? {
                    ResponsePayload::Rewrap(response) => checked_blob(response.data)?,
                    _ => {
                        return Err(CoreError::Contract(
                            "Rewrap answered with another operation",
                        ));
                    }
                };
                self.versions.saw(l3, &wrapped);
                Ok(wrapped)
            })
            .collect();
        Ok(answers)
    }

    /// Tells the core what a re-wrap pass that began at `started` left under the older
    /// versions of `l3`: (version, records) (`kryptonctl service rewrap-status` shows it).
    pub(crate) async fn report_rewrap(
        &self,
        l3: &L3Ref,
        started: SystemTime,
        behind: &[(u32, u64)],
    ) -> Result<(), CoreError> {
        let request = RewrapReportRequest {
            unique_identifier: l3.unique_identifier().into(),
            pass_started: started.into(),
            behind: behind
                .iter()
                .map(|&(version, records)| VersionBehind {
                    // Versions are bounded far below i32::MAX by the core, counts by the vault.
                    version: i32::try_from(version).unwrap_or(i32::MAX),
                    records: i64::try_from(records).unwrap_or(i64::MAX),
                })
                .collect(),
        };
        match self.exchange(request, Route::Leader).await? {
            ResponsePayload::RewrapReport(_) => Ok(()),
            _ => Err(CoreError::Contract(
                "Rewrap Report answered with another operation",
            )),
        }
    }

    /// Unwraps `owner`'s key `id` from `wrapped`, under `l3`.
    pub(crate) async fn unwrap(
        &self,
        l3: &L3Ref,
        owner: &str,
        id: &str,
        wrapped: &WrappedKey,
    ) -> Result<SecretBytes, CoreError> {
        match self
            .exchange(unwrap_request(l3, owner, id, wrapped)?, Route::AnyCore)
            .await?
        {
            ResponsePayload::Decrypt(response) => Ok(response.data),
            _ => Err(CoreError::Contract(
                "Decrypt answered with another operation",
            )),
        }
    }

    /// Tells the core that `owner`'s L4 `id`, wrapped under `l3`, is destroyed,
    /// so that it never unwraps it again. Idempotent: the core acknowledges a repeat alike.
    pub(crate) async fn shred(&self, l3: &L3Ref, owner: &str, id: &str) -> Result<(), CoreError> {
        match self
            .exchange(shred_request(l3, owner, id)?, Route::Leader)
            .await?
        {
            ResponsePayload::Destroy(_) => Ok(()),
            _ => Err(CoreError::Contract(
                "Destroy answered with another operation",
            )),
        }
    }

    /// Sends a request message as it is and returns the core's response message as it came.
    /// Measured as `krypton_core_link_duration_seconds` and
    /// `krypton_core_link_calls_total{result="answered"|"unreachable"}`.
    pub(crate) async fn call(&self, request: &Item) -> Result<Item, CoreError> {
        self.call_repeating(request, Repeat::IfUnsent, Route::Leader)
            .await
    }

    async fn call_repeating(
        &self,
        request: &Item,
        repeat: Repeat,
        route: Route,
    ) -> Result<Item, CoreError> {
        let started = Instant::now();
        let response = self.any_core(request, repeat, route).await;
        metrics::histogram!("krypton_core_link_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        let result = if response.is_ok() {
            "answered"
        } else {
            "unreachable"
        };
        metrics::counter!("krypton_core_link_calls_total", "result" => result).increment(1);
        let response = response.map_err(CoreError::Unreachable)?;
        if response.tag == Tag::RESPONSE_MESSAGE {
            Ok(response)
        } else {
            Err(CoreError::Contract("the answer is not a Response Message"))
        }
    }

    /// Sends one operation of the gateway's own and returns its successful payload.
    async fn exchange(
        &self,
        payload: impl TypedRequest,
        route: Route,
    ) -> Result<ResponsePayload, CoreError> {
        only_payload(self.send(&link_request(payload), route).await?)
    }

    /// Sends `request`, one of the link's own, and decodes the answer.
    async fn send(&self, request: &Item, route: Route) -> Result<ResponseMessage, CoreError> {
        let response = self
            .call_repeating(request, Repeat::Harmless, route)
            .await?;
        ResponseMessage::from_item(&response).map_err(CoreError::Decode)
    }

    /// Sends `request` to a core `route` allows, or, when it cannot be reached and `repeat`
    /// allows, to the others in turn until one answers or the request timeout passed.
    async fn any_core(
        &self,
        request: &Item,
        repeat: Repeat,
        route: Route,
    ) -> Result<Item, NetError> {
        let [only] = self.cores.as_slice() else {
            return self.failover(request, repeat, route).await;
        };
        only.call(request).await
    }

    async fn failover(
        &self,
        request: &Item,
        repeat: Repeat,
        route: Route,
    ) -> Result<Item, NetError> {
        let deadline = Instant::now() + self.request_timeout;
        // A follower's refusal: answered if no core accepts the request in time.
        let mut refused = None;
        loop {
            let first = match route {
                Route::AnyCore => self.next.fetch_add(1, Ordering::Relaxed),
                Route::Leader => self.current.load(Ordering::Relaxed),
            };
            let mut last = None;
            for index in self.in_turn(first) {
                match self.cores[index].call(request).await {
                    Ok(answer) if route == Route::Leader && from_follower(&answer) => {
                        refused = Some(answer);
                    }
                    Ok(answer) => {
                        if route == Route::Leader {
                            self.current.store(index, Ordering::Relaxed);
                        }
                        return Ok(answer);
                    }
                    Err(error) if repeat.allows(&error) => {
                        self.mark_down(index);
                        last = Some(error);
                    }
                    Err(error) => return Err(error),
                }
            }
            if Instant::now() + FAILOVER_PAUSE >= deadline {
                return match refused {
                    Some(answer) => Ok(answer),
                    None => Err(last.unwrap_or(NetError::Closed)),
                };
            }
            tokio::time::sleep(FAILOVER_PAUSE).await;
        }
    }

    /// Every core once, from `first` on: those that could not be reached lately last.
    fn in_turn(&self, first: usize) -> Vec<usize> {
        let count = self.cores.len();
        let first = first % count;
        let now = self.millis();
        let (mut up, down): (Vec<_>, Vec<_>) = (first..first + count)
            .map(|index| index % count)
            .partition(|&index| self.down_until[index].load(Ordering::Relaxed) <= now);
        up.extend(down);
        up
    }

    /// Passes core `index` over for [`DOWN_FOR`].
    fn mark_down(&self, index: usize) {
        let until = self.millis().saturating_add(duration_millis(DOWN_FOR));
        self.down_until[index].store(until, Ordering::Relaxed);
    }

    fn millis(&self) -> u64 {
        duration_millis(self.started.elapsed())
    }
}

fn duration_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Whether `answer` is a follower's refusal of what only the leading core does: it did nothing
/// with the request, which another core may take.
fn from_follower(answer: &Item) -> bool {
    ResponseMessage::from_item(answer).is_ok_and(|message| {
        message.batch_items.iter().any(|item| {
            item.result_status == ResultStatus::OperationFailed
                && item.result_message.as_deref() == Some(FOLLOWING_CORE)
        })
    })
}

/// The Encrypt that wraps L4 `key`, `owner`'s key `id`, under `l3`.
fn wrap_request(
    l3: &L3Ref,
    owner: &str,
    id: &str,
    key: &SecretBytes,
) -> Result<EncryptRequest, CoreError> {
    Ok(EncryptRequest {
        unique_identifier: Some(l3.unique_identifier().into()),
        cryptographic_parameters: Some(gcm()),
        data: key.clone(),
        iv_counter_nonce: None,
        authenticated_encryption_additional_data: Some(binding(owner, id)?),
    })
}

/// The Decrypt that unwraps `owner`'s key `id` from `wrapped`, under `l3`.
fn unwrap_request(
    l3: &L3Ref,
    owner: &str,
    id: &str,
    wrapped: &WrappedKey,
) -> Result<DecryptRequest, CoreError> {
    Ok(DecryptRequest {
        unique_identifier: Some(l3.unique_identifier().into()),
        cryptographic_parameters: Some(gcm()),
        data: wrapped.as_bytes().to_vec(),
        iv_counter_nonce: None,
        authenticated_encryption_additional_data: Some(binding(owner, id)?),
        authenticated_encryption_tag: None,
    })
}

/// The additional data that binds a blob to `owner`'s key `id`.
fn binding(owner: &str, id: &str) -> Result<Vec<u8>, CoreError> {
    WrapBinding::new(owner, id)
        .encode()
        .map_err(CoreError::Unbindable)
}

/// The Destroy that tells the core that `owner`'s L4 `id`, wrapped under `l3`, is destroyed: it
/// names the L4 by its L3 and the additional data every wrap and unwrap of it binds
/// ([`binding`]), so the core's record matches the requests it must refuse.
fn shred_request(l3: &L3Ref, owner: &str, id: &str) -> Result<DestroyRequest, CoreError> {
    let l4 = format!(
        "l4/{}/{}/{}",
        l3.tenant,
        l3.service,
        hex::encode(binding(owner, id)?)
    );
    Ok(DestroyRequest {
        unique_identifier: Some(l4.into()),
    })
}

/// The blob of a wrap, if the answer is the self-describing blob the contract promises.
fn wrapped_blob(response: EncryptResponse) -> Result<WrappedKey, CoreError> {
    if response.iv_counter_nonce.is_some() || response.authenticated_encryption_tag.is_some() {
        // The blob must carry its IV and tag: storing it without them would lose the key.
        return Err(CoreError::Contract(
            "Encrypt returned the IV or tag apart from the wrapped blob",
        ));
    }
    checked_blob(response.data)
}

/// `data` as a wrapped blob, if its size is possible.
fn checked_blob(data: Vec<u8>) -> Result<WrappedKey, CoreError> {
    if data.is_empty() || data.len() > MAX_WRAPPED_LEN {
        return Err(CoreError::Contract(
            "the wrapped blob has an impossible size",
        ));
    }
    Ok(WrappedKey::new(data))
}

/// A one-operation request of the gateway's own, in the link's version.
fn link_request(payload: impl TypedRequest) -> Item {
    link_message(vec![RequestBatchItem::new(payload)])
}

/// A request of the gateway's own with `batch_items`, in the link's version, carrying the
/// correlation id of the application's request it serves, if any.
fn link_message(batch_items: Vec<RequestBatchItem>) -> Item {
    let mut header = RequestHeader::new(LINK_VERSION);
    header.client_correlation_value = current_correlation();
    RequestMessage {
        header,
        batch_items,
    }
    .to_item()
}

/// The payload of the one successful batch item of `response`.
fn only_payload(response: ResponseMessage) -> Result<ResponsePayload, CoreError> {
    let [item] = <[_; 1]>::try_from(response.batch_items)
        .map_err(|_| CoreError::Contract("the answer has more than one batch item"))?;
    item_payload(item)
}

/// The payload of `item`, if it succeeded.
fn item_payload(item: ResponseBatchItem) -> Result<ResponsePayload, CoreError> {
    match (item.result_status, item.payload) {
        (ResultStatus::Success, Some(payload)) => Ok(payload),
        (ResultStatus::Success, None) => Err(CoreError::Contract("success without a payload")),
        (ResultStatus::OperationFailed, _) => Err(CoreError::Refused {
            reason: item.result_reason.unwrap_or(ResultReason::GeneralFailure),
            message: item.result_message.unwrap_or_default(),
        }),
        _ => Err(CoreError::Contract(
            "a result status other than success or failure",
        )),
    }
}

fn gcm() -> CryptographicParameters {
    CryptographicParameters {
        block_cipher_mode: Some(BlockCipherMode::Gcm),
        ..CryptographicParameters::default()
    }
}

#[cfg(test)]
mod tests {
    use kmip::{
        DateTime, Limits, ProtocolVersion, RequestPayload, ResponseBatchItem, ResponseHeader,
    };

    use super::*;

    fn l3() -> L3Ref {
        L3Ref {
            tenant: "acme".into(),
            service: "payments".into(),
        }
    }

    /// `item` as the core receives it.
    fn through_wire(item: &Item) -> Item {
        let mut bytes = Vec::new();
        kmip::encode(item, &mut bytes).unwrap();
        kmip::decode(&bytes, &Limits::default()).unwrap()
    }

    #[test]
    fn a_wrap_is_the_agreed_encrypt() {
        let key = SecretBytes::new(vec![0x11; 32]);
        let sent = through_wire(&link_request(
            wrap_request(&l3(), "app-1", "key-1", &key).unwrap(),
        ));
        let message = RequestMessage::from_item(&sent).unwrap();
        assert_eq!(message.header.protocol_version, ProtocolVersion::V1_4);
        assert_eq!(
            message.header.authentication, None,
            "the gateway speaks for itself"
        );
        let [item] = <[_; 1]>::try_from(message.batch_items).unwrap();
        let RequestPayload::Encrypt(encrypt) = item.payload else {
            panic!("{item:?}")
        };
        assert_eq!(encrypt.unique_identifier, Some("l3/acme/payments".into()));
        assert_eq!(
            encrypt.cryptographic_parameters.unwrap().block_cipher_mode,
            Some(BlockCipherMode::Gcm)
        );
        assert_eq!(&encrypt.data[..], &[0x11; 32]);
        assert_eq!(encrypt.iv_counter_nonce, None, "the core draws the IV");
        assert_eq!(
            encrypt.authenticated_encryption_additional_data.as_deref(),
            Some(&b"\x01\x00\x05app-1\x00\x05key-1"[..]),
            "owner and identifier, each with its length"
        );
    }

    #[test]
    fn an_unwrap_is_the_agreed_decrypt() {
        let blob = WrappedKey::new(vec![0x22; 61]);
        let sent = through_wire(&link_request(
            unwrap_request(&l3(), "app-1", "key-1", &blob).unwrap(),
        ));
        let message = RequestMessage::from_item(&sent).unwrap();
        let [item] = <[_; 1]>::try_from(message.batch_items).unwrap();
        let RequestPayload::Decrypt(decrypt) = item.payload else {
            panic!("{item:?}")
        };
        assert_eq!(decrypt.unique_identifier, Some("l3/acme/payments".into()));
        assert_eq!(decrypt.data, vec![0x22; 61]);
        assert_eq!(
            decrypt.authenticated_encryption_additional_data.as_deref(),
            Some(&b"\x01\x00\x05app-1\x00\x05key-1"[..])
        );
        let too_long = "k".repeat(2000);
        assert!(matches!(
            unwrap_request(&l3(), "app-1", &too_long, &blob),
            Err(CoreError::Unbindable(_))
        ));
        assert_eq!(
            (
                decrypt.iv_counter_nonce,
                decrypt.authenticated_encryption_tag
            ),
            (None, None)
        );
    }

    #[test]
    fn a_shred_names_the_l4_by_its_l3_and_binding() {
        let sent = through_wire(&link_request(
            shred_request(&l3(), "app-1", "key-1").unwrap(),
        ));
        let message = RequestMessage::from_item(&sent).unwrap();
        assert_eq!(
            message.header.authentication, None,
            "the gateway speaks for itself"
        );
        let [item] = <[_; 1]>::try_from(message.batch_items).unwrap();
        let RequestPayload::Destroy(destroy) = item.payload else {
            panic!("{item:?}")
        };
        let expected = format!(
            "l4/acme/payments/{}",
            hex::encode(binding("app-1", "key-1").unwrap())
        );
        assert_eq!(destroy.unique_identifier, Some(expected.into()));
    }

    #[test]
    fn a_blob_must_describe_itself() {
        let response = |data: Vec<u8>, tag: Option<Vec<u8>>| EncryptResponse {
            unique_identifier: "l3/acme/payments".into(),
            data,
            iv_counter_nonce: None,
            authenticated_encryption_tag: tag,
        };
        assert_eq!(
            wrapped_blob(response(vec![1; 60], None)).unwrap(),
            WrappedKey::new(vec![1; 60])
        );
        for refused in [
            response(vec![1; 60], Some(vec![2; 16])),
            response(Vec::new(), None),
            response(vec![1; MAX_WRAPPED_LEN + 1], None),
        ] {
            assert!(matches!(wrapped_blob(refused), Err(CoreError::Contract(_))));
        }
    }

    #[test]
    fn the_cores_refusal_keeps_its_reason() {
        let message = |items| ResponseMessage {
            header: ResponseHeader::new(ProtocolVersion::V1_4, DateTime(0)),
            batch_items: items,
        };
        let refusal = ResponseBatchItem::failure(
            Some(kmip::Operation::Encrypt),
            ResultReason::PermissionDenied,
            "tenant acme is unlinked",
        );
        let error = only_payload(message(vec![refusal.clone()])).unwrap_err();
        assert!(
            matches!(&error, CoreError::Refused { reason: ResultReason::PermissionDenied, message } if message == "tenant acme is unlinked"),
            "{error:?}"
        );
        let error = only_payload(message(vec![refusal.clone(), refusal])).unwrap_err();
        assert!(matches!(error, CoreError::Contract(_)));
    }

    #[test]
    fn a_followers_refusal_is_told_from_the_others() {
        let answer = |message: &str| {
            let item = ResponseBatchItem::failure(
                Some(kmip::Operation::Register),
                ResultReason::GeneralFailure,
                message,
            );
            through_wire(
                &ResponseMessage {
                    header: ResponseHeader::new(ProtocolVersion::V1_4, DateTime(0)),
                    batch_items: vec![item],
                }
                .to_item(),
            )
        };
        assert!(from_follower(&answer(FOLLOWING_CORE)));
        assert!(!from_follower(&answer("krypton-core is sealed")));
    }
}
