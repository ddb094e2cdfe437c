//! The vault contract, checked against every backend: one generic body per behaviour, run once
//! per backend, the refusal of records moved or copied into place, and the durability only the
//! RocksDB vault promises.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::records::{CREATED, l3, record};
use kmip::{Attribute, CryptographicUsageMask, DateTime, Name, State, StorageStatusMask};
use krypton_dev::vault_server::{PostgresServer, RedisServer};
use krypton_gateway::{
    CopyError, CopyReport, Filter, MemoryVault, PostgresVault, Record, RedisVault, RocksDbVault,
    ScanCursor, ServerVaultConfig, ShredNotice, Vault, VaultError, copy,
};
use krypton_service::secret_file::SecretSource;
use tempfile::TempDir;

/// The tests' clock: the moment every test record was created.
const NOW: DateTime = CREATED;

fn filter(attributes: Vec<Attribute>) -> Filter {
    Filter::new(attributes, None, NOW)
}

// ---- The behaviours every backend must have ---------------------------------------------------

async fn created_records_read_back<V: Vault>(vault: V) {
    let stored = record("app-a", "k1", &["disk"]);
    vault.create(stored.clone()).await.unwrap();
    assert_eq!(vault.get("app-a", "k1").await.unwrap(), Some(stored));
    assert_eq!(vault.get("app-a", "k2").await.unwrap(), None);
}

async fn an_id_is_created_once<V: Vault>(vault: V) {
    vault.create(record("app-a", "k1", &[])).await.unwrap();
    let again = vault.create(record("app-a", "k1", &["other"])).await;
    assert!(matches!(again, Err(VaultError::Exists)), "{again:?}");
    assert_eq!(
        vault.get("app-a", "k1").await.unwrap(),
        Some(record("app-a", "k1", &[]))
    );
}

async fn owners_never_see_each_others_records<V: Vault>(vault: V) {
    vault
        .create(record("app-a", "k1", &["shared-name"]))
        .await
        .unwrap();
    vault
        .create(record("app-b", "k2", &["shared-name"]))
        .await
        .unwrap();
    // One owner's name must not extend into another's key range.
    vault
        .create(record("app-ab", "k3", &["shared-name"]))
        .await
        .unwrap();
    assert_eq!(vault.get("app-b", "k1").await.unwrap(), None);
    assert_eq!(vault.get("app-a", "k2").await.unwrap(), None);
    let by_name = filter(vec![Attribute::Name(Name::text("shared-name"))]);
    assert_eq!(vault.locate("app-a", &by_name, 10).await.unwrap(), ["k1"]);
    assert_eq!(vault.locate("app-b", &by_name, 10).await.unwrap(), ["k2"]);
    assert_eq!(vault.locate("app-ab", &by_name, 10).await.unwrap(), ["k3"]);
    assert!(vault.locate("app", &by_name, 10).await.unwrap().is_empty());
}

async fn updates_compare_the_revision<V: Vault>(vault: V) {
    vault.create(record("app-a", "k1", &[])).await.unwrap();
    let read = vault.get("app-a", "k1").await.unwrap().unwrap();
    assert_eq!(read.revision, 1);

    let mut first = read.clone();
    first.metadata.state = State::Active;
    vault.update(first).await.unwrap();

    let mut stale = read;
    stale.metadata.state = State::Compromised;
    let conflict = vault.update(stale).await;
    assert!(
        matches!(conflict, Err(VaultError::Conflict)),
        "{conflict:?}"
    );

    let now = vault.get("app-a", "k1").await.unwrap().unwrap();
    assert_eq!(now.revision, 2);
    assert_eq!(now.metadata.state, State::Active);

    let missing = vault.update(record("app-a", "nope", &[])).await;
    assert!(matches!(missing, Err(VaultError::NotFound)), "{missing:?}");
}

async fn destroying_drops_the_blob_and_keeps_the_metadata<V: Vault>(vault: V) {
    vault
        .create(record("app-a", "k1", &["gone"]))
        .await
        .unwrap();
    let mut destroyed = vault.get("app-a", "k1").await.unwrap().unwrap();
    destroyed.wrapped = None;
    destroyed.metadata.state = State::Destroyed;
    destroyed.metadata.destroy_date = Some(NOW);
    vault.update(destroyed).await.unwrap();
    let read = vault.get("app-a", "k1").await.unwrap().unwrap();
    assert_eq!(read.wrapped, None);
    assert_eq!(read.metadata.state, State::Destroyed);

    let by_name = filter(vec![Attribute::Name(Name::text("gone"))]);
    assert!(
        vault
            .locate("app-a", &by_name, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let destroyed_storage = Filter::new(
        vec![Attribute::Name(Name::text("gone"))],
        Some(StorageStatusMask::DESTROYED_STORAGE),
        NOW,
    );
    assert_eq!(
        vault.locate("app-a", &destroyed_storage, 10).await.unwrap(),
        ["k1"]
    );
}

async fn locate_matches_values_masks_and_date_ranges<V: Vault>(vault: V) {
    for (id, name) in [("k1", "alpha"), ("k2", "beta"), ("k3", "alpha")] {
        vault.create(record("app-a", id, &[name])).await.unwrap();
    }
    let mut active = vault.get("app-a", "k3").await.unwrap().unwrap();
    active.metadata.state = State::Active;
    active.metadata.activation_date = Some(DateTime(NOW.0 + 100));
    vault.update(active).await.unwrap();

    let locate = |attributes| {
        let vault = &vault;
        async move {
            vault
                .locate("app-a", &filter(attributes), 10)
                .await
                .unwrap()
        }
    };
    assert_eq!(locate(vec![]).await, ["k1", "k2", "k3"]);
    assert_eq!(
        locate(vec![Attribute::Name(Name::text("alpha"))]).await,
        ["k1", "k3"]
    );
    assert_eq!(
        locate(vec![
            Attribute::Name(Name::text("alpha")),
            Attribute::State(State::PreActive)
        ])
        .await,
        ["k1"]
    );
    // A mask matches every key that has at least its bits.
    assert_eq!(
        locate(vec![Attribute::CryptographicUsageMask(
            CryptographicUsageMask::DECRYPT
        )])
        .await
        .len(),
        3
    );
    assert!(
        locate(vec![Attribute::CryptographicUsageMask(
            CryptographicUsageMask::SIGN
        )])
        .await
        .is_empty()
    );
    // Two dates of one attribute are a range.
    assert_eq!(
        locate(vec![
            Attribute::ActivationDate(DateTime(NOW.0 + 200)),
            Attribute::ActivationDate(DateTime(NOW.0 + 50)),
        ])
        .await,
        ["k3"]
    );
    assert!(
        locate(vec![
            Attribute::ActivationDate(DateTime(NOW.0 + 101)),
            Attribute::ActivationDate(DateTime(NOW.0 + 200)),
        ])
        .await
        .is_empty()
    );
    assert_eq!(
        vault.locate("app-a", &filter(vec![]), 2).await.unwrap(),
        ["k1", "k2"],
        "the limit bounds the answer"
    );
}

async fn concurrent_updates_lose_nothing<V: Vault>(vault: V) {
    let vault = Arc::new(vault);
    vault.create(record("app-a", "k1", &[])).await.unwrap();
    let writers = (0..8).map(|writer| {
        let vault = Arc::clone(&vault);
        tokio::spawn(async move {
            loop {
                let mut read = vault.get("app-a", "k1").await.unwrap().unwrap();
                read.metadata
                    .client_attributes
                    .push(Attribute::Name(Name::text(format!("writer-{writer}"))));
                match vault.update(read).await {
                    Ok(()) => return,
                    Err(VaultError::Conflict) => {}
                    Err(error) => panic!("{error}"),
                }
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let last = vault.get("app-a", "k1").await.unwrap().unwrap();
    assert_eq!(last.metadata.client_attributes.len(), 8);
    assert_eq!(last.revision, 9);
}

/// Many Gets at once, as a loaded gateway makes them (the shared vaults answer them in batches):
/// each gets its own record, an absent one `None`, another owner's nothing.
async fn concurrent_gets_each_get_their_own_record<V: Vault>(vault: V) {
    let vault = Arc::new(vault);
    for i in 0..50 {
        let id = format!("k{i}");
        vault.create(record("app-a", &id, &[&id])).await.unwrap();
    }
    let readers = (0..200).map(|n| {
        let vault = Arc::clone(&vault);
        tokio::spawn(async move {
            let (owner, id) = match n % 4 {
                0 => ("app-b", format!("k{}", n % 50)),
                1 => ("app-a", format!("absent-{n}")),
                _ => ("app-a", format!("k{}", n % 50)),
            };
            let got = vault.get(owner, &id).await.unwrap();
            match got {
                Some(got) => {
                    assert_eq!((owner, got.id.as_str()), ("app-a", id.as_str()));
                    assert_eq!(got, record("app-a", &id, &[&id]));
                }
                None => assert!(owner == "app-b" || id.starts_with("absent")),
            }
        })
    });
    for reader in readers.collect::<Vec<_>>() {
        reader.await.unwrap();
    }
}

async fn concurrent_creates_of_one_id_store_one<V: Vault>(vault: V) {
    let vault = Arc::new(vault);
    let creators = (0..8).map(|creator| {
        let vault = Arc::clone(&vault);
        tokio::spawn(async move {
            let tag = format!("creator-{creator}");
            let created = vault.create(record("app-a", "k1", &[&tag])).await;
            (tag, created)
        })
    });
    let mut winners = Vec::new();
    for creator in creators.collect::<Vec<_>>() {
        match creator.await.unwrap() {
            (tag, Ok(())) => winners.push(tag),
            (_, Err(VaultError::Exists)) => {}
            (_, Err(error)) => panic!("{error}"),
        }
    }
    let [winner] = winners.as_slice() else {
        panic!("one create of the id must win: {winners:?}");
    };
    assert_eq!(
        vault.get("app-a", "k1").await.unwrap(),
        Some(record("app-a", "k1", &[winner]))
    );
}

/// Whether `find` reads `owner`'s key `id` with a shred notice queued (an absent record has
/// none).
async fn pending<V: Vault>(vault: &V, owner: &str, id: &str) -> bool {
    vault
        .find(owner, id)
        .await
        .unwrap()
        .is_some_and(|found| found.shred_pending)
}

/// `owner`'s key `id`, as read, changed as Destroy changes it.
async fn destroyed<V: Vault>(vault: &V, owner: &str, id: &str) -> Record {
    let mut record = vault.get(owner, id).await.unwrap().unwrap();
    record.wrapped = None;
    record.metadata.state = State::Destroyed;
    record.metadata.destroy_date = Some(NOW);
    record
}

fn notice(owner: &str, id: &str) -> ShredNotice {
    ShredNotice {
        owner: owner.into(),
        id: id.into(),
        l3: l3("acme", "payments"),
    }
}

async fn a_shred_stores_the_record_and_queues_its_notice_together<V: Vault>(vault: V) {
    for id in ["k1", "k2"] {
        vault.create(record("app-a", id, &[])).await.unwrap();
    }
    let gone = destroyed(&vault, "app-a", "k1").await;
    vault.shred(gone.clone(), 10).await.unwrap();
    let read = vault.get("app-a", "k1").await.unwrap().unwrap();
    assert_eq!((read.revision, read.wrapped), (2, None));
    assert!(pending(&vault, "app-a", "k1").await);
    assert!(!pending(&vault, "app-b", "k1").await);
    assert!(!pending(&vault, "app-a", "k2").await);
    assert_eq!(
        vault.pending_shreds(10).await.unwrap(),
        [notice("app-a", "k1")]
    );

    // A shred that loses its compare-and-set writes neither the record nor the notice.
    let stale = destroyed(&vault, "app-a", "k2").await;
    let mut newer = vault.get("app-a", "k2").await.unwrap().unwrap();
    newer.metadata.state = State::Active;
    vault.update(newer).await.unwrap();
    let conflict = vault.shred(stale, 10).await;
    assert!(
        matches!(conflict, Err(VaultError::Conflict)),
        "{conflict:?}"
    );
    let missing = vault.shred(record("app-a", "nope", &[]), 10).await;
    assert!(matches!(missing, Err(VaultError::NotFound)), "{missing:?}");
    assert!(!pending(&vault, "app-a", "k2").await);
    assert_eq!(vault.pending_shreds(10).await.unwrap().len(), 1);
    assert!(
        vault
            .get("app-a", "k2")
            .await
            .unwrap()
            .unwrap()
            .wrapped
            .is_some()
    );
}

async fn the_shred_queue_is_bounded<V: Vault>(vault: V) {
    for id in ["k1", "k2", "k3"] {
        vault.create(record("app-a", id, &[])).await.unwrap();
    }
    for id in ["k1", "k2"] {
        vault
            .shred(destroyed(&vault, "app-a", id).await, 2)
            .await
            .unwrap();
    }
    let full = vault.shred(destroyed(&vault, "app-a", "k3").await, 2).await;
    assert!(
        matches!(full, Err(VaultError::ShredQueueFull { limit: 2 })),
        "{full:?}"
    );
    // Refused whole: the key is untouched.
    assert_eq!(
        vault.get("app-a", "k3").await.unwrap(),
        Some(record("app-a", "k3", &[]))
    );
    assert!(!pending(&vault, "app-a", "k3").await);
    // A key whose notice is queued already takes no new place (a restored record destroyed again).
    let mut again = destroyed(&vault, "app-a", "k1").await;
    again.metadata.destroy_date = Some(DateTime(NOW.0 + 1));
    vault.shred(again, 2).await.unwrap();
    assert_eq!(vault.pending_shreds(10).await.unwrap().len(), 2);
    // An acknowledged notice makes room.
    vault.acknowledge_shred("app-a", "k1").await.unwrap();
    vault
        .shred(destroyed(&vault, "app-a", "k3").await, 2)
        .await
        .unwrap();
}

async fn an_acknowledged_notice_leaves_the_queue<V: Vault>(vault: V) {
    for (owner, id) in [("app-b", "k2"), ("app-a", "k1"), ("app-a", "k3")] {
        vault.create(record(owner, id, &[])).await.unwrap();
        vault
            .shred(destroyed(&vault, owner, id).await, 10)
            .await
            .unwrap();
    }
    assert_eq!(
        vault.pending_shreds(10).await.unwrap(),
        [
            notice("app-a", "k1"),
            notice("app-a", "k3"),
            notice("app-b", "k2")
        ]
    );
    assert_eq!(vault.pending_shreds(1).await.unwrap().len(), 1);
    vault.acknowledge_shred("app-a", "k1").await.unwrap();
    assert!(!pending(&vault, "app-a", "k1").await);
    // Acknowledging twice, or a notice never queued, is harmless.
    vault.acknowledge_shred("app-a", "k1").await.unwrap();
    vault.acknowledge_shred("app-c", "k9").await.unwrap();
    assert_eq!(
        vault.pending_shreds(10).await.unwrap(),
        [notice("app-a", "k3"), notice("app-b", "k2")]
    );
    // The destroyed records stay.
    assert_eq!(
        vault
            .get("app-a", "k1")
            .await
            .unwrap()
            .unwrap()
            .metadata
            .state,
        State::Destroyed
    );
}

/// Every record of `vault`, by scanning it `page` records at a time, keyed by place (Redis may
/// show one twice: the map keeps one).
async fn scanned<V: Vault>(vault: &V, page: usize) -> BTreeMap<(String, String), Record> {
    let mut records = BTreeMap::new();
    let mut from: Option<ScanCursor> = None;
    for _ in 0..1000 {
        let scan = vault.scan(from, page).await.unwrap();
        for record in scan.records {
            records.insert((record.owner.clone(), record.id.clone()), record);
        }
        match scan.next {
            Some(next) => from = Some(next),
            None => return records,
        }
    }
    panic!("the scan never ended");
}

/// Records of three owners (one a prefix of another), one of them destroyed.
fn population() -> Vec<Record> {
    let mut records: Vec<Record> = (0..12)
        .map(|n| record("app-a", &format!("k{n:02}"), &["a"]))
        .chain((0..5).map(|n| record("app-b", &format!("k{n}"), &["b"])))
        .chain((0..3).map(|n| record("app-ab", &format!("k{n}"), &[])))
        .collect();
    records[3].wrapped = None;
    records[3].metadata.state = State::Destroyed;
    records[3].revision = 4;
    records
}

async fn a_scan_sees_every_record_of_every_owner<V: Vault>(vault: V) {
    assert!(scanned(&vault, 5).await.is_empty());
    let records = population();
    for record in &records {
        vault.create(record.clone()).await.unwrap();
    }
    let expected: BTreeMap<_, _> = records
        .into_iter()
        .map(|record| ((record.owner.clone(), record.id.clone()), record))
        .collect();
    for page in [1, 4, 7, 1000] {
        assert_eq!(scanned(&vault, page).await, expected, "pages of {page}");
    }
}

/// Into `vault` from a memory vault and back out: records arrive as they were (revision
/// included), a second run finds them all there, a record changed in `vault` since stops the
/// copy in, and a shred notice not yet delivered stops the copy out.
async fn copies_in_and_out_resume_and_refuse_a_difference<V: Vault>(vault: V) {
    let records = population();
    let outside = MemoryVault::new();
    for record in &records {
        outside.create(record.clone()).await.unwrap();
    }
    let all = u64::try_from(records.len()).unwrap();
    let first = copy(&outside, &vault).await.unwrap();
    assert_eq!(
        first,
        CopyReport {
            copied: all,
            present: 0,
            verified: all
        }
    );
    for record in &records {
        assert_eq!(
            vault.get(&record.owner, &record.id).await.unwrap().as_ref(),
            Some(record)
        );
    }
    let again = copy(&outside, &vault).await.unwrap();
    assert_eq!((again.copied, again.present, again.verified), (0, all, all));

    let mut changed = vault.get("app-b", "k2").await.unwrap().unwrap();
    changed.metadata.state = State::Active;
    vault.update(changed).await.unwrap();
    let refused = copy(&outside, &vault).await;
    assert!(
        matches!(&refused, Err(CopyError::Differs { owner, id }) if owner == "app-b" && id == "k2"),
        "{refused:?}"
    );

    let back = MemoryVault::new();
    assert_eq!(copy(&vault, &back).await.unwrap().copied, all);
    assert_eq!(scanned(&back, 100).await, scanned(&vault, 100).await);

    let shredded = destroyed(&vault, "app-a", "k05").await;
    vault.shred(shredded, 10).await.unwrap();
    let pending = copy(&vault, &MemoryVault::new()).await;
    assert!(
        matches!(pending, Err(CopyError::ShredsPending)),
        "{pending:?}"
    );
}

// ---- One instantiation per backend ------------------------------------------------------------

/// Runs every behaviour against a fresh vault from `open`.
macro_rules! conformance {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use super::*;

            conformance!(@tests $open;
                created_records_read_back,
                an_id_is_created_once,
                owners_never_see_each_others_records,
                updates_compare_the_revision,
                destroying_drops_the_blob_and_keeps_the_metadata,
                locate_matches_values_masks_and_date_ranges,
                concurrent_updates_lose_nothing,
                concurrent_creates_of_one_id_store_one,
                concurrent_gets_each_get_their_own_record,
                a_shred_stores_the_record_and_queues_its_notice_together,
                the_shred_queue_is_bounded,
                an_acknowledged_notice_leaves_the_queue,
                a_scan_sees_every_record_of_every_owner,
                copies_in_and_out_resume_and_refuse_a_difference,
            );
        }
    };
    (@tests $open:expr; $($behaviour:ident,)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $behaviour() {
                // The guard keeps whatever the vault lives in until the body is done.
                let (vault, _guard) = $open().await;
                super::$behaviour(vault).await;
            }
        )+
    };
}

async fn memory() -> (MemoryVault, ()) {
    (MemoryVault::new(), ())
}

async fn rocksdb() -> (RocksDbVault, TempDir) {
    let dir = TempDir::new().unwrap();
    let vault = RocksDbVault::open(&dir.path().join("vault")).await.unwrap();
    (vault, dir)
}

/// A fresh database on the test binary's PostgreSQL server.
async fn postgres() -> (PostgresVault, ()) {
    let (url, password) = tokio::task::spawn_blocking(|| {
        let server = PostgresServer::shared().unwrap();
        let database = server.create_database().unwrap();
        (server.url(&database), server.password_file().to_owned())
    })
    .await
    .unwrap();
    let mut settings = ServerVaultConfig::new(url);
    settings.password = Some(SecretSource::File(password));
    (PostgresVault::connect(&settings).await.unwrap(), ())
}

/// A fresh key prefix on the test binary's Redis server.
async fn redis() -> (RedisVault, ()) {
    let (url, password, prefix) = tokio::task::spawn_blocking(|| {
        let server = RedisServer::shared().unwrap();
        let prefix = server.key_prefix();
        (server.url(), server.password_file().to_owned(), prefix)
    })
    .await
    .unwrap();
    let mut settings = ServerVaultConfig::new(url);
    settings.password = Some(SecretSource::File(password));
    settings.key_prefix = prefix;
    (RedisVault::connect(&settings).await.unwrap(), ())
}

conformance!(memory_backend, memory);
conformance!(rocksdb_backend, rocksdb);
conformance!(postgres_backend, postgres);
conformance!(redis_backend, redis);

// ---- Records moved or copied into place ------------------------------------------------------

/// Where the planted vaults below hold app-a's record `k1`: its own place, another owner's
/// (copied), and another id of its owner (moved).
const PLACES: [(&str, &str); 3] = [("app-a", "k1"), ("app-b", "k1"), ("app-a", "k2")];

/// Someone with access to the storage copied app-a's `k1` under app-b's key and app-a's `k2`:
/// both copies are refused by every call that reads them, and the original is served.
async fn misplaced_records_are_refused<V: Vault>(vault: V) {
    let original = record("app-a", "k1", &["copied"]);
    assert_eq!(vault.get("app-a", "k1").await.unwrap(), Some(original));
    for (owner, id) in &PLACES[1..] {
        let read = vault.get(owner, id).await;
        assert!(
            matches!(&read, Err(VaultError::Misplaced { owner: o, id: i }) if o == owner && i == id),
            "{owner}/{id}: {read:?}"
        );
        let update = vault.update(record(owner, id, &["overwrite"])).await;
        assert!(
            matches!(update, Err(VaultError::Misplaced { .. })),
            "{update:?}"
        );
    }
    let everything = filter(vec![]);
    let located = vault.locate("app-b", &everything, 10).await;
    assert!(
        matches!(located, Err(VaultError::Misplaced { .. })),
        "{located:?}"
    );
}

/// A memory vault restored from a snapshot in which app-a's `k1` sits in every place of
/// [`PLACES`].
fn planted_memory() -> MemoryVault {
    let original = record("app-a", "k1", &["copied"]);
    MemoryVault::with_records(
        PLACES.map(|(owner, id)| ((owner.to_owned(), id.to_owned()), original.clone())),
    )
}

/// A RocksDB vault in which app-a's `k1`, created through the vault, was copied byte for byte
/// into the other places of [`PLACES`] through RocksDB itself.
async fn planted_rocksdb() -> (RocksDbVault, TempDir) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("vault");
    {
        let vault = RocksDbVault::open(&path).await.unwrap();
        vault
            .create(record("app-a", "k1", &["copied"]))
            .await
            .unwrap();
    }
    {
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &path, ["default", "shreds"])
            .unwrap();
        let key = |owner: &str, id: &str| {
            let mut key = u32::try_from(owner.len()).unwrap().to_be_bytes().to_vec();
            key.extend_from_slice(owner.as_bytes());
            key.extend_from_slice(id.as_bytes());
            key
        };
        let stored = db.get(key("app-a", "k1")).unwrap().unwrap();
        for (owner, id) in &PLACES[1..] {
            db.put(key(owner, id), &stored).unwrap();
        }
    }
    (RocksDbVault::open(&path).await.unwrap(), dir)
}

#[tokio::test]
async fn the_memory_vault_refuses_misplaced_records() {
    misplaced_records_are_refused(planted_memory()).await;
}

#[tokio::test]
async fn the_rocksdb_vault_refuses_misplaced_records() {
    let (vault, _dir) = planted_rocksdb().await;
    misplaced_records_are_refused(vault).await;
}

// ---- Durability -------------------------------------------------------------------------------

#[tokio::test]
async fn the_rocksdb_vault_keeps_every_record_across_a_restart() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("vault");
    let mut written = Vec::new();
    {
        let vault = RocksDbVault::open(&path).await.unwrap();
        for n in 0..50 {
            let stored = record(&format!("app-{}", n % 3), &format!("k{n:02}"), &["kept"]);
            vault.create(stored.clone()).await.unwrap();
            written.push(stored);
        }
        let mut changed = written[7].clone();
        changed.wrapped = None;
        changed.metadata.state = State::Destroyed;
        vault.update(changed.clone()).await.unwrap();
        changed.revision = 2;
        written[7] = changed;
    }
    let vault = RocksDbVault::open(&path).await.unwrap();
    for stored in &written {
        assert_eq!(
            vault.get(&stored.owner, &stored.id).await.unwrap().as_ref(),
            Some(stored)
        );
    }
    let kept = filter(vec![Attribute::Name(Name::text("kept"))]);
    // app-1 has 17 records, one of them (k07) destroyed.
    assert_eq!(vault.locate("app-1", &kept, 100).await.unwrap().len(), 16);
}

#[tokio::test]
async fn the_rocksdb_shred_queue_survives_a_restart() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("vault");
    {
        let vault = RocksDbVault::open(&path).await.unwrap();
        for id in ["k1", "k2"] {
            vault.create(record("app-a", id, &[])).await.unwrap();
        }
        vault
            .shred(destroyed(&vault, "app-a", "k1").await, 1)
            .await
            .unwrap();
    }
    let vault = RocksDbVault::open(&path).await.unwrap();
    assert_eq!(
        vault.pending_shreds(10).await.unwrap(),
        [notice("app-a", "k1")]
    );
    assert!(pending(&vault, "app-a", "k1").await);
    assert_eq!(
        vault.get("app-a", "k1").await.unwrap().unwrap().wrapped,
        None
    );
    // The queue's size is known again after the restart: the bound still holds.
    let full = vault.shred(destroyed(&vault, "app-a", "k2").await, 1).await;
    assert!(
        matches!(full, Err(VaultError::ShredQueueFull { limit: 1 })),
        "{full:?}"
    );
    vault.acknowledge_shred("app-a", "k1").await.unwrap();
    drop(vault);
    let vault = RocksDbVault::open(&path).await.unwrap();
    assert!(vault.pending_shreds(10).await.unwrap().is_empty());
    assert!(!pending(&vault, "app-a", "k1").await);
}

#[tokio::test]
async fn a_second_process_cannot_open_a_vault_in_use() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("vault");
    let _first = RocksDbVault::open(&path).await.unwrap();
    let second = RocksDbVault::open(&path).await;
    assert!(
        matches!(second, Err(VaultError::Storage { .. })),
        "{second:?}"
    );
}

#[tokio::test]
async fn a_damaged_record_is_reported_not_served() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("vault");
    {
        let vault = RocksDbVault::open(&path).await.unwrap();
        vault.create(record("app-a", "k1", &[])).await.unwrap();
    }
    // Overwrite the record with bytes that are not CBOR of a record, through RocksDB itself.
    {
        // The vault has two column families: records (default) and the shred queue.
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &path, ["default", "shreds"])
            .unwrap();
        let mut key = 5u32.to_be_bytes().to_vec();
        key.extend_from_slice(b"app-ak1");
        db.put(&key, b"\xff\x00 not a record").unwrap();
    }
    let vault = RocksDbVault::open(&path).await.unwrap();
    let read = vault.get("app-a", "k1").await;
    assert!(matches!(read, Err(VaultError::Corrupt { .. })), "{read:?}");
}
