//! The store in PostgreSQL: one table, a row per record under `(family, key)`, holding exactly
//! the sealed bytes RocksDB would (never plaintext), so records move between the two backends
//! as they are. `bytea` compares bytewise, as RocksDB's keys do: scans see the same order.
//!
//! The store's callers are synchronous (RocksDB is), and some run on the daemon's async
//! workers; so each call runs on a small runtime of the store's own, and the caller waits on a
//! plain channel, bounded by `request_timeout`. Each write is one transaction, committed with
//! `synchronous_commit = on` before it is acknowledged.
//!
//! **One core leads a store** ([`ownership`]): a second core is refused at start-up, waits as
//! a standby (`standby = true`), or follows (`follow = true`), and takes over when the leader
//! goes; a core that lost the store fails every later call and stops, and no write of it lands
//! after another core took over. A follower serves the data path from the records the leader
//! wrote, learns each change from the [`feed`], and writes nothing but audit records.
//!
//! **The audit log is one chain whichever core appends** ([`Postgres::chain_turn`]): an
//! audited write takes the log's lock in its transaction and reads the chain's head there.

mod absent;
mod feed;
mod ownership;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use deadpool_postgres::{GenericClient, Object, Pool};
use krypton_service::postgres::{Connection, PostgresError, Schema};
use tokio::runtime::Runtime;
use tokio::sync::mpsc as channel;

use super::config::PostgresStoreConfig;
use super::{Change, Range, Raw, StoreError, Write, prefix_end};
use crate::error::{Error, ErrorChain};
use crate::store::Column;
use absent::{AbsentKeys, Known};
use ownership::Ownership;

/// The core's schema, version by version.
const SCHEMA: Schema = Schema {
    application: "core",
    version_table: "krypton_core_schema",
    lock: MIGRATION_LOCK,
    migrations: &[
        r#"
    CREATE TABLE krypton_core_records (
        family text COLLATE "C" NOT NULL,
        key bytea NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (family, key)
    );
    CREATE TABLE krypton_core_owner (epoch bigint NOT NULL);
    INSERT INTO krypton_core_owner (epoch) VALUES (0);
"#,
        r#"
    CREATE TABLE krypton_core_changes (
        seq bigserial PRIMARY KEY,
        xid bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
        family text COLLATE "C" NOT NULL,
        key bytea NOT NULL,
        origin bigint NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX krypton_core_changes_held ON krypton_core_changes (seq)
        WHERE family <> 'shredded';
    CREATE INDEX krypton_core_changes_destroyed ON krypton_core_changes (xid, seq)
        WHERE family = 'shredded';
    CREATE INDEX krypton_core_changes_at ON krypton_core_changes (at);
"#,
    ],
};

/// The advisory lock migrations take ("kryptonm").
const MIGRATION_LOCK: i64 = 0x6b72_7970_746f_6e6d;
/// The advisory lock an audited write holds from reading the chain's head to its commit
/// ("kryptona").
const CHAIN_LOCK: i64 = 0x6b72_7970_746f_6e61;
/// How many pages of changes may wait for the core to take them in.
const CHANGES_QUEUED: usize = 16;
/// How often a starting core, or a standby, asks again for the store another core holds.
const OWNERSHIP_RETRY: Duration = Duration::from_millis(250);
/// The threads of the store's runtime: calls are short, and the pool bounds them anyway.
const RUNTIME_THREADS: usize = 2;

/// The database, connected.
pub(super) struct Postgres {
    /// `Some` until dropped: it is shut down without waiting, which any thread may do.
    runtime: Option<Runtime>,
    db: Db,
    /// Destroyed-L4 records known absent: the unwrap's check without a round trip. Only the
    /// leader writes them; a follower forgets what the change feed says it wrote.
    absent: Arc<AbsentKeys>,
    /// The leader's changes, for the core to take while it follows.
    changes: Mutex<Option<channel::Receiver<Vec<Change>>>>,
}

/// What a call needs, cloned into it.
#[derive(Clone)]
struct Db {
    pool: Pool,
    ownership: Arc<Ownership>,
    request_timeout: Duration,
    /// This process among the cores on the store: the change feed's rows name who wrote them.
    origin: i64,
}

impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postgres")
            .field("pool", &self.db.pool.status())
            .finish_non_exhaustive()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn failed(context: &'static str) -> impl FnOnce(PostgresError) -> Error {
    move |source| Error::Store {
        context,
        source: StoreError::Postgres(Box::new(source)),
    }
}

fn statement(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |source| failed(context)(PostgresError::Server(source))
}

impl Postgres {
    /// Connects to the database `settings` name, creates or migrates the schema and takes
    /// the store's ownership: within `request_timeout`, or, for a standby, whenever the core
    /// that holds it goes (or `cancel` turns true).
    pub(super) fn connect(
        settings: &PostgresStoreConfig,
        cancel: &AtomicBool,
    ) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("krypton-store")
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                context: "starting the store's runtime",
                source,
            })?;
        let pool = {
            // The pool's connections are made by tasks of the runtime it is built in.
            let _entered = runtime.enter();
            // One connection more than configured: the ownership session is taken out of it.
            let connection = settings.connection();
            Connection {
                pool_size: connection.pool_size + 1,
                ..connection
            }
            .pool()
            .map_err(failed("connecting to PostgreSQL"))?
        };
        let store = Self {
            runtime: Some(runtime),
            db: Db {
                pool,
                ownership: Arc::new(Ownership::new(settings.request_timeout)),
                request_timeout: settings.request_timeout,
                origin: feed::origin()?,
            },
            absent: Arc::default(),
            changes: Mutex::new(None),
        };
        store.take_ownership(settings, cancel)?;
        store.follow(settings)?;
        if let Some(runtime) = &store.runtime {
            let (ownership, pool) = (Arc::clone(&store.db.ownership), store.db.pool.clone());
            runtime.spawn(async move { ownership.watch(pool).await });
            runtime.spawn(feed::prune(store.db.clone()));
        }
        Ok(store)
    }

    /// Starts following the other cores' changes, from the feed as of now: what the core reads
    /// from here on is at least that recent.
    fn follow(&self, settings: &PostgresStoreConfig) -> Result<(), Error> {
        let seen = self.call_unowned("reading the change feed", |db| async move {
            feed::start(&db).await
        })?;
        let (sender, receiver) = channel::channel(CHANGES_QUEUED);
        *self.changes.lock().unwrap_or_else(PoisonError::into_inner) = Some(receiver);
        if let Some(runtime) = &self.runtime {
            let (db, settings, absent) =
                (self.db.clone(), settings.clone(), Arc::clone(&self.absent));
            runtime.spawn(feed::follow(db, settings, seen, sender, absent));
        }
        if !self.leads() {
            tracing::warn!(
                "another core leads the store: this one follows it, serving the data path"
            );
        }
        Ok(())
    }

    /// Whether this core leads the store (else it follows another).
    pub(super) fn leads(&self) -> bool {
        self.db.ownership.leads()
    }

    /// Turns true when this core leads the store (at once, if it does).
    pub(super) fn leading(&self) -> tokio::sync::watch::Receiver<bool> {
        self.db.ownership.taken()
    }

    /// The other cores' changes, once: `None` after the first call.
    pub(super) fn changes(&self) -> Option<channel::Receiver<Vec<Change>>> {
        self.changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Migrates the schema and takes the store, waiting as `settings` say for a core that
    /// holds it: one stopping, or the session of one that died being ended by the server.
    fn take_ownership(
        &self,
        settings: &PostgresStoreConfig,
        cancel: &AtomicBool,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + settings.request_timeout;
        let (mut waiting, mut migrated) = (false, false);
        let mut last_failure = None;
        loop {
            let taken = self.call_unowned("taking the store's ownership", move |db| async move {
                if !migrated {
                    let mut client = db.client("migrating the schema").await?;
                    SCHEMA
                        .migrate(&mut client)
                        .await
                        .map_err(failed("migrating the schema"))?;
                }
                db.ownership.try_take(&db.pool).await
            });
            migrated |= taken.is_ok();
            match taken {
                Ok(true) => return Ok(()),
                Ok(false) if settings.follow => return Ok(()),
                Ok(false) if settings.standby => {
                    if !waiting {
                        tracing::warn!(
                            "standby: another core holds the store; waiting to take over"
                        );
                        waiting = true;
                    }
                }
                // A standby waits through the server's absence too, saying why once per cause.
                Err(error) if settings.standby => {
                    let failure = ErrorChain(&error).to_string();
                    if last_failure.as_ref() != Some(&failure) {
                        tracing::warn!(error = %failure, "standby: the store cannot be reached; retrying");
                        last_failure = Some(failure);
                    }
                }
                Ok(false) if Instant::now() < deadline => {}
                Ok(false) => {
                    return Err(Error::Store {
                        context: "taking the store's ownership",
                        source: StoreError::Owned,
                    });
                }
                Err(error) => return Err(error),
            }
            if cancel.load(Ordering::Acquire) {
                return Err(Error::Store {
                    context: "waiting as a standby",
                    source: StoreError::Owned,
                });
            }
            std::thread::sleep(OWNERSHIP_RETRY);
        }
    }

    /// Completes when this core has lost the store.
    pub(super) fn ownership_lost(&self) -> impl Future<Output = ()> + Send + 'static {
        self.db.ownership.lost()
    }

    /// Runs `work` on the store's runtime while this core owns the store, and waits for its
    /// answer within `request_timeout`.
    fn call<T, F, Fut>(&self, context: &'static str, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Db) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + Send,
    {
        self.db.ownership.check(context)?;
        self.call_unowned(context, work)
    }

    /// Runs `work` on the store's runtime and waits for its answer within `request_timeout`.
    fn call_unowned<T, F, Fut>(&self, context: &'static str, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Db) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + Send,
    {
        let db = self.db.clone();
        let bound = db.request_timeout;
        let timed_out = move || Error::Store {
            context,
            source: StoreError::Timeout(bound),
        };
        let (answer, answered) = mpsc::sync_channel(1);
        let Some(runtime) = &self.runtime else {
            return Err(timed_out());
        };
        runtime.spawn(async move {
            let result = tokio::time::timeout(bound, work(db))
                .await
                .unwrap_or_else(|_| Err(timed_out()));
            // The caller may have gone; the answer then has nobody to go to.
            let _gone = answer.send(result);
        });
        // The task answers within its bound; the margin covers scheduling only.
        answered
            .recv_timeout(bound + Duration::from_secs(1))
            .unwrap_or_else(|_| Err(timed_out()))
    }

    pub(super) fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let known = self.absent.lookup(column, key);
        if known == Known::Absent {
            // Still only while this core owns the store.
            self.db.ownership.check("reading")?;
            return Ok(None);
        }
        let value = self.read(column, key)?;
        if let (Known::Ask(ticket), None) = (known, &value) {
            self.absent.learned_absent(key, ticket);
        }
        Ok(value)
    }

    fn read(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let key = key.to_vec();
        self.call("reading", move |db| async move {
            let client = db.client("reading").await?;
            let row = client
                .query_opt(
                    "SELECT value FROM krypton_core_records WHERE family = $1 AND key = $2",
                    &[&column.name(), &key],
                )
                .await
                .map_err(statement("reading"))?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    pub(super) fn scan(
        &self,
        column: Column,
        range: Range<'_>,
        limit: usize,
    ) -> Result<Vec<Raw>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let bounds = match range {
            Range::From { start, prefix } => Some((start.max(prefix).to_vec(), prefix_end(prefix))),
            Range::Last => None,
        };
        self.call("scanning", move |db| async move {
            let client = db.client("scanning").await?;
            let family = column.name();
            let rows = match &bounds {
                Some((start, Some(end))) => {
                    client
                        .query(
                            "SELECT key, value FROM krypton_core_records WHERE family = $1 \
                             AND key >= $2 AND key < $3 ORDER BY key LIMIT $4",
                            &[&family, start, end, &limit],
                        )
                        .await
                }
                Some((start, None)) => {
                    client
                        .query(
                            "SELECT key, value FROM krypton_core_records WHERE family = $1 \
                             AND key >= $2 ORDER BY key LIMIT $3",
                            &[&family, start, &limit],
                        )
                        .await
                }
                None => {
                    client
                        .query(
                            "SELECT key, value FROM krypton_core_records WHERE family = $1 \
                             ORDER BY key DESC LIMIT $2",
                            &[&family, &limit],
                        )
                        .await
                }
            }
            .map_err(statement("scanning"))?;
            Ok(rows
                .into_iter()
                .map(|row| (row.get::<_, Vec<u8>>(0).into_boxed_slice(), row.get(1)))
                .collect())
        })
    }

    /// Applies `writes` in one transaction, fenced by this core's ownership: all or none,
    /// committed synchronously.
    pub(super) fn write(&self, writes: Vec<Write>) -> Result<(), Error> {
        let writes = Arc::new(writes);
        let written = self.transact(Arc::clone(&writes));
        self.absent.written(&writes, written.is_ok());
        written
    }

    fn transact(&self, writes: Arc<Vec<Write>>) -> Result<(), Error> {
        self.call("writing", move |db| async move {
            let mut client = db.client("writing").await?;
            let tx = client.transaction().await.map_err(statement("writing"))?;
            db.apply_all(&tx, &writes).await?;
            tx.commit().await.map_err(statement("writing"))
        })
    }

    /// Takes the audit chain's lock in a transaction of its own and reads, under it, the
    /// chain's `head` record and the last record of `tail`: several cores append to one chain.
    /// The write that [`ChainTurn::commit`] makes in the same transaction releases the lock.
    pub(super) fn chain_turn(
        &self,
        head: (Column, &[u8]),
        tail: Column,
    ) -> Result<ChainTurn, Error> {
        let context = "locking the audit log";
        let head_key = head.1.to_vec();
        self.call(context, move |db| async move {
            let client = Pinned(Some(db.client(context).await?));
            let session = client.session();
            session
                .batch_execute("BEGIN")
                .await
                .map_err(statement(context))?;
            session
                .execute("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK])
                .await
                .map_err(statement(context))?;
            let head = session
                .query_opt(
                    "SELECT value FROM krypton_core_records WHERE family = $1 AND key = $2",
                    &[&head.0.name(), &head_key],
                )
                .await
                .map_err(statement(context))?
                .map(|row| row.get(0));
            let tail = session
                .query_opt(
                    "SELECT key, value FROM krypton_core_records WHERE family = $1 \
                     ORDER BY key DESC LIMIT 1",
                    &[&tail.name()],
                )
                .await
                .map_err(statement(context))?
                .map(|row| (row.get::<_, Vec<u8>>(0).into_boxed_slice(), row.get(1)));
            Ok(ChainTurn { client, head, tail })
        })
    }

    /// Has the server reclaim deleted rows now: `VACUUM` of the table.
    pub(super) fn purge_deleted(&self) -> Result<(), Error> {
        self.call("purging deleted records", |db| async move {
            let client = db.client("purging deleted records").await?;
            client
                .batch_execute("VACUUM krypton_core_records")
                .await
                .map_err(statement("purging deleted records"))
        })
    }

    pub(super) fn count(&self, column: Column) -> Result<u64, Error> {
        self.call("counting", move |db| async move {
            let client = db.client("counting").await?;
            let count: i64 = client
                .query_one(
                    "SELECT count(*) FROM krypton_core_records WHERE family = $1",
                    &[&column.name()],
                )
                .await
                .map_err(statement("counting"))?
                .get(0);
            Ok(u64::try_from(count).unwrap_or(0))
        })
    }
}

/// A turn at appending to the audit chain: a transaction holding its lock, and the chain's
/// head and tail as read under it.
pub(super) struct ChainTurn {
    client: Pinned,
    pub(super) head: Option<Vec<u8>>,
    pub(super) tail: Option<Raw>,
}

impl fmt::Debug for ChainTurn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainTurn").finish_non_exhaustive()
    }
}

impl ChainTurn {
    /// Applies `writes` in the turn's transaction, as [`Postgres::write`] would, and commits:
    /// the lock goes with the commit.
    pub(super) fn commit(self, store: &Postgres, writes: Vec<Write>) -> Result<(), Error> {
        let writes = Arc::new(writes);
        let client = self.client;
        let written = store.call("writing", {
            let writes = Arc::clone(&writes);
            move |db| async move {
                let session = client.session();
                db.apply_all(session, &writes).await?;
                session
                    .batch_execute("COMMIT")
                    .await
                    .map_err(statement("writing"))?;
                client.release();
                Ok(())
            }
        });
        store.absent.written(&writes, written.is_ok());
        written
    }
}

/// A pooled session in a transaction of its own: if it is dropped before [`release`]
/// (a failure, or a call that timed out) it leaves the pool and closes, so that no other
/// call ever runs inside its transaction; the server rolls the transaction back.
///
/// [`release`]: Pinned::release
struct Pinned(Option<Object>);

impl Pinned {
    fn session(&self) -> &Object {
        // Some until released or dropped, both of which consume it.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("a pinned session is used after release"))
    }

    /// Returns the session to the pool: its transaction ended.
    fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if let Some(session) = self.0.take() {
            drop(Object::take(session));
        }
    }
}

/// Adds `write` to the transaction `tx`.
async fn apply(tx: &impl GenericClient, write: &Write) -> Result<(), Error> {
    let (sql, family, key, value) = match write {
        Write::Put { column, key, value } => (
            "INSERT INTO krypton_core_records (family, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (family, key) DO UPDATE SET value = EXCLUDED.value",
            column.name(),
            key.as_ref(),
            Some(value.as_slice()),
        ),
        Write::Delete { column, key } => (
            "DELETE FROM krypton_core_records WHERE family = $1 AND key = $2",
            column.name(),
            key.as_ref(),
            None,
        ),
        Write::DeletePrefix { column, prefix } => return delete_prefix(tx, *column, prefix).await,
    };
    let prepared = tx.prepare_cached(sql).await.map_err(statement("writing"))?;
    let result = match value {
        Some(value) => tx.execute(&prepared, &[&family, &key, &value]).await,
        None => tx.execute(&prepared, &[&family, &key]).await,
    };
    result.map(drop).map_err(statement("writing"))
}

/// Deletes the records of `column` whose keys start with `prefix`.
async fn delete_prefix(
    tx: &impl GenericClient,
    column: Column,
    prefix: &[u8],
) -> Result<(), Error> {
    let family = column.name();
    let result = match prefix_end(prefix) {
        Some(end) => {
            tx.execute(
                "DELETE FROM krypton_core_records WHERE family = $1 AND key >= $2 AND key < $3",
                &[&family, &prefix, &end],
            )
            .await
        }
        None => {
            tx.execute(
                "DELETE FROM krypton_core_records WHERE family = $1 AND key >= $2",
                &[&family, &prefix],
            )
            .await
        }
    };
    result.map(drop).map_err(statement("writing"))
}

impl Db {
    /// Applies `writes` in the open transaction `tx`, and adds them to the change feed: the
    /// leader's fenced by its epoch; a follower's only if they are audit records or unlinks.
    async fn apply_all(&self, tx: &impl GenericClient, writes: &[Write]) -> Result<(), Error> {
        let leads = self.ownership.leads();
        if leads {
            self.ownership.fence(tx).await?;
        } else if !feed::follower_may_write(writes) {
            return Err(Error::Store {
                context: "writing",
                source: StoreError::Following,
            });
        }
        for write in writes {
            apply(tx, write).await?;
        }
        feed::emit(tx, writes, self.origin).await
    }

    /// A pooled connection.
    async fn client(&self, context: &'static str) -> Result<Object, Error> {
        self.pool
            .get()
            .await
            .map_err(|source| failed(context)(PostgresError::Connect(source)))
    }
}
