//! The change feed: how the cores on one store learn what the others changed — the
//! followers, what the leading core changed; the leader, the unlinks asked through followers.
//!
//! Every write transaction that touches a record another core holds in memory (tenants and
//! their L2s, services and their L3s, the installation's metadata, unlinks asked) or caches (a
//! destroyed L4's record, which its absent cache may know as absent) adds a row per record to
//! `krypton_core_changes`, naming the core that wrote it, in the same transaction: the rows
//! exist if and only if the change committed. A change a follower holds in memory also notifies [`CHANNEL`]; a destroyed L4
//! does not (a notification serialises the commits of the transactions that send one).
//!
//! Each core listens on a session of its own and reads the others' rows as soon as it is notified,
//! and every [`POLL_EVERY`] anyway, so a lost notification delays a change by that much at
//! most. A read must never pass a row that commits later:
//! - held changes are rare (operators' and orchestrators' changes): their transactions take
//!   [`FEED_LOCK`] before numbering their rows and keep it until they commit, so their rows
//!   commit in the order they are numbered, and a follower reads them by number;
//! - destroyed L4s are as frequent as Destroys and must not queue behind one lock: their rows
//!   are read in the order of the transaction ids that wrote them, up to the oldest
//!   transaction still running (`pg_snapshot_xmin`). Every transaction below that bound has
//!   ended; a long write transaction anywhere on the PostgreSQL server holds the bound back,
//!   and with it what followers learn of Destroys (Krypton's own are bounded by its request
//!   timeout).
//!
//! A read that fails or hangs loses the store ([`Ownership::lose`]): the core stops rather than
//! serve keys it may no longer hold. The leader drops rows older than [`KEPT_FOR`],
//! far longer than a follower can lag without stopping.
//!
//! [`Ownership::lose`]: super::ownership::Ownership::lose

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio::sync::{Notify, mpsc};

use super::absent::AbsentKeys;
use super::ownership::CHECK_LIMIT;
use super::{Db, Write, statement};
use crate::audit::CHECKPOINT_KEY;
use crate::error::{Error, ErrorChain};
use crate::secret::SecretError;
use crate::store::{Change, Column, PostgresStoreConfig};

/// The channel changes are notified on.
const CHANNEL: &str = "krypton_core_changes";
/// The advisory lock a transaction adding held changes keeps until it commits ("kryptonf").
const FEED_LOCK: i64 = 0x6b72_7970_746f_6e66;
/// The longest a follower goes without reading the feed.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// How long a follower waits before listening again on a session that ended.
const LISTEN_RETRY: Duration = Duration::from_secs(2);
/// The most rows one read takes.
const PAGE: i64 = 1000;
/// How long the rows are kept (a PostgreSQL interval).
const KEPT_FOR: &str = "10 minutes";
/// How often the leader drops the rows older than [`KEPT_FOR`].
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Where a follower has read the feed up to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Position {
    /// The last held change read.
    held: i64,
    /// The transaction id and row of the last destroyed L4 read.
    destroyed: (i64, i64),
}

/// The change a write makes to a record a follower holds in memory, if it does.
fn followed(write: &Write) -> Option<(Column, &[u8])> {
    let (column, key) = match write {
        Write::Put { column, key, .. } | Write::Delete { column, key } => (*column, &**key),
        Write::DeletePrefix { column, prefix } => (*column, &**prefix),
    };
    match column {
        Column::Tenants | Column::Services | Column::Unlinks => Some((column, key)),
        // The audit log's checkpoint moves with every audited write and is read under the
        // log's lock, never held.
        Column::Meta if key != CHECKPOINT_KEY => Some((column, key)),
        _ => None,
    }
}

/// Whether `write` records a destroyed L4, which a follower may know as absent.
fn shredded(write: &Write) -> Option<&[u8]> {
    match write {
        Write::Put { column, key, .. } if *column == Column::Shredded => Some(key),
        _ => None,
    }
}

/// Whether a follower may make `writes`: only records of the audit log, which every core
/// appends to under the log's lock, and unlinks asked, which the leader carries out. Anything
/// else is the leader's to change.
pub(super) fn follower_may_write(writes: &[Write]) -> bool {
    writes.iter().all(|write| match write {
        Write::Put { column, key, .. } => match column {
            Column::Audit | Column::Unlinks => true,
            Column::Meta => &**key == CHECKPOINT_KEY,
            _ => false,
        },
        Write::Delete { .. } | Write::DeletePrefix { .. } => false,
    })
}

/// A random name for this process among the cores on a store.
pub(super) fn origin() -> Result<i64, Error> {
    let mut bytes = [0; 8];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|source| Error::SecretMemory(SecretError::Random(source)))?;
    Ok(i64::from_be_bytes(bytes))
}

/// Adds to the transaction `tx` of core `origin` a row for each record of `writes` another
/// core holds or caches, and the notification of a held one, sent when `tx` commits.
pub(super) async fn emit(
    tx: &impl GenericClient,
    writes: &[Write],
    origin: i64,
) -> Result<(), Error> {
    let held: Vec<_> = writes.iter().filter_map(followed).collect();
    let cached = writes.iter().filter_map(shredded);
    let rows: Vec<_> = held
        .iter()
        .copied()
        .chain(cached.map(|key| (Column::Shredded, key)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let insert = tx
        .prepare_cached(
            "INSERT INTO krypton_core_changes (family, key, origin) VALUES ($1, $2, $3)",
        )
        .await
        .map_err(statement("writing"))?;
    if !held.is_empty() {
        // Before the rows are numbered: see the module's comment.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FEED_LOCK])
            .await
            .map_err(statement("writing"))?;
        tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL])
            .await
            .map_err(statement("writing"))?;
    }
    for (column, key) in rows {
        tx.execute(&insert, &[&column.name(), &key, &origin])
            .await
            .map_err(statement("writing"))?;
    }
    Ok(())
}

/// Drops, while this core leads, the rows older than [`KEPT_FOR`], every [`PRUNE_EVERY`].
pub(super) async fn prune(db: Db) {
    let context = "pruning the change feed";
    let sql = format!("DELETE FROM krypton_core_changes WHERE at < now() - interval '{KEPT_FOR}'");
    let mut ticks = tokio::time::interval(PRUNE_EVERY);
    loop {
        ticks.tick().await;
        if !db.ownership.leads() {
            continue;
        }
        let pruned = async {
            let client = db.client(context).await?;
            client.execute(&sql, &[]).await.map_err(statement(context))
        };
        if let Err(error) = pruned.await {
            tracing::warn!(error = %ErrorChain(&error), "pruning the change feed failed; it is tried again later");
        }
    }
}

/// Where a follower starts, before it reads anything else: every transaction before the
/// oldest one still running has ended, and what it wrote is in what the follower reads next.
pub(super) async fn start(db: &Db) -> Result<Position, Error> {
    let context = "reading the change feed";
    let client = db.client(context).await?;
    let row = client
        .query_one(
            "SELECT coalesce(max(seq), 0), pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
             FROM krypton_core_changes WHERE family <> 'shredded'",
            &[],
        )
        .await
        .map_err(statement(context))?;
    Ok(Position {
        held: row.get(0),
        destroyed: (row.get(1), -1),
    })
}

/// Follows the other cores' rows of the feed from `seen`, handing each page of held changes
/// to `changes` and telling `absent` of the destroyed L4s, until the core stops taking them or
/// the feed cannot be read (the store is then lost).
pub(super) async fn follow(
    db: Db,
    settings: PostgresStoreConfig,
    mut seen: Position,
    changes: mpsc::Sender<Vec<Change>>,
    absent: Arc<AbsentKeys>,
) {
    let heard = Arc::new(Notify::new());
    let listener = tokio::spawn(listen(settings, Arc::clone(&heard)));
    loop {
        let read = tokio::time::timeout(CHECK_LIMIT, read_after(&db, seen)).await;
        let (next, page) = match read {
            Ok(Ok(read)) => read,
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
        // A full page of either kind: read on at once.
        let full = page.len() >= usize::try_from(PAGE).unwrap_or(usize::MAX);
        seen = next;
        absent.present(
            page.iter()
                .filter(|change| change.column == Column::Shredded)
                .map(|change| &*change.key),
        );
        let held: Vec<_> = page
            .into_iter()
            .filter(|change| change.column != Column::Shredded)
            .collect();
        if !held.is_empty() && changes.send(held).await.is_err() {
            break;
        }
        if full {
            continue;
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

/// Up to [`PAGE`] held changes and [`PAGE`] destroyed L4s after `seen`, in the order a
/// follower may read them, and where it has read up to then.
async fn read_after(db: &Db, mut seen: Position) -> Result<(Position, Vec<Change>), Error> {
    let context = "reading the change feed";
    let client = db.client(context).await?;
    let held = client
        .query(
            "SELECT seq, family, key FROM krypton_core_changes \
             WHERE family <> 'shredded' AND seq > $1 AND origin <> $3 ORDER BY seq LIMIT $2",
            &[&seen.held, &PAGE, &db.origin],
        )
        .await
        .map_err(statement(context))?;
    let destroyed = client
        .query(
            "SELECT xid, seq, family, key FROM krypton_core_changes \
             WHERE family = 'shredded' AND (xid, seq) > ($1, $2) \
             AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
             AND origin <> $4 ORDER BY xid, seq LIMIT $3",
            &[&seen.destroyed.0, &seen.destroyed.1, &PAGE, &db.origin],
        )
        .await
        .map_err(statement(context))?;
    if let Some(last) = held.last() {
        seen.held = last.get(0);
    }
    if let Some(last) = destroyed.last() {
        seen.destroyed = (last.get(0), last.get(1));
    }
    let changes = held
        .iter()
        .map(|row| (row.get(1), row.get(2)))
        .chain(destroyed.iter().map(|row| (row.get(2), row.get(3))))
        .filter_map(|(family, key): (&str, Vec<u8>)| {
            Some(Change {
                column: Column::named(family)?,
                key: key.into_boxed_slice(),
            })
        })
        .collect();
    Ok((seen, changes))
}
