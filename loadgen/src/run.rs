//! The closed loop: connect and prepare every connection, start them together, run each until
//! the deadline, gather the tallies.

use std::sync::Arc;
use std::time::Instant;

use kmip::ProtocolVersion;
use kmip::net::{Client, ClientLimits, ClientTlsFiles, client_config};
use rustls::ClientConfig;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::args::Args;
use crate::error::Error;
use crate::report::{Report, Tally};
use crate::workload::{self, Plan, Session};

/// Where and how every connection dials.
#[derive(Debug)]
struct Target {
    address: String,
    server_name: String,
    tls: Arc<ClientConfig>,
    limits: ClientLimits,
    version: ProtocolVersion,
}

impl Target {
    async fn connect(&self, connection: usize) -> Result<Session, Error> {
        let client = Client::connect(
            &self.address,
            &self.server_name,
            Arc::clone(&self.tls),
            &self.limits,
        )
        .await
        .map_err(|source| Error::Connect { connection, source })?;
        Ok(Session {
            client,
            version: self.version,
        })
    }
}

/// Runs the load `args` describe and reports it.
///
/// # Errors
///
/// [`Error::Tls`] for unusable files; a connection that cannot connect or prepare its
/// workload stops the run before it is measured. Failures during the run are counted in the
/// report instead.
pub async fn run(args: &Args) -> Result<Report, Error> {
    let files = ClientTlsFiles {
        cert_chain: args.cert.clone(),
        private_key: args.key.clone(),
        server_ca: args.ca.clone(),
    };
    let target = Arc::new(Target {
        address: args.address.clone(),
        server_name: args.server_name.clone(),
        tls: Arc::new(client_config(&files).map_err(Error::Tls)?),
        limits: ClientLimits {
            connect_timeout: args.request_timeout,
            request_timeout: args.request_timeout,
            ..ClientLimits::default()
        },
        version: args.kmip_version,
    });
    let ready = prepare_all(&target, args).await?;

    let started = Instant::now();
    let deadline = started + args.duration;
    let mut workers = JoinSet::new();
    for (connection, session, mut plan) in ready {
        let target = Arc::clone(&target);
        workers.spawn(async move {
            closed_loop(&target, connection, &mut plan, session, deadline).await
        });
    }
    let mut tallies = Vec::with_capacity(usize::from(args.connections));
    while let Some(joined) = workers.join_next().await {
        // A worker that panicked is a bug here, not a server fault: say so rather than report
        // numbers that miss a connection.
        match joined {
            Ok(tally) => tallies.push(tally),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
    Ok(Report::new(args, started.elapsed(), tallies))
}

/// Connections dialling at once during set-up. Some servers take fewer: the PyKMIP server
/// listens with a backlog of 5, so 64 dialling together overflow it and some wait out TCP's
/// retransmissions past the connect timeout. Set-up is not measured, so dialling a few at a
/// time costs the figures nothing.
const DIALLING: usize = 8;

/// Connects every connection ([`DIALLING`] at a time) and readies its workload, all at once (a
/// million keys for `get` are made by all the connections together), in connection order.
async fn prepare_all(
    target: &Arc<Target>,
    args: &Args,
) -> Result<Vec<(usize, Session, Plan)>, Error> {
    let connections = usize::from(args.connections);
    let keys = args.get_keys() as usize;
    let dialling = Arc::new(Semaphore::new(DIALLING));
    let mut preparing = JoinSet::new();
    for connection in 0..connections {
        let target = Arc::clone(target);
        let dialling = Arc::clone(&dialling);
        let (workload, data_size) = (args.workload, args.data_size);
        let share = share(keys, connections, connection);
        preparing.spawn(async move {
            let mut session = {
                // Never closed: acquiring cannot fail.
                let _turn = dialling.acquire().await;
                target.connect(connection).await?
            };
            let plan = workload::prepare(workload, share, data_size, &mut session).await?;
            Ok::<_, Error>((connection, session, plan))
        });
    }
    let mut ready = Vec::with_capacity(connections);
    while let Some(joined) = preparing.join_next().await {
        match joined {
            Ok(prepared) => ready.push(prepared?),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
    ready.sort_by_key(|(connection, ..)| *connection);
    Ok(ready)
}

/// The keys of `keys` that `connection` of `connections` makes: as even as they go, the first
/// connections taking one more.
fn share(keys: usize, connections: usize, connection: usize) -> usize {
    keys / connections + usize::from(connection < keys % connections)
}

/// One connection's loop: the next operation starts when the previous one ended, until
/// `deadline`. A failed operation is counted; one that lost the connection dials anew.
async fn closed_loop(
    target: &Target,
    connection: usize,
    plan: &mut Plan,
    mut session: Session,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let began = Instant::now();
        match workload::once(plan, &mut session).await {
            Ok(()) => tally.succeeded(began.elapsed()),
            Err(error) => {
                tally.failed(&error);
                if !session.client.is_usable() {
                    match target.connect(connection).await {
                        Ok(fresh) => session = fresh,
                        Err(error) => {
                            tally.failed(&error);
                            break;
                        }
                    }
                }
            }
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn the_keys_are_shared_out_evenly_and_all() {
        for (keys, connections) in [(16, 16), (1_000_000, 16), (40, 3), (5, 7)] {
            let shares: Vec<_> = (0..connections)
                .map(|connection| share(keys, connections, connection))
                .collect();
            assert_eq!(shares.iter().sum::<usize>(), keys, "{shares:?}");
            let (least, most) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            assert!(most - least <= 1, "{shares:?}");
        }
    }
}
