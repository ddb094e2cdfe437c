//! What a KMIP server does with a request: the one trait krypton-core and krypton-gateway
//! implement.

use std::future::Future;

use crate::net::identity::PeerIdentity;
use crate::ttlv::Item;

/// Answers KMIP requests.
///
/// The transport hands over each request as a decoded TTLV item, so a service may parse it
/// into a [`RequestMessage`](crate::RequestMessage) or forward it untouched. It answers TTLV it
/// cannot decode itself, with a KMIP error response, before a service sees anything.
///
/// Requests on one connection are handled one at a time, in order; requests on different
/// connections concurrently, so `handle` runs on many tasks at once.
pub trait Service: Send + Sync + 'static {
    /// The response to `request` from `peer`: a Response Message, encoded as the client's
    /// protocol version requires. The service answers every request, failures included, with a
    /// response; the transport only moves the item.
    fn handle(&self, peer: &PeerIdentity, request: Item) -> impl Future<Output = Item> + Send;

    /// Whether `peer` is a client this service serves at all. A connection whose identity is
    /// not admitted is told so at its first request and closed, without ever taking a place
    /// among the served connections.
    fn admits(&self, peer: &PeerIdentity) -> bool;
}
