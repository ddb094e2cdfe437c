//! Who gets a place on the server: two stages, so that a flood of silent or unwanted
//! connections cannot lock real clients out, and a burst of real ones is served whole.
//!
//! A new connection first stands in the *handshake* stage, for its TLS handshake and, when its
//! certificate names no identity the service admits, for the one answer saying so. The stage is
//! small ([`ServerLimits::max_handshakes`], and [`ServerLimits::max_handshakes_per_address`] for
//! one IP address). A newcomer that finds it full waits for a place to free (in a waiting room
//! as large as the serving stage), or pushes out the oldest connection there (of its address,
//! or of all) once that one has been there for [`GRACE`]. A real client's handshake takes
//! milliseconds, so a burst of them — an application opening its whole pool at once, many
//! clients behind one NAT — gets through without anyone pushing anyone out, while connections
//! that never finish a handshake are pushed out once they have had their grace. When the
//! waiting room is full too (a flood), the newcomer pushes out the oldest at once: silent
//! connections then only push each other out, while a real client, whose handshake is done
//! before the flood reaches it again, gets through.
//!
//! An authenticated, admitted connection then takes a place in the *serving* stage
//! ([`ServerLimits::max_connections`], and [`ServerLimits::max_connections_per_address`]), or is
//! closed at once if there is none: a place being served is never taken from anyone.
//!
//! Both stages are counted under one short lock that guards plain data; no I/O runs under it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::{Instant, sleep_until};

use crate::net::limits::ServerLimits;

/// How long a connection in the handshake stage is safe from being pushed out by a newcomer
/// that could wait instead: far longer than a handshake takes on a busy machine, far shorter
/// than the handshake timeout a silent connection would otherwise hold its place for.
const GRACE: Duration = Duration::from_secs(1);

/// The places of one server.
pub(super) struct Admission {
    limits: ServerLimits,
    state: Mutex<State>,
    /// Told whenever a connection leaves the handshake stage: the waiting look again.
    freed: Notify,
}

#[derive(Default)]
struct State {
    /// The next handshake's number: numbers grow with arrival, so the first entry of
    /// `handshakes` is the oldest.
    next: u64,
    handshakes: BTreeMap<u64, Handshaking>,
    handshakes_by_address: HashMap<IpAddr, usize>,
    /// Newcomers waiting for a place in the handshake stage.
    waiting: usize,
    waiting_by_address: HashMap<IpAddr, usize>,
    serving: usize,
    serving_by_address: HashMap<IpAddr, usize>,
}

struct Handshaking {
    address: IpAddr,
    /// When it took its place: it may be pushed out by a newcomer that could wait from
    /// [`GRACE`] after.
    since: Instant,
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
            freed: Notify::new(),
        })
    }

    /// Whether a connection from `address` would find no place to be served: checked before
    /// its handshake, which costs the server more than the check.
    pub(super) fn serving_full(&self, address: IpAddr) -> Option<Full> {
        let full = self.lock().serving_full(&self.limits, address);
        full.inspect(|full| full.count());
        full
    }

    /// A connection from `address` arrives at the handshake stage: it takes a place at once
    /// if there is one, or pushes out the oldest connection there (of this address first) if
    /// that one has had its [`GRACE`] or the waiting room is full; else it waits
    /// ([`Arrival::place`]). Decided here, on the accept loop, in the order connections
    /// arrive: a connection accepted later never decides before one accepted earlier.
    ///
    /// A waiting newcomer pushes out only a connection that has had its grace, never a young
    /// one: else a crowd that waited together would, its patience run out, push out handshakes
    /// a few milliseconds from done.
    pub(super) fn handshake(self: &Arc<Self>, address: IpAddr) -> Arrival {
        let mut waiting = Waiting {
            admission: Arc::clone(self),
            address,
            joined: false,
            deadline: Instant::now() + self.limits.handshake_timeout,
        };
        let mut state = self.lock();
        match self.try_place(&mut state, &mut waiting) {
            Ok(place) => Arrival::Placed(place),
            Err(_) => {
                waiting.join(&mut state);
                Arrival::Waiting(waiting)
            }
        }
    }

    /// A place for `waiting`'s connection now, if there is one or one may be taken; else when
    /// the connection in its way will have had its grace.
    fn try_place(
        self: &Arc<Self>,
        state: &mut State,
        waiting: &mut Waiting,
    ) -> Result<HandshakePlace, Instant> {
        if let Some(blocker) = state.blocker(&self.limits, waiting.address) {
            let graced = blocker.since + GRACE;
            let room = waiting.joined || state.may_wait(&self.limits, waiting.address);
            if Instant::now() < graced && room {
                return Err(graced);
            }
            state.evict(blocker.number);
        }
        Ok(self.enter(state, waiting))
    }

    /// Takes a place in the handshake stage for `waiting`'s connection, leaving the waiting
    /// room.
    fn enter(self: &Arc<Self>, state: &mut State, waiting: &mut Waiting) -> HandshakePlace {
        waiting.leave(state);
        let address = waiting.address;
        let (evict, evicted) = oneshot::channel();
        let number = state.next;
        state.next += 1;
        state.handshakes.insert(
            number,
            Handshaking {
                address,
                since: Instant::now(),
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

    /// The connection whose place a newcomer from `address` needs, if the handshake stage is
    /// full for it: the oldest of its address when the address has its share, else the oldest
    /// of all when the stage is full.
    fn blocker(&self, limits: &ServerLimits, address: IpAddr) -> Option<Blocker> {
        let of_address = self.handshakes_by_address.get(&address).copied();
        let oldest = |which: &dyn Fn(&Handshaking) -> bool| {
            self.handshakes
                .iter()
                .find(|(_, handshaking)| which(handshaking))
                .map(|(&number, handshaking)| Blocker {
                    number,
                    since: handshaking.since,
                })
        };
        if of_address >= Some(limits.max_handshakes_per_address.get()) {
            return oldest(&|handshaking| handshaking.address == address);
        }
        if self.handshakes.len() >= limits.max_handshakes.get() {
            return oldest(&|_| true);
        }
        None
    }

    /// Whether a newcomer from `address` may wait: the waiting room holds as many as may be
    /// served ([`ServerLimits::max_connections`], per address
    /// [`ServerLimits::max_connections_per_address`]), each a socket without TLS state yet.
    fn may_wait(&self, limits: &ServerLimits, address: IpAddr) -> bool {
        let of_address = self.waiting_by_address.get(&address).copied().unwrap_or(0);
        self.waiting < limits.max_connections.get()
            && of_address < limits.max_connections_per_address.get()
    }

    /// Drops handshaking connection `number`; its place is free at once.
    fn evict(&mut self, number: u64) {
        self.leave_handshake(number);
        metrics::counter!("kmip_connections_dropped_total", "why" => "handshake-stage-full")
            .increment(1);
    }

    /// The stages' sizes, for the daemon's metrics (a no-op unless a recorder is installed).
    fn publish(&self) {
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let (handshaking, waiting, serving) = (
            self.handshakes.len() as f64,
            self.waiting as f64,
            self.serving as f64,
        );
        metrics::gauge!("kmip_connections", "stage" => "handshake").set(handshaking);
        metrics::gauge!("kmip_connections", "stage" => "waiting").set(waiting);
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

/// The handshaking connection in a newcomer's way, and since when.
struct Blocker {
    number: u64,
    since: Instant,
}

/// Where an arriving connection stands: in the handshake stage, or waiting for a place there.
pub(super) enum Arrival {
    Placed(HandshakePlace),
    Waiting(Waiting),
}

impl Arrival {
    /// The connection's place in the handshake stage; `None` if none came within the handshake
    /// timeout (a flood that never ends).
    pub(super) async fn place(self) -> Option<HandshakePlace> {
        match self {
            Self::Placed(place) => Some(place),
            Self::Waiting(waiting) => waiting.wait().await,
        }
    }
}

/// A newcomer's place in the waiting room, if it took one; given back when it enters the
/// stage or gives up (its task ends: the server stops).
pub(super) struct Waiting {
    admission: Arc<Admission>,
    address: IpAddr,
    joined: bool,
    /// When it gives up: the handshake timeout after it arrived.
    deadline: Instant,
}

impl Waiting {
    /// Waits until a place frees or the connection in the way has had its grace.
    async fn wait(mut self) -> Option<HandshakePlace> {
        let admission = Arc::clone(&self.admission);
        loop {
            // Registered before the stage is looked at, so that a place freed in between is
            // not missed.
            let mut freed = pin!(admission.freed.notified());
            freed.as_mut().enable();
            let wait_until = {
                let mut state = admission.lock();
                match admission.try_place(&mut state, &mut self) {
                    Ok(place) => return Some(place),
                    Err(_) if Instant::now() >= self.deadline => return None,
                    Err(graced) => graced.min(self.deadline),
                }
            };
            tokio::select! {
                () = freed => {}
                () = sleep_until(wait_until) => {}
            }
        }
    }

    fn join(&mut self, state: &mut State) {
        if !self.joined {
            self.joined = true;
            state.waiting += 1;
            *state.waiting_by_address.entry(self.address).or_default() += 1;
            state.publish();
        }
    }

    fn leave(&mut self, state: &mut State) {
        if self.joined {
            self.joined = false;
            state.waiting -= 1;
            decrement(&mut state.waiting_by_address, self.address);
            state.publish();
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.joined {
            let admission = Arc::clone(&self.admission);
            self.leave(&mut admission.lock());
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
        // Nothing to give back if it was evicted: eviction freed the place already (and the
        // newcomer that evicted it took it).
        self.admission.lock().leave_handshake(self.number);
        self.admission.freed.notify_waiters();
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

    /// The place `arrival` took at once, without waiting.
    fn placed(arrival: Arrival) -> HandshakePlace {
        match arrival {
            Arrival::Placed(place) => place,
            Arrival::Waiting(_) => panic!("the newcomer waits instead of taking a place at once"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_newcomer_waits_for_a_place_rather_than_push_out_a_young_handshake() {
        let admission = admission(3, 2);
        let mut first = admission.handshake(address(1)).place().await.unwrap();
        let mut second = admission.handshake(address(1)).place().await.unwrap();
        // A third from address 1 is over its share: it waits, and a place freed is its.
        let third = tokio::spawn({
            let admission = Arc::clone(&admission);
            async move { admission.handshake(address(1)).place().await.unwrap() }
        });
        tokio::time::sleep(GRACE / 2).await;
        assert!(!third.is_finished());
        assert!(!is_evicted(&mut first) && !is_evicted(&mut second));
        assert_eq!(admission.lock().waiting, 1);
        drop(first);
        let third = third.await.unwrap();
        assert!(!is_evicted(&mut second));
        let state = admission.lock();
        assert_eq!((state.handshakes.len(), state.waiting), (2, 0));
        assert!(state.waiting_by_address.is_empty());
        drop((state, second, third));
    }

    #[tokio::test(start_paused = true)]
    async fn after_its_grace_a_newcomer_pushes_out_the_oldest_of_the_same_address_first() {
        let admission = admission(3, 2);
        let mut first = admission.handshake(address(1)).place().await.unwrap();
        let mut other = admission.handshake(address(2)).place().await.unwrap();
        let mut second = admission.handshake(address(1)).place().await.unwrap();
        let started = Instant::now();
        // A third from address 1 is over its share: after its grace its own oldest goes, not
        // address 2's.
        let mut third = admission.handshake(address(1)).place().await.unwrap();
        assert_eq!(started.elapsed(), GRACE);
        assert!(is_evicted(&mut first));
        assert!(!is_evicted(&mut other) && !is_evicted(&mut second));
        // A newcomer from address 3 finds the stage full (3), and every place there past its
        // grace: the oldest of all goes at once.
        tokio::time::sleep(GRACE).await;
        let mut newcomer = placed(admission.handshake(address(3)));
        assert!(is_evicted(&mut other));
        assert!(!is_evicted(&mut second) && !is_evicted(&mut third));
        assert!(!is_evicted(&mut newcomer));
        drop((first, other, second, third, newcomer));
        let state = admission.lock();
        assert!(state.handshakes.is_empty() && state.handshakes_by_address.is_empty());
        assert_eq!(state.waiting, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_newcomer_that_waited_long_still_spares_a_young_handshake() {
        let admission = admission(4, 1);
        let first = admission.handshake(address(1)).place().await.unwrap();
        let waiter = tokio::spawn({
            let admission = Arc::clone(&admission);
            async move { admission.handshake(address(1)).place().await.unwrap() }
        });
        tokio::time::sleep(GRACE * 9 / 10).await;
        // The place frees, and a newcomer takes it before the waiter looks again.
        drop(first);
        let mut young = placed(admission.handshake(address(1)));
        // The waiter has waited past its own grace, but the young handshake has not had its.
        tokio::time::sleep(GRACE / 2).await;
        assert!(!waiter.is_finished() && !is_evicted(&mut young));
        let mut waited = waiter.await.unwrap();
        assert!(is_evicted(&mut young) && !is_evicted(&mut waited));
        drop((young, waited));
    }

    #[tokio::test(start_paused = true)]
    async fn with_the_waiting_room_full_a_newcomer_pushes_out_the_oldest_at_once() {
        let admission = admission(4, 1);
        let mut first = admission.handshake(address(1)).place().await.unwrap();
        // The one waiting place of address 1 taken, by a connection that waits.
        let waiter = tokio::spawn({
            let admission = Arc::clone(&admission);
            async move { admission.handshake(address(1)).place().await.unwrap() }
        });
        tokio::task::yield_now().await;
        assert_eq!(admission.lock().waiting, 1);
        // A flood: the next newcomer cannot wait, and takes the oldest's place at once.
        let mut newcomer = placed(admission.handshake(address(1)));
        assert!(is_evicted(&mut first));
        assert!(!is_evicted(&mut newcomer));
        // The waiter still gets its place after its grace.
        let mut waited = waiter.await.unwrap();
        assert!(is_evicted(&mut newcomer) && !is_evicted(&mut waited));
        drop((first, newcomer, waited));
        assert_eq!(admission.lock().waiting, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_newcomer_that_gives_up_leaves_the_waiting_room() {
        let admission = admission(4, 1);
        let first = admission.handshake(address(1)).place().await.unwrap();
        let gave_up =
            tokio::time::timeout(GRACE / 2, admission.handshake(address(1)).place()).await;
        assert!(gave_up.is_err());
        let state = admission.lock();
        assert_eq!(state.waiting, 0);
        assert!(state.waiting_by_address.is_empty());
        drop((state, first));
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
