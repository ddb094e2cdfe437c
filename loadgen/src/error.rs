//! What can go wrong: the caller's files and arguments, the server refusing or failing a
//! request, or the server answering something that is not KMIP.

use std::error::Error as StdError;
use std::fmt;

use kmip::net::NetError;
use kmip::{Operation, ResultReason};

/// The one error type of krypton-load.
///
/// [`Error::Tls`] is the caller's (files that cannot be used); [`Error::Connect`] and
/// [`Error::Transport`] the network's or the server's; [`Error::Refused`] a KMIP failure the
/// server answered; [`Error::Malformed`] and [`Error::Unexpected`] a server that does not speak
/// KMIP as this client does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client certificate, key or CA file cannot be used.
    #[error("cannot set up TLS")]
    Tls(#[source] NetError),
    /// A connection could not be opened.
    #[error("connection {connection} could not connect")]
    Connect {
        connection: usize,
        #[source]
        source: NetError,
    },
    /// A request got no answer: timeout, connection lost.
    #[error("{operation:?} got no answer")]
    Transport {
        operation: Operation,
        #[source]
        source: NetError,
    },
    /// The server answered with a failure.
    #[error(
        "{operation:?} failed: {reason} ({message})",
        reason = reason.map_or_else(|| "no reason".to_owned(), |reason| format!("{reason:?}")),
        message = message.as_deref().unwrap_or("no message")
    )]
    Refused {
        operation: Operation,
        reason: Option<ResultReason>,
        message: Option<String>,
    },
    /// The answer is not a KMIP Response Message this client can read.
    #[error("{operation:?}: the response is not valid KMIP")]
    Malformed {
        operation: Operation,
        #[source]
        source: kmip::Error,
    },
    /// The answer is KMIP, but not the answer to the request: another operation's payload, or
    /// several batch items for one.
    #[error("{operation:?}: the response does not answer the request")]
    Unexpected { operation: Operation },
}

/// Shows an error with its sources: `outer: inner: innermost`.
#[derive(Debug)]
pub struct Chain<'a>(pub &'a dyn StdError);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}
