//! The operations the gateway answers itself: the life of its own L4 keys (Create, Create Key
//! Pair, Register of public keys, private keys and X.509 certificates, Get, the lifecycle and
//! attribute operations, Re-key, Derive Key, Locate), their use without leaving it (Encrypt,
//! Decrypt, Sign, Signature Verify, MAC, MAC Verify), and RNG Retrieve. Discover Versions and
//! Query are the shared skeleton's (`kmip::server`), answered from the gateway's table of
//! operations.
//!
//! Each operation takes a [`Context`] — the caller, the time of the request, the vault and the
//! core — and returns the response payload or a [`Refusal`]. Operations on an existing key get
//! the caller's record, already read: the router found it while deciding the request was the
//! gateway's.

mod asymmetric;
mod attributes;
mod certificate;
mod create;
mod crypto;
mod derive;
mod get;
mod key_pair;
mod lifecycle;
mod locate;
mod random;
mod register;
mod rekey;
mod transparent;

pub(crate) use register::registers_here;

use kmip::{
    DateTime, ProtocolVersion, RequestHeader, RequestPayload, ResponsePayload, ResultReason,
};

use crate::config::KeyLimits;
use crate::core_link::{CoreError, CoreLink};
use crate::error::ErrorChain;
use crate::principal::Principal;
use crate::refusal::Refusal;
use crate::shredding;
use crate::vault::{Found, Record, Vault, VaultError};

/// How often an update is retried when concurrent requests change the same key.
const MAX_UPDATE_ATTEMPTS: usize = 8;

/// Everything an operation needs to answer one batch item.
#[derive(Debug)]
pub(crate) struct Context<'a, V> {
    pub(crate) vault: &'a V,
    pub(crate) core: &'a CoreLink,
    pub(crate) principal: Principal<'a>,
    /// The request's header, for operations that consult the core on the caller's behalf.
    pub(crate) header: &'a RequestHeader,
    /// The time of the request: every date an operation sets, and every state it reads.
    pub(crate) now: DateTime,
    pub(crate) keys: KeyLimits,
}

impl<V> Context<'_, V> {
    pub(crate) fn version(&self) -> ProtocolVersion {
        self.header.protocol_version
    }

    pub(crate) fn owner(&self) -> &str {
        self.principal.identity
    }
}

/// A batch item the gateway answers itself.
#[derive(Debug)]
pub(crate) enum Local {
    /// An operation that names no existing key.
    Unbound(RequestPayload),
    /// An operation on one of the caller's keys, with its record as found.
    Owned(Box<Found>, RequestPayload),
}

/// Answers one local batch item.
pub(crate) async fn run<V: Vault>(
    context: &Context<'_, V>,
    local: Local,
) -> Result<ResponsePayload, Refusal> {
    use RequestPayload as P;
    Ok(match local {
        Local::Unbound(P::Create(request)) => create::create(context, request).await?.into(),
        Local::Unbound(P::CreateKeyPair(request)) => {
            key_pair::create_key_pair(context, request).await?.into()
        }
        Local::Unbound(P::Locate(request)) => locate::locate(context, request).await?.into(),
        Local::Unbound(P::RngRetrieve(request)) => random::rng_retrieve(&request)?.into(),
        Local::Unbound(P::Register(request)) => register::register(context, request).await?.into(),
        Local::Owned(found, P::Get(request)) => get::get(context, *found, &request).await?.into(),
        Local::Owned(found, P::Activate(_)) => {
            lifecycle::activate(context, found.record).await?.into()
        }
        Local::Owned(found, P::Revoke(request)) => {
            lifecycle::revoke(context, found.record, request)
                .await?
                .into()
        }
        Local::Owned(found, P::Destroy(_)) => {
            lifecycle::destroy(context, found.record).await?.into()
        }
        Local::Owned(found, P::Rekey(request)) => {
            rekey::rekey(context, found.record, request).await?.into()
        }
        Local::Owned(found, P::DeriveKey(request)) => {
            derive::derive_key(context, *found, request).await?.into()
        }
        Local::Owned(found, P::Encrypt(request)) => {
            crypto::encrypt(context, *found, request).await?.into()
        }
        Local::Owned(found, P::Decrypt(request)) => {
            crypto::decrypt(context, *found, request).await?.into()
        }
        Local::Owned(found, P::Sign(request)) => {
            crypto::sign(context, *found, request).await?.into()
        }
        Local::Owned(found, P::SignatureVerify(request)) => {
            crypto::signature_verify(context, *found, request)
                .await?
                .into()
        }
        Local::Owned(found, P::Mac(request)) => crypto::mac(context, *found, request).await?.into(),
        Local::Owned(found, P::MacVerify(request)) => {
            crypto::mac_verify(context, *found, request).await?.into()
        }
        Local::Owned(found, P::GetAttributes(request)) => {
            attributes::get_attributes(context, &found.record, &request).into()
        }
        Local::Owned(found, P::GetAttributeList(_)) => {
            attributes::get_attribute_list(context, &found.record).into()
        }
        Local::Owned(found, P::AddAttribute(request)) => {
            attributes::add(context, found.record, request)
                .await?
                .into()
        }
        Local::Owned(found, P::ModifyAttribute(request)) => {
            attributes::modify_attribute(context, found.record, request)
                .await?
                .into()
        }
        Local::Owned(found, P::DeleteAttribute(request)) => {
            attributes::delete(context, found.record, request)
                .await?
                .into()
        }
        Local::Owned(found, P::SetAttribute(request)) => {
            attributes::set(context, found.record, request)
                .await?
                .into()
        }
        Local::Owned(found, P::AdjustAttribute(request)) => {
            attributes::adjust(context, found.record, request)
                .await?
                .into()
        }
        Local::Owned(..) | Local::Unbound(_) => {
            return Err(Refusal::new(
                ResultReason::OperationNotSupported,
                "the operation is not available for keys the gateway holds: fetch the key with Get",
            ));
        }
    })
}

/// How a changed record is stored.
#[derive(Clone, Copy)]
enum Write {
    /// [`Vault::update`].
    Replace,
    /// [`Vault::shred`]: with the key's shred notice for the core.
    Shred,
}

/// Applies `change` to the caller's `record` and stores it; when a concurrent request changed
/// the record first, reads it again and reapplies `change`, a bounded number of times.
async fn update<V: Vault, T>(
    context: &Context<'_, V>,
    record: Record,
    change: impl FnMut(&mut Record) -> Result<T, Refusal>,
) -> Result<T, Refusal> {
    store_changed(context, record, Write::Replace, change).await
}

/// As [`update`], for a `change` that destroys the key: its shred notice is queued with it.
async fn shred<V: Vault, T>(
    context: &Context<'_, V>,
    record: Record,
    change: impl FnMut(&mut Record) -> Result<T, Refusal>,
) -> Result<T, Refusal> {
    store_changed(context, record, Write::Shred, change).await
}

async fn store_changed<V: Vault, T>(
    context: &Context<'_, V>,
    mut record: Record,
    write: Write,
    mut change: impl FnMut(&mut Record) -> Result<T, Refusal>,
) -> Result<T, Refusal> {
    let id = record.id.clone();
    for _ in 0..MAX_UPDATE_ATTEMPTS {
        let outcome = change(&mut record)?;
        let stored = match write {
            Write::Replace => context.vault.update(record).await,
            Write::Shred => context.vault.shred(record, shredding::MAX_PENDING).await,
        };
        match stored {
            Ok(()) => return Ok(outcome),
            Err(VaultError::Conflict) => {}
            Err(VaultError::NotFound) => return Err(Refusal::not_found(&id)),
            Err(VaultError::ShredQueueFull { limit }) => {
                tracing::error!(
                    limit,
                    "the queue of destroyed keys is full: Destroy refused"
                );
                return Err(Refusal::new(
                    ResultReason::GeneralFailure,
                    format!(
                        "{limit} destroyed keys are waiting for krypton-core to hear of them; \
                         the key was not destroyed: retry when the core is reachable"
                    ),
                ));
            }
            Err(error) => return Err(vault_failure(&error)),
        }
        record = context
            .vault
            .get(context.owner(), &id)
            .await
            .map_err(|error| vault_failure(&error))?
            .ok_or_else(|| Refusal::not_found(&id))?;
    }
    Err(Refusal::new(
        ResultReason::GeneralFailure,
        "the key is being changed by concurrent requests; retry",
    ))
}

/// The refusal for a vault failure, which is logged: the client learns only that it happened,
/// or, for a record moved or copied into place, that it is not served.
pub(crate) fn vault_failure(error: &VaultError) -> Refusal {
    tracing::error!(error = %ErrorChain(error), "vault failure");
    let message = match error {
        VaultError::Misplaced { .. } => {
            "the vault's record of this key names another owner or key: it was moved or copied \
             there, and is not served"
        }
        // The answers about records reach here only where the caller had none of its own.
        VaultError::Exists
        | VaultError::NotFound
        | VaultError::Conflict
        | VaultError::ShredQueueFull { .. }
        | VaultError::Storage { .. }
        | VaultError::Corrupt { .. }
        | VaultError::Settings(_)
        | VaultError::Task(_) => {
            "the gateway's key vault failed; the operation was not carried out"
        }
    };
    Refusal::new(ResultReason::GeneralFailure, message)
}

/// The refusal for a failed call to the core made to `action` (say, "wrap the new key").
pub(crate) fn core_failure(action: &'static str, error: CoreError) -> Refusal {
    match error {
        CoreError::Refused { reason, message } => {
            tracing::warn!(?reason, %message, "krypton-core refused to {action}");
            Refusal::new(
                reason,
                format!("krypton-core refused to {action}: {message}"),
            )
        }
        CoreError::Unreachable(ref source) => {
            tracing::warn!(error = %ErrorChain(source), "krypton-core unreachable: cannot {action}");
            Refusal::new(
                ResultReason::GeneralFailure,
                format!(
                    "krypton-core is unreachable, so the gateway cannot {action} now; \
                     nothing was changed: retry when it is back"
                ),
            )
        }
        CoreError::Unbindable(ref source) => {
            tracing::error!(error = %ErrorChain(source), "cannot {action}");
            Refusal::new(
                ResultReason::GeneralFailure,
                format!("the gateway cannot {action}: {source}"),
            )
        }
        error @ (CoreError::Contract(_) | CoreError::Decode(_)) => {
            tracing::error!(error = %ErrorChain(&error), "krypton-core broke the contract");
            Refusal::new(
                ResultReason::GeneralFailure,
                format!("krypton-core's answer did not allow to {action}; see the gateway's log"),
            )
        }
    }
}
