//! A bounded pool of persistent connections to one KMIP server, so the gateway does not pay a
//! TLS handshake per request and fails at once when the server is down.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::ClientConfig;
use tokio::sync::Semaphore;
use tokio::time::timeout;

use crate::net::client::{Client, Dialer};
use crate::net::error::NetError;
use crate::net::limits::ClientLimits;
use crate::ttlv::Item;

/// Persistent connections to one server, shared by many tasks.
///
/// At most [`ClientLimits::pool_size`] connections are open at once, dialled on demand. One
/// that failed, or that the server closed while idle, is dropped and replaced by a new dial on
/// the next call. Failed requests are not retried: only the caller knows whether repeating one
/// is safe.
#[derive(Debug)]
pub struct Pool {
    dialer: Dialer,
    /// Idle connections, the most recently used last: reusing it first lets the others age out.
    idle: Mutex<Vec<Client>>,
    /// One permit per connection the pool may have open, idle or in use.
    slots: Semaphore,
}

impl Pool {
    /// A pool of connections to `addr` (`host:port`), whose certificate must be valid for
    /// `server_name`. Opens nothing yet.
    ///
    /// # Errors
    ///
    /// [`NetError::InvalidServerName`] if `server_name` is neither a DNS name nor an IP address.
    pub fn new(
        addr: &str,
        server_name: &str,
        tls: Arc<ClientConfig>,
        limits: ClientLimits,
    ) -> Result<Self, NetError> {
        let slots = Semaphore::new(limits.pool_size.get());
        Ok(Self {
            dialer: Dialer::new(addr, server_name, tls, limits)?,
            idle: Mutex::new(Vec::new()),
            slots,
        })
    }

    /// Sends `request` on a pooled connection and returns the response.
    ///
    /// Waits at most the request timeout for a free connection, then reuses an idle one or
    /// dials. If the future is dropped before it completes, the connection it used is closed.
    ///
    /// # Errors
    ///
    /// [`NetError::PoolBusy`] if no connection became free in time; a dial error of
    /// [`Client::connect`]; a call error of [`Client::call`].
    pub async fn call(&self, request: &Item) -> Result<Item, NetError> {
        let after = self.dialer.limits.request_timeout;
        // The semaphore is never closed, so a failed acquire can only be the timeout.
        let Ok(Ok(_slot)) = timeout(after, self.slots.acquire()).await else {
            return Err(NetError::PoolBusy { after });
        };
        let mut client = match self.checkout() {
            Some(client) => client,
            None => self.dialer.dial().await?,
        };
        let response = client.call(request).await;
        if response.is_ok() {
            self.checkin(client);
        }
        response
    }

    /// An idle connection the server has not closed, if there is one.
    fn checkout(&self) -> Option<Client> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(mut client) = idle.pop() {
            if client.is_usable() {
                return Some(client);
            }
        }
        None
    }

    fn checkin(&self, client: Client) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(client);
    }
}
