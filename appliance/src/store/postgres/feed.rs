//! The change feed: how cores that follow a store learn what its leading core changed.
//!
//! Every write transaction of the leader that touches a record a follower holds in memory
//! (tenants and their L2s, services and their L3s, the installation's metadata) adds a row per
//! record to `krypton_core_changes` and notifies [`CHANNEL`], in the same transaction: the
//! rows exist if and only if the change committed. A follower listens on a session of its own
//! and reads the rows after the last it saw as soon as it is notified, and every
//! [`POLL_EVERY`] anyway, so a lost notification delays a change by that much at most; a read
//! that fails or hangs loses the store ([`Ownership::lose`]), and the core stops rather than
//! serve keys it may no longer hold. Rows are kept for [`KEPT_FOR`], far longer than a
//! follower can lag without stopping.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio::sync::{Notify, mpsc};

use super::ownership::CHECK_LIMIT;
use super::{Db, Write, statement};
use crate::audit::CHECKPOINT_KEY;
use crate::error::{Error, ErrorChain};
use crate::store::PostgresStoreConfig;
use crate::store::{Change, Column};

/// The channel changes are notified on.
const CHANNEL: &str = "krypton_core_changes";
/// The longest a follower goes without reading the feed.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// How long a follower waits before listening again on a session that ended.
const LISTEN_RETRY: Duration = Duration::from_secs(2);
/// The most rows one read takes.
const PAGE: i64 = 1000;
/// How long the rows are kept (a PostgreSQL interval).
const KEPT_FOR: &str = "1 hour";

/// The change a write makes to a record a follower holds in memory, if it does.
fn followed(write: &Write) -> Option<(Column, &[u8])> {
    let (column, key) = match write {
        Write::Put { column, key, .. } | Write::Delete { column, key } => (*column, &**key),
        Write::DeletePrefix { column, prefix } => (*column, &**prefix),
    };
    match column {
        Column::Tenants | Column::Services => Some((column, key)),
        // The audit log's checkpoint moves with every audited write and is read under the
        // log's lock, never held.
        Column::Meta if key != CHECKPOINT_KEY => Some((column, key)),
        _ => None,
    }
}

/// Whether a follower may make `writes`: only records of the audit log, which every core
/// appends to under the log's lock. Anything else is the leader's to change.
pub(super) fn follower_may_write(writes: &[Write]) -> bool {
    writes.iter().all(|write| match write {
        Write::Put { column, key, .. } => {
            *column == Column::Audit || (*column == Column::Meta && &**key == CHECKPOINT_KEY)
        }
        Write::Delete { .. } | Write::DeletePrefix { .. } => false,
    })
}

/// Adds to the leader's transaction `tx` a row for each record of `writes` a follower holds,
/// and the notification, sent when `tx` commits.
pub(super) async fn emit(tx: &impl GenericClient, writes: &[Write]) -> Result<(), Error> {
    let changes: Vec<_> = writes.iter().filter_map(followed).collect();
    if changes.is_empty() {
        return Ok(());
    }
    let insert = tx
        .prepare_cached("INSERT INTO krypton_core_changes (family, key) VALUES ($1, $2)")
        .await
        .map_err(statement("writing"))?;
    for (column, key) in changes {
        tx.execute(&insert, &[&column.name(), &key])
            .await
            .map_err(statement("writing"))?;
    }
    tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL])
        .await
        .map_err(statement("writing"))?;
    let prune =
        format!("DELETE FROM krypton_core_changes WHERE at < now() - interval '{KEPT_FOR}'");
    tx.execute(&prune, &[])
        .await
        .map_err(statement("writing"))
        .map(drop)
}

/// The feed's last row: where a follower starts, before it reads anything else.
pub(super) async fn last(db: &Db) -> Result<i64, Error> {
    let context = "reading the change feed";
    let client = db.client(context).await?;
    let row = client
        .query_one(
            "SELECT coalesce(max(seq), 0) FROM krypton_core_changes",
            &[],
        )
        .await
        .map_err(statement(context))?;
    Ok(row.get(0))
}

/// Follows the feed from after row `seen`, handing each page of changes to `changes`, until
/// this core leads the store (after a last read: the takeover waited for the old leader's
/// writes) or the feed cannot be read (the store is then lost).
pub(super) async fn follow(
    db: Db,
    settings: PostgresStoreConfig,
    mut seen: i64,
    changes: mpsc::Sender<Vec<Change>>,
) {
    let heard = Arc::new(Notify::new());
    let listener = tokio::spawn(listen(settings, Arc::clone(&heard)));
    loop {
        let leads = db.ownership.leads();
        let read = tokio::time::timeout(CHECK_LIMIT, read_after(&db, seen)).await;
        let page = match read {
            Ok(Ok(page)) => page,
            Ok(Err(error)) => {
                tracing::error!(error = %ErrorChain(&error), "the change feed could not be read");
                db.ownership.lose("the change feed could not be read").await;
                break;
            }
            Err(_) => {
                db.ownership.lose("the change feed did not answer").await;
                break;
            }
        };
        let full = page.len() == usize::try_from(PAGE).unwrap_or(usize::MAX);
        if let Some((last, _)) = page.last() {
            seen = *last;
            let page = page.into_iter().map(|(_, change)| change).collect();
            if changes.send(page).await.is_err() {
                break;
            }
        }
        if full {
            continue;
        }
        if leads {
            tracing::info!("caught up with the change feed: this core now leads");
            break;
        }
        // Woken by a notification, or the poll that covers one lost.
        let _ = tokio::time::timeout(POLL_EVERY, heard.notified()).await;
    }
    listener.abort();
}

/// Keeps a session listening on [`CHANNEL`], waking `heard` at each notification.
async fn listen(settings: PostgresStoreConfig, heard: Arc<Notify>) {
    loop {
        match settings
            .connection()
            .listen(CHANNEL, Arc::clone(&heard))
            .await
        {
            Ok(client) => {
                // Polled until the session ends; the feed's own reads go on meanwhile.
                while !client.is_closed() {
                    tokio::time::sleep(LISTEN_RETRY).await;
                }
                tracing::warn!("the change feed's listening session ended; listening again");
            }
            Err(error) => tracing::warn!(
                error = %ErrorChain(&error),
                "listening for changes failed; the feed is read every {POLL_EVERY:?} meanwhile"
            ),
        }
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

/// Up to [`PAGE`] changes after row `seen`, each with its row.
async fn read_after(db: &Db, seen: i64) -> Result<Vec<(i64, Change)>, Error> {
    let context = "reading the change feed";
    let client = db.client(context).await?;
    let rows = client
        .query(
            "SELECT seq, family, key FROM krypton_core_changes WHERE seq > $1 \
             ORDER BY seq LIMIT $2",
            &[&seen, &PAGE],
        )
        .await
        .map_err(statement(context))?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let column = Column::named(row.get(1))?;
            let key: Vec<u8> = row.get(2);
            Some((
                row.get(0),
                Change {
                    column,
                    key: key.into_boxed_slice(),
                },
            ))
        })
        .collect())
}
