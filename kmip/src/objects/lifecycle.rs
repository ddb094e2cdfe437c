//! The KMIP object lifecycle: which operation is allowed in which state, and where it leads
//! (KMIP 1.4 §3.22 and §4.19–4.21, 2.1 §6.1). The gateway applies it to its L4 keys, the core to
//! the objects applications register.
//!
//! | state         | Get | Activate    | Revoke (compromise)    | Revoke (other) | Destroy               |
//! |---------------|-----|-------------|------------------------|----------------|-----------------------|
//! | Pre-Active    | yes | → Active    | → Compromised          | → Deactivated  | → Destroyed           |
//! | Active        | yes | refused     | → Compromised          | → Deactivated  | refused: revoke first |
//! | Deactivated   | yes | refused     | → Compromised          | refused        | → Destroyed           |
//! | Compromised   | no  | refused     | stays, dates kept      | refused        | → Destroyed Compromised |
//! | Destroyed     | no  | refused     | → Destroyed Compromised | refused       | refused               |
//!
//! - **Get** of a Deactivated key is allowed: KMIP lets a deactivated key process data it
//!   protected before (decrypt, unwrap), which is how clients that revoke a key for
//!   rotation keep reading old data. A Compromised key "SHOULD only be used … in a client that
//!   is trusted to use managed objects that have been compromised"; Krypton trusts no client
//!   so, and refuses. A destroyed key has no key material left.
//! - **Revoke** with *Key Compromise* or *CA Compromise* leads to Compromised and sets the
//!   Compromise Date (now) and Compromise Occurrence Date (from the request, else the Initial
//!   Date); any other reason leads to Deactivated and sets the Deactivation Date.
//! - **Destroy** is refused for an Active key ("SHALL only be destroyed if … Pre-Active or
//!   Deactivated"; a Compromised key moves to Destroyed Compromised per the state diagram); the
//!   key material goes, the metadata stays, with the Destroy Date set.
//!
//! - **Encrypt** needs an Active key ("SHALL NOT be used to apply cryptographic protection"
//!   in any other state); **Decrypt** an Active or Deactivated one, as Get (a Pre-Active key
//!   "SHALL NOT be used for any cryptographic purpose").
//!
//! Refusals are *Wrong Key Lifecycle State*, or *Object Destroyed* for a destroyed key (1.x
//! clients receive *Permission Denied*, their version's equivalent).

use crate::attribute_values::RevocationReason;
use crate::datetime::DateTime;
use crate::enums::{RevocationReasonCode, State};
use crate::objects::metadata::Metadata;
use crate::objects::refusal::Refusal;

/// Whether a Get may return the key now.
///
/// # Errors
///
/// A [`Refusal`] for a Compromised or destroyed key.
pub fn check_get(metadata: &Metadata, now: DateTime) -> Result<(), Refusal> {
    match metadata.state_at(now) {
        State::PreActive | State::Active | State::Deactivated => Ok(()),
        state => Err(Refusal::wrong_state("Get", state)),
    }
}

/// Whether the key may protect data now (Encrypt, Sign, MAC): only while Active.
///
/// # Errors
///
/// A [`Refusal`] in any other state.
pub fn check_protect(
    metadata: &Metadata,
    now: DateTime,
    operation: &'static str,
) -> Result<(), Refusal> {
    match metadata.state_at(now) {
        State::Active => Ok(()),
        state => Err(Refusal::wrong_state(operation, state)),
    }
}

/// Whether the key may process data it protected (Decrypt, Signature Verify, MAC Verify): while
/// Active, and once Deactivated, as for [`check_get`].
///
/// # Errors
///
/// A [`Refusal`] in any other state.
pub fn check_process(
    metadata: &Metadata,
    now: DateTime,
    operation: &'static str,
) -> Result<(), Refusal> {
    match metadata.state_at(now) {
        State::Active | State::Deactivated => Ok(()),
        state => Err(Refusal::wrong_state(operation, state)),
    }
}

/// Activate: Pre-Active to Active, with the Activation Date set to `now`.
///
/// # Errors
///
/// A [`Refusal`] unless the key is Pre-Active.
pub fn activate(metadata: &mut Metadata, now: DateTime) -> Result<(), Refusal> {
    match metadata.state_at(now) {
        State::PreActive => {
            metadata.state = State::Active;
            metadata.activation_date = Some(now);
            touch(metadata, now);
            Ok(())
        }
        state => Err(Refusal::wrong_state("Activate", state)),
    }
}

/// Revoke for `reason`, with the client's estimate of when a compromise happened.
///
/// # Errors
///
/// A [`Refusal`] when the state has no transition for the reason.
pub fn revoke(
    metadata: &mut Metadata,
    reason: RevocationReason,
    compromise_occurrence: Option<DateTime>,
    now: DateTime,
) -> Result<(), Refusal> {
    let state = metadata.state_at(now);
    let compromise = matches!(
        reason.code,
        RevocationReasonCode::KeyCompromise | RevocationReasonCode::CaCompromise
    );
    let next = match (compromise, state) {
        (true, State::Destroyed | State::DestroyedCompromised) => State::DestroyedCompromised,
        (true, _) => State::Compromised,
        (false, State::PreActive | State::Active) => State::Deactivated,
        (false, state) => return Err(Refusal::wrong_state("Revoke", state)),
    };
    if compromise {
        // A second compromise report does not move the dates of the first.
        if metadata.compromise_date.is_none() {
            metadata.compromise_date = Some(now);
            metadata.compromise_occurrence_date =
                Some(compromise_occurrence.unwrap_or(metadata.initial_date));
        }
    } else {
        metadata.deactivation_date = Some(now);
    }
    metadata.state = next;
    metadata.revocation_reason = Some(reason);
    touch(metadata, now);
    Ok(())
}

/// Destroy: the state after destruction, with the Destroy Date set. The caller drops the key
/// material.
///
/// # Errors
///
/// A [`Refusal`] for an Active key (revoke it first) or one already destroyed.
pub fn destroy(metadata: &mut Metadata, now: DateTime) -> Result<(), Refusal> {
    metadata.state = match metadata.state_at(now) {
        State::PreActive | State::Deactivated => State::Destroyed,
        State::Compromised => State::DestroyedCompromised,
        state => return Err(Refusal::wrong_state("Destroy", state)),
    };
    metadata.destroy_date = Some(now);
    touch(metadata, now);
    Ok(())
}

/// Records a change made at `now`.
pub fn touch(metadata: &mut Metadata, now: DateTime) {
    metadata.last_change_date = now;
}

#[cfg(test)]
mod tests {
    use crate::enums::{CryptographicAlgorithm, ObjectType, ResultReason};

    use super::*;

    const T0: DateTime = DateTime(1_000);
    const NOW: DateTime = DateTime(2_000);

    fn key(state: State) -> Metadata {
        Metadata {
            state,
            ..Metadata::new(
                ObjectType::SymmetricKey,
                Some(CryptographicAlgorithm::Aes),
                Some(128),
                T0,
            )
        }
    }

    fn reason(code: RevocationReasonCode) -> RevocationReason {
        RevocationReason {
            code,
            message: None,
        }
    }

    const ALL: [State; 6] = [
        State::PreActive,
        State::Active,
        State::Deactivated,
        State::Compromised,
        State::Destroyed,
        State::DestroyedCompromised,
    ];

    #[test]
    fn get_is_allowed_until_compromise_or_destruction() {
        for state in ALL {
            let allowed = check_get(&key(state), NOW).is_ok();
            let expected = matches!(state, State::PreActive | State::Active | State::Deactivated);
            assert_eq!(allowed, expected, "{state:?}");
        }
        let refusal = check_get(&key(State::Compromised), NOW).unwrap_err();
        assert_eq!(refusal.reason, ResultReason::WrongKeyLifecycleState);
        let refusal = check_get(&key(State::Destroyed), NOW).unwrap_err();
        assert_eq!(refusal.reason, ResultReason::ObjectDestroyed);
    }

    #[test]
    fn activate_only_from_pre_active() {
        let mut metadata = key(State::PreActive);
        activate(&mut metadata, NOW).unwrap();
        assert_eq!(metadata.state, State::Active);
        assert_eq!(metadata.activation_date, Some(NOW));
        assert_eq!(metadata.last_change_date, NOW);
        for state in &ALL[1..] {
            let refusal = activate(&mut key(*state), NOW).unwrap_err();
            assert_ne!(refusal.reason, ResultReason::ItemNotFound, "{state:?}");
        }
    }

    #[test]
    fn a_key_whose_activation_date_came_is_already_active() {
        let mut metadata = key(State::PreActive);
        metadata.activation_date = Some(T0);
        assert!(activate(&mut metadata, NOW).is_err());
        assert!(destroy(&mut metadata, NOW).is_err());
    }

    #[test]
    fn compromise_leads_to_compromised_from_every_live_state() {
        for state in [
            State::PreActive,
            State::Active,
            State::Deactivated,
            State::Compromised,
        ] {
            let mut metadata = key(state);
            revoke(
                &mut metadata,
                reason(RevocationReasonCode::KeyCompromise),
                None,
                NOW,
            )
            .unwrap();
            assert_eq!(metadata.state, State::Compromised, "{state:?}");
            assert_eq!(metadata.compromise_date, Some(NOW));
            assert_eq!(metadata.compromise_occurrence_date, Some(T0));
        }
        let mut destroyed = key(State::Destroyed);
        revoke(
            &mut destroyed,
            reason(RevocationReasonCode::CaCompromise),
            Some(DateTime(1_500)),
            NOW,
        )
        .unwrap();
        assert_eq!(destroyed.state, State::DestroyedCompromised);
        assert_eq!(destroyed.compromise_occurrence_date, Some(DateTime(1_500)));
    }

    #[test]
    fn a_second_compromise_report_keeps_the_first_dates() {
        let mut metadata = key(State::Active);
        let compromise = reason(RevocationReasonCode::KeyCompromise);
        revoke(
            &mut metadata,
            compromise.clone(),
            Some(DateTime(1_100)),
            NOW,
        )
        .unwrap();
        revoke(
            &mut metadata,
            compromise,
            Some(DateTime(1_200)),
            DateTime(3_000),
        )
        .unwrap();
        assert_eq!(metadata.compromise_date, Some(NOW));
        assert_eq!(metadata.compromise_occurrence_date, Some(DateTime(1_100)));
    }

    #[test]
    fn other_reasons_deactivate_a_live_key_only() {
        for code in [
            RevocationReasonCode::Unspecified,
            RevocationReasonCode::AffiliationChanged,
            RevocationReasonCode::Superseded,
            RevocationReasonCode::CessationOfOperation,
            RevocationReasonCode::PrivilegeWithdrawn,
        ] {
            for state in ALL {
                let mut metadata = key(state);
                let revoked = revoke(&mut metadata, reason(code), None, NOW);
                if matches!(state, State::PreActive | State::Active) {
                    revoked.unwrap();
                    assert_eq!(metadata.state, State::Deactivated);
                    assert_eq!(metadata.deactivation_date, Some(NOW));
                    assert_eq!(metadata.revocation_reason, Some(reason(code)));
                } else {
                    assert!(revoked.is_err(), "{code:?} from {state:?}");
                    assert_eq!(metadata, key(state), "a refusal changes nothing");
                }
            }
        }
    }

    #[test]
    fn destroy_requires_revocation_of_an_active_key() {
        let refusal = destroy(&mut key(State::Active), NOW).unwrap_err();
        assert_eq!(refusal.reason, ResultReason::WrongKeyLifecycleState);
        for (from, to) in [
            (State::PreActive, State::Destroyed),
            (State::Deactivated, State::Destroyed),
            (State::Compromised, State::DestroyedCompromised),
        ] {
            let mut metadata = key(from);
            destroy(&mut metadata, NOW).unwrap();
            assert_eq!(metadata.state, to);
            assert_eq!(metadata.destroy_date, Some(NOW));
        }
        for state in [State::Destroyed, State::DestroyedCompromised] {
            let refusal = destroy(&mut key(state), NOW).unwrap_err();
            assert_eq!(refusal.reason, ResultReason::ObjectDestroyed);
        }
    }
}
