//! The KMIP server skeleton krypton-core and krypton-gateway share (feature `server`): what
//! every KMIP server does around its own operations, written once.
//!
//! A daemon declares one [`Server`]: the operations it dispatches, each [`Offered`] with its
//! [`Effect`], the object types it keeps and its name. That one table is the truth of the
//! daemon's dispatch. From it alone the skeleton answers Discover Versions and Query, refuses
//! every operation the table does not list with *Operation Not Supported* (vendor extensions
//! and codes KMIP does not define included: the item is answered, the connection kept), and
//! decides which batches it can run under Batch Error Continuation Option *Undo*. The daemon
//! implements [`Dispatch`]: its answer to one batch item of an operation it lists.
//!
//! One request goes: [`read`] decodes it, or gives the answer to a request that does not
//! decode; the daemon checks who asks, answering [`refuse`] to a requester it turns away;
//! [`Server::answer`] runs the batch and builds the response — in the request's protocol
//! version, with its Client Correlation Value echoed.

mod batch;
mod respond;
mod table;

pub use batch::Dispatch;
pub use respond::{read, refuse};
pub use table::{Effect, Offered, Server};
