//! The shared vault on PostgreSQL: one row per record, CBOR under `(owner, id)`, so that many
//! gateways can serve the same keys.
//!
//! A Create is one `INSERT … ON CONFLICT DO NOTHING`: of two gateways creating one id, one
//! stores it. A change reads the row `FOR UPDATE` in a transaction, checks the record's place
//! and revision, and writes it back: concurrent changes of one record, from any gateway, are
//! ordered by the row lock and none is lost. A Destroy writes the record and its shred notice
//! in the same transaction. Every session runs with `synchronous_commit = on`, whatever the
//! server's default, so an acknowledged write is in the server's flushed WAL
//! ([`krypton_service::postgres`] sets the sessions up).
//!
//! The gateway creates and migrates its own schema: a `krypton_vault_schema` table holds the
//! version, and a gateway that finds a newer one refuses to start rather than guess. Gateways
//! starting together take turns through an advisory lock.
//!
//! Every call is bounded: a pooled connection is waited for, and the whole call answered,
//! within `request_timeout`; the server ends a statement or an idle transaction past the same
//! bound, so a gateway that dies mid-change does not hold a row.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Object, Pool, Transaction};
use krypton_service::postgres::{PostgresError, Schema};

use crate::cbor;
use crate::config::ServerVaultConfig;
use crate::vault::batch::{Answers, Place, ReadBatcher};
use crate::vault::key::{record_key, split_key};
use crate::vault::record::{decode, encode};
use crate::vault::{
    Filter, Found, Record, ScanCursor, ScanPage, ShredNotice, Vault, VaultError, storage,
};

/// The vault's schema: each version's SQL, applied in order from the one found.
const SCHEMA: Schema = Schema {
    application: "gateway",
    version_table: "krypton_vault_schema",
    lock: MIGRATION_LOCK,
    migrations: &[r#"
    CREATE TABLE krypton_vault_records (
        owner text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        record bytea NOT NULL,
        PRIMARY KEY (owner, id)
    );
    CREATE TABLE krypton_vault_shreds (
        owner text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        notice bytea NOT NULL,
        PRIMARY KEY (owner, id)
    );
"#],
};

/// The advisory lock migrations take ("kryptonM").
const MIGRATION_LOCK: i64 = 0x6b72_7970_746f_6e4d;
/// The advisory lock that orders counting and growing the shred queue ("kryptonS"), so its
/// bound holds under concurrent Destroys.
const SHRED_QUEUE_LOCK: i64 = 0x6b72_7970_746f_6e53;

/// How many of one owner's records Locate reads per query.
const LOCATE_PAGE: i64 = 256;

/// A vault in a PostgreSQL database, through a pool of connections; the reads of a Get are
/// batched (see `vault/batch.rs`).
#[derive(Clone)]
pub struct PostgresVault {
    db: Pooled,
    records: ReadBatcher<Option<Found>>,
}

/// The pool and the bound on each call: all a call needs, and all the read batcher holds.
#[derive(Clone)]
struct Pooled {
    pool: Pool,
    request_timeout: Duration,
}

impl fmt::Debug for PostgresVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresVault")
            .field("pool", &self.db.pool.status())
            .finish_non_exhaustive()
    }
}

impl PostgresVault {
    /// Connects to the database `settings` names, creating or migrating the schema.
    ///
    /// # Errors
    ///
    /// [`VaultError::Settings`] for settings that cannot be used, [`VaultError::Storage`] if
    /// the server cannot be reached, refuses the login, or holds a newer schema.
    pub async fn connect(settings: &ServerVaultConfig) -> Result<Self, VaultError> {
        let pool = settings.connection().pool().map_err(setup_error)?;
        let db = Pooled {
            pool,
            request_timeout: settings.request_timeout,
        };
        db.bounded("migrating the schema", |mut client| async move {
            SCHEMA.migrate(&mut client).await.map_err(setup_error)
        })
        .await?;
        let records = {
            let db = db.clone();
            ReadBatcher::spawn("reading records", move |places| {
                let db = db.clone();
                async move {
                    db.bounded("reading records", |client| read_found(client, places))
                        .await
                }
            })
        };
        Ok(Self { db, records })
    }
}

impl Pooled {
    /// Runs `call` on a pooled connection, failing with a [`VaultError::Storage`] about
    /// `context` if waiting for the connection and the call take longer than the timeout.
    async fn bounded<T, F, Fut>(&self, context: &'static str, call: F) -> Result<T, VaultError>
    where
        F: FnOnce(Object) -> Fut,
        Fut: Future<Output = Result<T, VaultError>>,
    {
        let work = async {
            let client = self
                .pool
                .get()
                .await
                .map_err(|source| storage(context, source))?;
            call(client).await
        };
        tokio::time::timeout(self.request_timeout, work)
            .await
            .map_err(|_| {
                storage(
                    context,
                    format!("no answer within {:?}", self.request_timeout),
                )
            })?
    }
}

/// A setup failure as the vault reports it: settings that cannot be used, or the server.
fn setup_error(error: PostgresError) -> VaultError {
    match error {
        PostgresError::Settings(message) => VaultError::Settings(message),
        other => storage("setting up the PostgreSQL vault", other),
    }
}

impl Vault for PostgresVault {
    async fn create(&self, record: Record) -> Result<(), VaultError> {
        let value = encode(&record)?;
        self.db
            .bounded("creating a record", move |client| async move {
                let failed = |source| storage("creating a record", source);
                let insert = client
                    .prepare_cached(
                        "INSERT INTO krypton_vault_records (owner, id, record) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                    )
                    .await
                    .map_err(failed)?;
                let inserted = client
                    .execute(&insert, &[&record.owner, &record.id, &value])
                    .await
                    .map_err(failed)?;
                if inserted == 0 {
                    Err(VaultError::Exists)
                } else {
                    Ok(())
                }
            })
            .await
    }

    async fn get(&self, owner: &str, id: &str) -> Result<Option<Record>, VaultError> {
        Ok(self.find(owner, id).await?.map(|found| found.record))
    }

    async fn find(&self, owner: &str, id: &str) -> Result<Option<Found>, VaultError> {
        self.records.get(owner, id).await
    }

    async fn update(&self, record: Record) -> Result<(), VaultError> {
        self.db
            .bounded("updating a record", |mut client| async move {
                let failed = |source| storage("updating a record", source);
                let tx = client.transaction().await.map_err(failed)?;
                replace(&tx, record).await?;
                tx.commit().await.map_err(failed)
            })
            .await
    }

    async fn locate(
        &self,
        owner: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<String>, VaultError> {
        self.db
            .bounded("scanning records", |client| async move {
                let failed = |source| storage("scanning records", source);
                let page = client
                    .prepare_cached(
                        "SELECT id, record FROM krypton_vault_records WHERE owner = $1 AND id > $2 \
                     ORDER BY id LIMIT $3",
                    )
                    .await
                    .map_err(failed)?;
                let mut ids = Vec::new();
                let mut after = String::new();
                loop {
                    let rows = client
                        .query(&page, &[&owner, &after, &LOCATE_PAGE])
                        .await
                        .map_err(failed)?;
                    let full = i64::try_from(rows.len()).is_ok_and(|len| len == LOCATE_PAGE);
                    for row in rows {
                        let id: String = row.get(0);
                        let record = decode(owner, &id, row.get(1))?;
                        if filter.matches(&record.id, &record.metadata) {
                            ids.push(record.id);
                            if ids.len() >= limit {
                                return Ok(ids);
                            }
                        }
                        after = id;
                    }
                    if !full {
                        return Ok(ids);
                    }
                }
            })
            .await
    }

    async fn shred(&self, record: Record, max_pending: usize) -> Result<(), VaultError> {
        let notice = cbor::encode(&ShredNotice::of(&record))
            .map_err(|source| storage("encoding a shred notice", source))?;
        let max_pending_i64 = i64::try_from(max_pending).unwrap_or(i64::MAX);
        self.db
            .bounded("destroying a record", move |mut client| async move {
                let failed = |source| storage("destroying a record", source);
                let tx = client.transaction().await.map_err(failed)?;
                let record = replace(&tx, record).await?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SHRED_QUEUE_LOCK])
                    .await
                    .map_err(failed)?;
                // A key whose notice is queued already takes no new place.
                let others: i64 = tx
                .query_one(
                    "SELECT count(*) FROM krypton_vault_shreds WHERE NOT (owner = $1 AND id = $2)",
                    &[&record.owner, &record.id],
                )
                .await
                .map_err(failed)?
                .get(0);
                if others >= max_pending_i64 {
                    // Dropping the transaction rolls the record back too.
                    return Err(VaultError::ShredQueueFull { limit: max_pending });
                }
                let queue = tx
                    .prepare_cached(
                        "INSERT INTO krypton_vault_shreds (owner, id, notice) VALUES ($1, $2, $3) \
                     ON CONFLICT (owner, id) DO UPDATE SET notice = EXCLUDED.notice",
                    )
                    .await
                    .map_err(failed)?;
                tx.execute(&queue, &[&record.owner, &record.id, &notice])
                    .await
                    .map_err(failed)?;
                tx.commit().await.map_err(failed)
            })
            .await
    }

    async fn pending_shreds(&self, limit: usize) -> Result<Vec<ShredNotice>, VaultError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db.bounded("scanning shred notices", |client| async move {
            let failed = |source| storage("scanning shred notices", source);
            let rows = client
                .query(
                    "SELECT owner, id, notice FROM krypton_vault_shreds ORDER BY owner, id LIMIT $1",
                    &[&limit],
                )
                .await
                .map_err(failed)?;
            rows.iter()
                .map(|row| {
                    cbor::decode(row.get(2)).map_err(|source| VaultError::Corrupt {
                        owner: row.get(0),
                        id: row.get(1),
                        source: Box::new(source),
                    })
                })
                .collect()
        })
        .await
    }

    async fn acknowledge_shred(&self, owner: &str, id: &str) -> Result<(), VaultError> {
        self.db
            .bounded("removing a shred notice", |client| async move {
                client
                    .execute(
                        "DELETE FROM krypton_vault_shreds WHERE owner = $1 AND id = $2",
                        &[&owner, &id],
                    )
                    .await
                    .map_err(|source| storage("removing a shred notice", source))?;
                Ok(())
            })
            .await
    }

    async fn scan(&self, from: Option<ScanCursor>, limit: usize) -> Result<ScanPage, VaultError> {
        let after = from.map(|ScanCursor(place)| split_key(&place));
        let (owner, id) = after.map_or((None, None), |(owner, id)| (Some(owner), Some(id)));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .bounded("scanning records", |client| async move {
                let rows = client
                    .query(
                        "SELECT owner, id, record FROM krypton_vault_records \
                     WHERE $1::text IS NULL OR (owner, id) > ($1, $2) \
                     ORDER BY owner, id LIMIT $3",
                        &[&owner, &id, &limit],
                    )
                    .await
                    .map_err(|source| storage("scanning records", source))?;
                let full = i64::try_from(rows.len()).is_ok_and(|len| len == limit);
                let records = rows
                    .iter()
                    .map(|row| decode(row.get(0), row.get(1), row.get(2)))
                    .collect::<Result<Vec<_>, _>>()?;
                let next = records
                    .last()
                    .filter(|_| full)
                    .map(|last| ScanCursor(record_key(&last.owner, &last.id)));
                Ok(ScanPage { records, next })
            })
            .await
    }
}

/// The owner's record `id`; `lock` is appended to the query (`FOR UPDATE` in a change).
async fn read_record(
    client: &impl GenericClient,
    owner: &str,
    id: &str,
    lock: &str,
) -> Result<Option<Record>, VaultError> {
    let failed = |source| storage("reading a record", source);
    let select = client
        .prepare_cached(&format!(
            "SELECT record FROM krypton_vault_records WHERE owner = $1 AND id = $2 {lock}"
        ))
        .await
        .map_err(failed)?;
    client
        .query_opt(&select, &[&owner, &id])
        .await
        .map_err(failed)?
        .map(|row| decode(owner, id, row.get(0)))
        .transpose()
}

/// The records at `places`, each with whether a shred notice of it is queued, in one
/// `SELECT`; each place's answer in order.
async fn read_found(client: Object, places: Vec<Place>) -> Answers<Option<Found>> {
    let rows = select_places(
        &client,
        "reading records",
        "SELECT owner, id, record, EXISTS (SELECT 1 FROM krypton_vault_shreds AS s \
         WHERE s.owner = r.owner AND s.id = r.id) FROM krypton_vault_records AS r",
        &places,
    )
    .await?;
    let mut found: HashMap<(&str, &str), (&[u8], bool)> = HashMap::with_capacity(rows.len());
    for row in &rows {
        found.insert((row.get(0), row.get(1)), (row.get(2), row.get(3)));
    }
    Ok(places
        .iter()
        .map(|(owner, id)| {
            found
                .get(&(owner.as_str(), id.as_str()))
                .map(|&(value, shred_pending)| {
                    Ok(Found {
                        record: decode(owner, id, value)?,
                        shred_pending,
                    })
                })
                .transpose()
        })
        .collect())
}

/// The rows `select` (a `SELECT … FROM` without its `WHERE`) finds at `places`: one place by
/// its key, as a lone read at one connection is; several passed as two arrays (owners, ids).
async fn select_places(
    client: &Object,
    context: &'static str,
    select: &str,
    places: &[Place],
) -> Result<Vec<tokio_postgres::Row>, VaultError> {
    let failed = |source| storage(context, source);
    if let [(owner, id)] = places {
        let one = client
            .prepare_cached(&format!("{select} WHERE owner = $1 AND id = $2"))
            .await
            .map_err(failed)?;
        return client.query(&one, &[owner, id]).await.map_err(failed);
    }
    let many = client
        .prepare_cached(&format!(
            "{select} WHERE (owner, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
        ))
        .await
        .map_err(failed)?;
    let (owners, ids): (Vec<&str>, Vec<&str>) = places
        .iter()
        .map(|(owner, id)| (owner.as_str(), id.as_str()))
        .unzip();
    client.query(&many, &[&owners, &ids]).await.map_err(failed)
}

/// Writes `record` over the stored one in `tx` if that is still at `record.revision`, with the
/// next revision; gives the record back for the rest of the transaction.
async fn replace(tx: &Transaction<'_>, mut record: Record) -> Result<Record, VaultError> {
    let stored = read_record(tx, &record.owner, &record.id, "FOR UPDATE")
        .await?
        .ok_or(VaultError::NotFound)?;
    if stored.revision != record.revision {
        return Err(VaultError::Conflict);
    }
    record.revision = record.revision.saturating_add(1);
    let value = encode(&record)?;
    let failed = |source| storage("writing a record", source);
    let write = tx
        .prepare_cached("UPDATE krypton_vault_records SET record = $3 WHERE owner = $1 AND id = $2")
        .await
        .map_err(failed)?;
    tx.execute(&write, &[&record.owner, &record.id, &value])
        .await
        .map_err(failed)?;
    Ok(record)
}
