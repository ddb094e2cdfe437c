//! The store in PostgreSQL: one table, a row per record under `(family, key)`, holding exactly
//! the sealed bytes RocksDB would (never plaintext), so records move between the two backends
//! as they are. `bytea` compares bytewise, as RocksDB's keys do: scans see the same order.
//!
//! The store's callers are synchronous (RocksDB is), and some run on the daemon's async
//! workers; so each call runs on a small runtime of the store's own, and the caller waits on a
//! plain channel, bounded by `request_timeout`. Each write is one transaction, committed with
//! `synchronous_commit = on` before it is acknowledged.
//!
//! **One core per store**, until cores share one state: the core holds a session-level
//! advisory lock on a connection of its own for as long as it runs. A second core is refused at
//! start-up; a core whose lock session ended (the server restarted) takes the lock again
//! before its next call, or fails that call, so two cores never write one store.

use std::fmt;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use deadpool_postgres::{ClientWrapper, Object, Pool};
use krypton_service::postgres::{PostgresError, Schema};
use tokio::runtime::Runtime;
use tokio::sync::Mutex;

use super::config::PostgresStoreConfig;
use super::{Range, Raw, StoreError, Write, prefix_end};
use crate::error::Error;
use crate::store::Column;

/// The core's schema, version by version.
const SCHEMA: Schema = Schema {
    application: "core",
    version_table: "krypton_core_schema",
    lock: MIGRATION_LOCK,
    migrations: &[r#"
    CREATE TABLE krypton_core_records (
        family text COLLATE "C" NOT NULL,
        key bytea NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (family, key)
    );
"#],
};

/// The advisory lock migrations take ("kryptonm").
const MIGRATION_LOCK: i64 = 0x6b72_7970_746f_6e6d;
/// The advisory lock the one core of a store holds for as long as it runs ("kryptonO").
const OWNER_LOCK: i64 = 0x6b72_7970_746f_6e4f;
/// How often a starting core asks again for the ownership lock another session holds.
const OWNERSHIP_RETRY: Duration = Duration::from_millis(250);
/// The threads of the store's runtime: calls are short, and the pool bounds them anyway.
const RUNTIME_THREADS: usize = 2;

/// The database, connected.
pub(super) struct Postgres {
    /// `Some` until dropped: it is shut down without waiting, which any thread may do.
    runtime: Option<Runtime>,
    db: Db,
}

/// What a call needs, cloned into it.
#[derive(Clone)]
struct Db {
    pool: Pool,
    /// The session that holds [`OWNER_LOCK`], out of the pool.
    owner: Arc<Mutex<Option<ClientWrapper>>>,
    request_timeout: Duration,
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
    /// Connects to the database `settings` name, takes the store's ownership and creates or
    /// migrates the schema.
    pub(super) fn connect(settings: &PostgresStoreConfig) -> Result<Self, Error> {
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
            settings
                .connection()
                .pool()
                .map_err(failed("connecting to PostgreSQL"))?
        };
        let store = Self {
            runtime: Some(runtime),
            db: Db {
                pool,
                owner: Arc::new(Mutex::new(None)),
                request_timeout: settings.request_timeout,
            },
        };
        store.take_ownership(settings.request_timeout)?;
        store.call("migrating the schema", |db| async move {
            let mut client = db.client("migrating the schema").await?;
            SCHEMA
                .migrate(&mut client)
                .await
                .map_err(failed("migrating the schema"))
        })?;
        Ok(store)
    }

    /// Takes the store's ownership lock, waiting up to `patience` for a core that held it to
    /// let go (one stopping, or the session of one that died being ended by the server).
    fn take_ownership(&self, patience: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + patience;
        loop {
            match self.call("taking the store's ownership", |_| async { Ok(()) }) {
                Err(Error::Store {
                    source: StoreError::Owned,
                    ..
                }) if Instant::now() < deadline => std::thread::sleep(OWNERSHIP_RETRY),
                taken => return taken,
            }
        }
    }

    /// Runs `work` on the store's runtime once this core owns the store, and waits for its
    /// answer within `request_timeout`.
    fn call<T, F, Fut>(&self, context: &'static str, work: F) -> Result<T, Error>
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
            let run = async {
                db.own(context).await?;
                work(db).await
            };
            let result = tokio::time::timeout(bound, run)
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

    /// Applies `writes` in one transaction: all or none, committed synchronously.
    pub(super) fn write(&self, writes: Vec<Write>) -> Result<(), Error> {
        self.call("writing", move |db| async move {
            let mut client = db.client("writing").await?;
            let tx = client.transaction().await.map_err(statement("writing"))?;
            for write in &writes {
                apply(&tx, write).await?;
            }
            tx.commit().await.map_err(statement("writing"))
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

/// Adds `write` to the transaction `tx`.
async fn apply(tx: &deadpool_postgres::Transaction<'_>, write: &Write) -> Result<(), Error> {
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
    tx: &deadpool_postgres::Transaction<'_>,
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
    /// A pooled connection.
    async fn client(&self, context: &'static str) -> Result<Object, Error> {
        self.pool
            .get()
            .await
            .map_err(|source| failed(context)(PostgresError::Connect(source)))
    }

    /// Makes sure this core holds the store's ownership lock, taking it if its session ended.
    async fn own(&self, context: &'static str) -> Result<(), Error> {
        let mut owner = self.owner.lock().await;
        if owner.as_ref().is_some_and(|session| !session.is_closed()) {
            return Ok(());
        }
        *owner = None;
        let session = Object::take(self.client(context).await?);
        let taken: bool = session
            .query_one("SELECT pg_try_advisory_lock($1)", &[&OWNER_LOCK])
            .await
            .map_err(statement(context))?
            .get(0);
        if !taken {
            return Err(Error::Store {
                context,
                source: StoreError::Owned,
            });
        }
        *owner = Some(session);
        Ok(())
    }
}
