//! Who gets a place on the server: two stages, so that a flood of silent or unwanted
//! connections cannot lock real clients out.
//!
//! A new connection first stands in the *handshake* stage, for its TLS handshake and, when its
//! certificate names no identity the service admits, for the one answer saying so. The stage is
//! small ([`ServerLimits::max_handshakes`], and [`ServerLimits::max_handshakes_per_address`] for
//! one IP address) and never turns a newcomer away: when it is full, the oldest connection in it
//! (of that address, or of all) is dropped to make room. Connections that never finish a
//! handshake therefore only push each other out, while a real client, whose handshake takes
//! milliseconds, gets through.
//!
//! An authenticated, admitted connection then takes a place in the *serving* stage
//! ([`ServerLimits::max_connections`], and [`ServerLimits::max_connections_per_address`]), or is
//! closed at once if there is none: a place being served is never taken from anyone.
//!
//! Both stages are counted under one short lock that guards plain data; no I/O runs under it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::net::limits::ServerLimits;

/// The places of one server.
pub(super) struct Admission {
    limits: ServerLimits,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The next handshake's number: numbers grow with arrival, so the first entry of
    /// `handshakes` is the oldest.
    next: u64,
    handshakes: BTreeMap<u64, Handshaking>,
    handshakes_by_address: HashMap<IpAddr, usize>,
    serving: usize,
    serving_by_address: HashMap<IpAddr, usize>,
}

struct Handshaking {
    address: IpAddr,
    /// Dropped to tell the connection it was pushed out.
    _evict: oneshot::Sender<()>,
}

/// A connection's place in the handshake stage, given back when dropped.
pub(super) struct HandshakePlace {
    admission: Arc<Admission>,
    number: u64,
    evicted: oneshot::Receiver<()>,
}

/// A connection's place in the serving stage, given back when dropped.
pub(super) struct ServingPlace {
    admission: Arc<Admission>,
    address: IpAddr,
}

impl Full {
    fn count(self) {
        let why = match self {
            Self::Server => "connection-limit",
            Self::Address => "address-connection-limit",
        };
        metrics::counter!("kmip_connections_dropped_total", "why" => why).increment(1);
    }
}

/// The serving stage is full, for everyone or for this address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Full {
    /// `max_connections` are served.
    Server,
    /// `max_connections_per_address` are served for this address.
    Address,
}

impl Admission {
    pub(super) fn new(limits: ServerLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            state: Mutex::default(),
        })
    }

    /// Whether a connection from `address` would find no place to be served: checked before
    /// its handshake, which costs the server more than the check.
    pub(super) fn serving_full(&self, address: IpAddr) -> Option<Full> {
        let full = self.lock().serving_full(&self.limits, address);
        full.inspect(|full| full.count());
        full
    }

    /// A place in the handshake stage for a connection from `address`, pushing out the oldest
    /// connection there (of this address first) if the stage is full.
    pub(super) fn handshake(self: &Arc<Self>, address: IpAddr) -> HandshakePlace {
        let (evict, evicted) = oneshot::channel();
        let mut state = self.lock();
        let of_address = state.handshakes_by_address.get(&address).copied();
        if of_address >= Some(self.limits.max_handshakes_per_address.get()) {
            state.evict_oldest(|handshaking| handshaking.address == address);
        }
        if state.handshakes.len() >= self.limits.max_handshakes.get() {
            state.evict_oldest(|_| true);
        }
        let number = state.next;
        state.next += 1;
        state.handshakes.insert(
            number,
            Handshaking {
                address,
                _evict: evict,
            },
        );
        *state.handshakes_by_address.entry(address).or_default() += 1;
        state.publish();
        HandshakePlace {
            admission: Arc::clone(self),
            number,
            evicted,
        }
    }

    /// A place in the serving stage for an authenticated connection from `address`.
    pub(super) fn serve(self: &Arc<Self>, address: IpAddr) -> Result<ServingPlace, Full> {
        let mut state = self.lock();
        if let Some(full) = state.serving_full(&self.limits, address) {
            full.count();
            return Err(full);
        }
        state.serving += 1;
        *state.serving_by_address.entry(address).or_default() += 1;
        state.publish();
        Ok(ServingPlace {
            admission: Arc::clone(self),
            address,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update below completes or leaves the counts as they were: a panic elsewhere
        // while the lock was held cannot have left them half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn serving_full(&self, limits: &ServerLimits, address: IpAddr) -> Option<Full> {
        if self.serving >= limits.max_connections.get() {
            return Some(Full::Server);
        }
        let of_address = self.serving_by_address.get(&address).copied().unwrap_or(0);
        (of_address >= limits.max_connections_per_address.get()).then_some(Full::Address)
    }

    /// Drops the oldest handshaking connection that `which` picks; its place is free at once.
    fn evict_oldest(&mut self, which: impl Fn(&Handshaking) -> bool) {
        let oldest = self
            .handshakes
            .iter()
            .find(|(_, handshaking)| which(handshaking))
            .map(|(&number, _)| number);
        if let Some(number) = oldest {
            self.leave_handshake(number);
            metrics::counter!("kmip_connections_dropped_total", "why" => "handshake-stage-full")
                .increment(1);
        }
    }

    /// The stages' sizes, for the daemon's metrics (a no-op unless a recorder is installed).
    fn publish(&self) {
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let (handshaking, serving) = (self.handshakes.len() as f64, self.serving as f64);
        metrics::gauge!("kmip_connections", "stage" => "handshake").set(handshaking);
        metrics::gauge!("kmip_connections", "stage" => "serving").set(serving);
    }

    fn leave_handshake(&mut self, number: u64) {
        if let Some(handshaking) = self.handshakes.remove(&number) {
            decrement(&mut self.handshakes_by_address, handshaking.address);
            self.publish();
        }
    }
}

fn decrement(counts: &mut HashMap<IpAddr, usize>, address: IpAddr) {
    if let Some(count) = counts.get_mut(&address) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&address);
        }
    }
}

impl HandshakePlace {
    /// Completes when the connection was pushed out of the handshake stage by newer ones.
    pub(super) async fn evicted(&mut self) {
        // The sender is only ever dropped, never used: both ends of the wait mean "evicted".
        let _ = (&mut self.evicted).await;
    }
}

impl Drop for HandshakePlace {
    fn drop(&mut self) {
        // Nothing to give back if it was evicted: eviction freed the place already.
        self.admission.lock().leave_handshake(self.number);
    }
}

impl Drop for ServingPlace {
    fn drop(&mut self) {
        let mut state = self.admission.lock();
        state.serving -= 1;
        decrement(&mut state.serving_by_address, self.address);
        state.publish();
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;

    use super::*;

    fn admission(handshakes: usize, per_address: usize) -> Arc<Admission> {
        Admission::new(ServerLimits {
            max_handshakes: NonZeroUsize::new(handshakes).unwrap(),
            max_handshakes_per_address: NonZeroUsize::new(per_address).unwrap(),
            max_connections: NonZeroUsize::new(2).unwrap(),
            max_connections_per_address: NonZeroUsize::new(1).unwrap(),
            ..ServerLimits::default()
        })
    }

    fn address(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn is_evicted(place: &mut HandshakePlace) -> bool {
        !matches!(
            place.evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        )
    }

    #[test]
    fn a_full_handshake_stage_pushes_out_the_oldest_of_the_same_address_first() {
        let admission = admission(3, 2);
        let mut first = admission.handshake(address(1));
        let mut other = admission.handshake(address(2));
        let mut second = admission.handshake(address(1));
        assert!(!is_evicted(&mut first) && !is_evicted(&mut other));
        // A third from address 1 is over its share: its own oldest goes, not address 2's.
        let mut third = admission.handshake(address(1));
        assert!(is_evicted(&mut first));
        assert!(!is_evicted(&mut other) && !is_evicted(&mut second));
        // A newcomer from address 3 finds the stage full (3): the oldest of all goes.
        let mut newcomer = admission.handshake(address(3));
        assert!(is_evicted(&mut other));
        assert!(!is_evicted(&mut second) && !is_evicted(&mut third));
        assert!(!is_evicted(&mut newcomer));
        drop((first, other, second, third, newcomer));
        let state = admission.lock();
        assert!(state.handshakes.is_empty() && state.handshakes_by_address.is_empty());
    }

    #[test]
    fn serving_places_are_bounded_per_address_and_in_all_and_given_back() {
        let admission = admission(4, 4);
        let one = admission.serve(address(1)).unwrap();
        assert_eq!(admission.serve(address(1)).err(), Some(Full::Address));
        let two = admission.serve(address(2)).unwrap();
        assert_eq!(admission.serving_full(address(3)), Some(Full::Server));
        assert_eq!(admission.serve(address(3)).err(), Some(Full::Server));
        drop(one);
        assert!(admission.serve(address(1)).is_ok());
        drop(two);
        let state = admission.lock();
        assert_eq!(state.serving, 0);
        assert!(state.serving_by_address.is_empty());
    }
}
