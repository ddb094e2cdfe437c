//! The shared vault on Redis: one hash per record, so that many gateways can serve the same
//! keys from memory-speed storage.
//!
//! Each record is a hash under `<prefix>r:<key>` (where `<key>` is the owner's length and
//! bytes, then the id, as in RocksDB) holding its revision, its place (`<key>` again) and its
//! CBOR. Every write is one Lua script, which Redis runs atomically: a Create stores the record
//! only if absent and adds its id to the owner's index (a sorted set of equal scores, so in id
//! order), a change compares the place and revision it read before writing, and a Destroy
//! writes the record and queues its shred notice together, within the queue's bound. Scripts
//! go by `EVALSHA`, loaded again if the server lost them.
//!
//! A record copied or moved under another key keeps its place, and is refused there, by the
//! scripts and by every read, which also checks the place the CBOR names.
//!
//! Durability is the server's: with `appendonly yes`, a write is acknowledged once in the
//! append-only file, synced to disk within a second (`appendfsync everysec`, Redis's default)
//! or before the reply (`appendfsync always`). One primary, no cluster: the scripts touch
//! keys of several hash slots.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{
    Client, ClientTlsConfig, ConnectionAddr, IntoConnectionInfo, RedisError, Script,
    TlsCertificates,
};
use zeroize::Zeroizing;

use crate::cbor;
use crate::config::{ClientCertificate, ServerVaultConfig};
use crate::vault::batch::{Answers, Place, ReadBatcher};
use crate::vault::key::{owner_prefix, record_key, split_key};
use crate::vault::record::{decode, encode};
use crate::vault::{
    Filter, Found, Record, ScanCursor, ScanPage, ShredNotice, Vault, VaultError, storage,
};

/// How many ids of one owner Locate reads per round trip.
const LOCATE_PAGE: isize = 256;
/// How often a connection is retried within one call before the call fails.
const RECONNECT_ATTEMPTS: usize = 2;
/// The largest PEM file read for `rediss://`: the CA bundle, the client certificate, its key.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// What the scripts answer.
const OK: i64 = 1;
const NOT_FOUND: i64 = 0;
const MISPLACED: i64 = -1;
const CONFLICT: i64 = -2;
const QUEUE_FULL: i64 = -3;

/// KEYS: record, owner index. ARGV: revision, place, CBOR, id.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'rev', ARGV[1], 'place', ARGV[2], 'rec', ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[4])
return 1
";

/// The check a change makes before writing: the record exists, is in its place, and is at the
/// revision the caller read. `KEYS[1]`: record. `ARGV[1]`: revision read, `ARGV[2]`: place.
const CHECK: &str = r"
local stored = redis.call('HMGET', KEYS[1], 'rev', 'place')
if not stored[1] then return 0 end
if stored[2] ~= ARGV[2] then return -1 end
if stored[1] ~= ARGV[1] then return -2 end
";

/// After [`CHECK`]. `ARGV[3]`: next revision, `ARGV[4]`: CBOR.
const UPDATE: &str = r"
redis.call('HSET', KEYS[1], 'rev', ARGV[3], 'rec', ARGV[4])
return 1
";

/// After [`CHECK`]. `KEYS[2]`: shred notices (hash by place), `KEYS[3]`: their order (sorted
/// set). `ARGV[3]`: next revision, `ARGV[4]`: CBOR, `ARGV[5]`: notice, `ARGV[6]`: the queue's
/// bound.
const SHRED: &str = r"
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0
    and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[6]) then
    return -3
end
redis.call('HSET', KEYS[1], 'rev', ARGV[3], 'rec', ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[5])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
return 1
";

/// A vault on a Redis server, through a few multiplexed connections that reconnect by
/// themselves.
#[derive(Clone)]
pub struct RedisVault {
    inner: Arc<Inner>,
    /// The reads of an operation on a key, pipelined (see [`ReadBatcher`]).
    records: ReadBatcher<Option<Found>>,
}

struct Inner {
    connections: Vec<ConnectionManager>,
    next: AtomicUsize,
    prefix: Vec<u8>,
    request_timeout: Duration,
    create: Script,
    update: Script,
    shred: Script,
}

impl fmt::Debug for RedisVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisVault")
            .field("connections", &self.inner.connections.len())
            .finish_non_exhaustive()
    }
}

impl RedisVault {
    /// Connects to the server `settings` names.
    ///
    /// # Errors
    ///
    /// [`VaultError::Settings`] for settings that cannot be used, [`VaultError::Storage`] if
    /// the server cannot be reached or refuses the login.
    pub async fn connect(settings: &ServerVaultConfig) -> Result<Self, VaultError> {
        let client = client(settings)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.request_timeout))
            .set_number_of_retries(RECONNECT_ATTEMPTS);
        let mut connections = Vec::with_capacity(settings.pool_size);
        for _ in 0..settings.pool_size {
            let connecting = client.get_connection_manager_with_config(config.clone());
            let connection = tokio::time::timeout(settings.connect_timeout, connecting)
                .await
                .map_err(|_| storage("connecting to the vault server", "timed out"))?
                .map_err(|source| storage("connecting to the vault server", source))?;
            connections.push(connection);
        }
        let inner = Arc::new(Inner {
            connections,
            next: AtomicUsize::new(0),
            prefix: settings.key_prefix.as_bytes().to_vec(),
            request_timeout: settings.request_timeout,
            create: Script::new(CREATE),
            update: Script::new(&format!("{CHECK}{UPDATE}")),
            shred: Script::new(&format!("{CHECK}{SHRED}")),
        });
        let records = {
            let inner = Arc::clone(&inner);
            ReadBatcher::spawn("reading records", move |places| {
                let inner = Arc::clone(&inner);
                async move { inner.read_found(places).await }
            })
        };
        Ok(Self { inner, records })
    }
}

impl Inner {
    /// The records at `places`, each with whether a shred notice of it is queued: an `HMGET`
    /// and an `HEXISTS` each, in one pipeline; each place's answer in order.
    async fn read_found(&self, places: Vec<Place>) -> Answers<Option<Found>> {
        let stored: Vec<Vec<u8>> = places
            .iter()
            .map(|(owner, id)| record_key(owner, id))
            .collect();
        let shreds = self.shreds_key();
        let mut pipeline = ::redis::pipe();
        for place in &stored {
            pipeline
                .cmd("HMGET")
                .arg(self.record_key(place))
                .arg("place")
                .arg("rec");
            pipeline.cmd("HEXISTS").arg(&shreds).arg(place);
        }
        let answers: Vec<(StoredFields, bool)> = self
            .reading("reading records", |mut connection| {
                let pipeline = &pipeline;
                async move { pipeline.query_async(&mut connection).await }
            })
            .await?;
        Ok(places
            .iter()
            .zip(&stored)
            .zip(answers)
            .map(|(((owner, id), place), (fields, shred_pending))| {
                Ok(
                    stored_record(owner, id, place, fields)?.map(|record| Found {
                        record,
                        shred_pending,
                    }),
                )
            })
            .collect())
    }

    /// Runs `call` on the next connection, bounded by the request timeout. A write is tried
    /// once: on a lost connection it may or may not have been applied, which only the caller's
    /// client can resolve (by reading, or retrying what is safe to repeat).
    async fn bounded<T, F, Fut>(&self, context: &'static str, call: F) -> Result<T, VaultError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        self.within_timeout(context, call(self.next_connection()))
            .await
    }

    /// As [`bounded`](Self::bounded) for a read, which is tried again on the next connection
    /// when one turns out lost (each reconnects by itself once it has failed a call), within
    /// the same timeout. A lost connection has every other one checked too.
    async fn reading<T, F, Fut>(&self, context: &'static str, read: F) -> Result<T, VaultError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let attempts = async {
            let mut tried = 1;
            loop {
                match read(self.next_connection()).await {
                    Err(error) if is_lost(&error) && tried < self.connections.len() => {
                        if tried == 1 {
                            self.nudge();
                        }
                        tried += 1;
                    }
                    done => return done,
                }
            }
        };
        self.within_timeout(context, attempts).await
    }

    async fn within_timeout<T>(
        &self,
        context: &'static str,
        call: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, VaultError> {
        let bound = self.request_timeout;
        match tokio::time::timeout(bound, call).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                if is_lost(&error) {
                    self.nudge();
                }
                Err(storage(context, error))
            }
            Err(_) => Err(storage(context, format!("no answer within {bound:?}"))),
        }
    }

    /// Has every connection try the server (PING) in the background: one that is lost finds
    /// out and reconnects now, rather than by failing a later write. Each try is bounded by
    /// the connections' response timeout.
    fn nudge(&self) {
        for connection in &self.connections {
            let mut connection = connection.clone();
            tokio::spawn(async move {
                let _: Result<(), RedisError> =
                    ::redis::cmd("PING").query_async(&mut connection).await;
            });
        }
    }

    fn next_connection(&self) -> ConnectionManager {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[turn].clone()
    }

    fn key(&self, kind: &[u8], rest: &[u8]) -> Vec<u8> {
        let mut key = self.prefix.clone();
        key.extend_from_slice(kind);
        key.extend_from_slice(rest);
        key
    }

    fn record_key(&self, place: &[u8]) -> Vec<u8> {
        self.key(b"r:", place)
    }

    fn index_key(&self, owner: &str) -> Vec<u8> {
        self.key(b"o:", &owner_prefix(owner))
    }

    fn shreds_key(&self) -> Vec<u8> {
        self.key(b"s", b"")
    }

    fn shred_order_key(&self) -> Vec<u8> {
        self.key(b"q", b"")
    }
}

impl RedisVault {
    /// Writes a changed record through `script`: [`CHECK`], then [`UPDATE`], or, given the
    /// encoded notice and the queue's bound, [`SHRED`].
    async fn change(
        &self,
        context: &'static str,
        script: &Script,
        mut record: Record,
        shred: Option<(Vec<u8>, usize)>,
    ) -> Result<(), VaultError> {
        let place = record_key(&record.owner, &record.id);
        let read = record.revision;
        record.revision = read.saturating_add(1);
        let value = encode(&record)?;
        let mut invocation = script.key(self.inner.record_key(&place));
        invocation
            .arg(read)
            .arg(&place)
            .arg(record.revision)
            .arg(value);
        let max_pending = shred.as_ref().map_or(0, |(_, max_pending)| *max_pending);
        if let Some((notice, max_pending)) = shred {
            invocation
                .key(self.inner.shreds_key())
                .key(self.inner.shred_order_key())
                .arg(notice)
                .arg(max_pending);
        }
        let code: i64 = self
            .inner
            .bounded(context, |mut connection| async move {
                invocation.invoke_async(&mut connection).await
            })
            .await?;
        match code {
            OK => Ok(()),
            NOT_FOUND => Err(VaultError::NotFound),
            MISPLACED => Err(VaultError::Misplaced {
                owner: record.owner,
                id: record.id,
            }),
            CONFLICT => Err(VaultError::Conflict),
            QUEUE_FULL => Err(VaultError::ShredQueueFull { limit: max_pending }),
            other => Err(storage(context, format!("the script answered {other}"))),
        }
    }
}

/// `bytes` with the characters a `SCAN ... MATCH` pattern gives a meaning escaped, so that a
/// key prefix matches only itself.
fn glob_escaped(bytes: &[u8]) -> Vec<u8> {
    let mut escaped = Vec::with_capacity(bytes.len());
    for &byte in bytes {
        if matches!(byte, b'*' | b'?' | b'[' | b']' | b'\\') {
            escaped.push(b'\\');
        }
        escaped.push(byte);
    }
    escaped
}

/// The client of the URL in `settings`, with its password and TLS.
fn client(settings: &ServerVaultConfig) -> Result<Client, VaultError> {
    let unusable = |why: &str| VaultError::Settings(why.to_owned());
    let info = settings
        .url
        .as_str()
        .into_connection_info()
        .map_err(|_| unusable("vault.url is not a redis:// or rediss:// URL"))?;
    if info.redis_settings().password().is_some() {
        return Err(unusable(
            "vault.url carries a password: give it in vault.password (a file or a systemd \
             credential) instead",
        ));
    }
    let tls = match info.addr() {
        ConnectionAddr::TcpTls { insecure: true, .. } => {
            return Err(unusable("vault.url turns off the server's verification"));
        }
        ConnectionAddr::TcpTls { .. } => true,
        ConnectionAddr::Tcp(host, _) if is_local(host) => false,
        ConnectionAddr::Unix(_) => false,
        _ => {
            return Err(unusable(
                "vault.url names a host off this machine: use rediss://, so that the \
                 connection is TLS and the server verified",
            ));
        }
    };
    let mut redis = info.redis_settings().clone();
    if let Some(password) = &settings.password {
        let password = password
            .read()
            .map_err(|source| storage("reading the vault password", source))?;
        let password = std::str::from_utf8(&password)
            .map_err(|_| unusable("the vault password is not UTF-8, as Redis requires"))?;
        redis = redis.set_password(password);
    }
    let info = info.set_redis_settings(redis);
    match (&settings.server_ca, tls) {
        (Some(ca), true) => {
            let root_cert = read_pem(ca, "reading the vault server's CA")?;
            let client_tls = settings
                .client_certificate
                .as_ref()
                .map(client_tls)
                .transpose()?;
            Client::build_with_tls(
                info,
                TlsCertificates {
                    client_tls,
                    root_cert: Some(root_cert),
                },
            )
        }
        (Some(_), false) => {
            return Err(unusable(
                "vault.server_ca is given but vault.url is not rediss://",
            ));
        }
        (None, _) => Client::open(info),
    }
    .map_err(|source| storage("setting up the vault client", source))
}

fn read_pem(path: &std::path::Path, action: &'static str) -> Result<Vec<u8>, VaultError> {
    use std::io::Read;
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_PEM_BYTES).read_to_end(&mut pem))
        .map_err(|source| storage(action, source))?;
    Ok(pem)
}

/// The gateway's certificate and key towards the server. The redis client keeps both for its
/// reconnections, in memory it owns and does not wipe; the copy read here is wiped.
fn client_tls(client: &ClientCertificate) -> Result<ClientTlsConfig, VaultError> {
    let key = Zeroizing::new(read_pem(
        &client.private_key,
        "reading the vault client certificate's key",
    )?);
    Ok(ClientTlsConfig {
        client_cert: read_pem(&client.cert_chain, "reading the vault client certificate")?,
        client_key: key.to_vec(),
    })
}

/// Whether `error` is a connection lost or refused, rather than an answer of the server.
fn is_lost(error: &RedisError) -> bool {
    error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal()
}

/// Whether a connection to `host` stays on this machine.
fn is_local(host: &str) -> bool {
    host == "localhost" || IpAddr::from_str(host).is_ok_and(|ip| ip.is_loopback())
}

/// A record hash's `place` and `rec` fields, as read.
type StoredFields = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The record read under `(owner, id)`: in its place, and decoding to a record that names it.
fn stored_record(
    owner: &str,
    id: &str,
    place: &[u8],
    fields: StoredFields,
) -> Result<Option<Record>, VaultError> {
    match fields {
        (_, None) => Ok(None),
        (Some(stored_place), Some(value)) if stored_place == place => {
            decode(owner, id, &value).map(Some)
        }
        _ => Err(VaultError::Misplaced {
            owner: owner.to_owned(),
            id: id.to_owned(),
        }),
    }
}

impl Vault for RedisVault {
    async fn create(&self, record: Record) -> Result<(), VaultError> {
        let place = record_key(&record.owner, &record.id);
        let value = encode(&record)?;
        let (key, index) = (
            self.inner.record_key(&place),
            self.inner.index_key(&record.owner),
        );
        let created: i64 = self
            .inner
            .bounded("creating a record", |mut connection| async move {
                self.inner
                    .create
                    .key(key)
                    .key(index)
                    .arg(record.revision)
                    .arg(&place)
                    .arg(value)
                    .arg(&record.id)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        if created == OK {
            Ok(())
        } else {
            Err(VaultError::Exists)
        }
    }

    async fn get(&self, owner: &str, id: &str) -> Result<Option<Record>, VaultError> {
        Ok(self.find(owner, id).await?.map(|found| found.record))
    }

    async fn find(&self, owner: &str, id: &str) -> Result<Option<Found>, VaultError> {
        self.records.get(owner, id).await
    }

    async fn update(&self, record: Record) -> Result<(), VaultError> {
        self.change("updating a record", &self.inner.update, record, None)
            .await
    }

    async fn locate(
        &self,
        owner: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<String>, VaultError> {
        let index = self.inner.index_key(owner);
        let mut ids = Vec::new();
        let mut start = 0;
        loop {
            let mut zrange = ::redis::cmd("ZRANGE");
            zrange.arg(&index).arg(start).arg(start + LOCATE_PAGE - 1);
            let page: Vec<String> = self
                .inner
                .reading("scanning records", |mut connection| {
                    let zrange = &zrange;
                    async move { zrange.query_async(&mut connection).await }
                })
                .await?;
            if page.is_empty() {
                return Ok(ids);
            }
            let places: Vec<Vec<u8>> = page.iter().map(|id| record_key(owner, id)).collect();
            let mut pipe = ::redis::pipe();
            for place in &places {
                pipe.cmd("HMGET")
                    .arg(self.inner.record_key(place))
                    .arg("place")
                    .arg("rec");
            }
            let fields: Vec<StoredFields> = self
                .inner
                .reading("scanning records", |mut connection| {
                    let pipe = &pipe;
                    async move { pipe.query_async(&mut connection).await }
                })
                .await?;
            for ((id, place), fields) in page.iter().zip(&places).zip(fields) {
                let Some(record) = stored_record(owner, id, place, fields)? else {
                    continue;
                };
                if filter.matches(&record.id, &record.metadata) {
                    ids.push(record.id);
                    if ids.len() >= limit {
                        return Ok(ids);
                    }
                }
            }
            if page.len() < LOCATE_PAGE.unsigned_abs() {
                return Ok(ids);
            }
            start += LOCATE_PAGE;
        }
    }

    async fn shred(&self, record: Record, max_pending: usize) -> Result<(), VaultError> {
        let notice = cbor::encode(&ShredNotice::of(&record))
            .map_err(|source| storage("encoding a shred notice", source))?;
        self.change(
            "destroying a record",
            &self.inner.shred,
            record,
            Some((notice, max_pending)),
        )
        .await
    }

    async fn pending_shreds(&self, limit: usize) -> Result<Vec<ShredNotice>, VaultError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (shreds, order) = (self.inner.shreds_key(), self.inner.shred_order_key());
        let last = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let mut zrange = ::redis::cmd("ZRANGE");
        zrange.arg(order).arg(0).arg(last);
        let places: Vec<Vec<u8>> = self
            .inner
            .reading("scanning shred notices", |mut connection| {
                let zrange = &zrange;
                async move { zrange.query_async(&mut connection).await }
            })
            .await?;
        if places.is_empty() {
            return Ok(Vec::new());
        }
        let mut hmget = ::redis::cmd("HMGET");
        hmget.arg(shreds).arg(&places);
        let notices: Vec<Option<Vec<u8>>> = self
            .inner
            .reading("scanning shred notices", |mut connection| {
                let hmget = &hmget;
                async move { hmget.query_async(&mut connection).await }
            })
            .await?;
        places
            .iter()
            .zip(notices)
            .filter_map(|(place, notice)| {
                notice.map(|notice| {
                    cbor::decode(&notice).map_err(|source| {
                        let (owner, id) = split_key(place);
                        VaultError::Corrupt {
                            owner,
                            id,
                            source: Box::new(source),
                        }
                    })
                })
            })
            .collect()
    }

    async fn acknowledge_shred(&self, owner: &str, id: &str) -> Result<(), VaultError> {
        let (shreds, order, place) = (
            self.inner.shreds_key(),
            self.inner.shred_order_key(),
            record_key(owner, id),
        );
        self.inner
            .bounded("removing a shred notice", |mut connection| async move {
                ::redis::pipe()
                    .atomic()
                    .hdel(shreds, &place)
                    .ignore()
                    .zrem(order, &place)
                    .ignore()
                    .query_async::<()>(&mut connection)
                    .await
            })
            .await
    }

    async fn scan(&self, from: Option<ScanCursor>, limit: usize) -> Result<ScanPage, VaultError> {
        let cursor = from.map_or(Ok(0), |ScanCursor(cursor)| {
            std::str::from_utf8(&cursor)
                .ok()
                .and_then(|cursor| cursor.parse::<u64>().ok())
                .ok_or_else(|| storage("scanning records", "not a cursor of this vault"))
        })?;
        let mut pattern = glob_escaped(&self.inner.prefix);
        pattern.extend_from_slice(b"r:*");
        let mut scan = ::redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(limit);
        let (next, keys): (u64, Vec<Vec<u8>>) = self
            .inner
            .reading("scanning records", |mut connection| {
                let scan = &scan;
                async move { scan.query_async(&mut connection).await }
            })
            .await?;
        let next = (next != 0).then(|| ScanCursor(next.to_string().into_bytes()));
        if keys.is_empty() {
            // A SCAN step may find nothing and still not be the last.
            return Ok(ScanPage {
                records: Vec::new(),
                next,
            });
        }
        let mut pipe = ::redis::pipe();
        for key in &keys {
            pipe.cmd("HMGET").arg(key).arg("place").arg("rec");
        }
        let fields: Vec<StoredFields> = self
            .inner
            .reading("scanning records", |mut connection| {
                let pipe = &pipe;
                async move { pipe.query_async(&mut connection).await }
            })
            .await?;
        let record_prefix = self.inner.record_key(b"");
        let mut records = Vec::with_capacity(keys.len());
        for (key, fields) in keys.iter().zip(fields) {
            let place = &key[record_prefix.len()..];
            let (owner, id) = split_key(place);
            // Gone since SCAN saw its key: deleted records are simply not there.
            if let Some(record) = stored_record(&owner, &id, place, fields)? {
                records.push(record);
            }
        }
        Ok(ScanPage { records, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(url: &str) -> String {
        match client(&ServerVaultConfig::new(url)) {
            Err(VaultError::Settings(why)) => why,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn unusable_urls_are_refused_before_connecting() {
        assert!(refusal("redis://:secret@localhost/0").contains("password"));
        assert!(refusal("redis://cache.example/0").contains("rediss://"));
        assert!(refusal("rediss://cache.example/0#insecure").contains("verification"));
        assert!(refusal("postgres://localhost/0").contains("not a redis"));
        let mut settings = ServerVaultConfig::new("redis://localhost/0");
        settings.server_ca = Some("/etc/k/ca.pem".into());
        assert!(
            matches!(client(&settings), Err(VaultError::Settings(why)) if why.contains("server_ca"))
        );
        assert!(client(&ServerVaultConfig::new("rediss://cache.example/0")).is_ok());
    }
}
