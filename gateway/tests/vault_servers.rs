//! What the shared vaults promise beyond the conformance suite, against real PostgreSQL and
//! Redis servers: records copied or moved into place are refused, a server killed during
//! Creates loses no acknowledged key, Creates fail closed while it is gone, and the vault
//! recovers by itself when it returns.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::records::record;
use kmip::DateTime;
use krypton_dev::vault_server::{AppendFsync, Crashable, PostgresServer, RedisServer};
use krypton_gateway::{
    ClientCertificate, Filter, PostgresVault, RedisVault, ServerVaultConfig, Vault, VaultError,
};
use krypton_service::secret_file::SecretSource;

/// How long a vault waits for its server in these tests: short, so an outage shows quickly.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How many keys are acknowledged before the server is killed.
const ACKNOWLEDGED_BEFORE_KILL: usize = 200;
/// The longest any wait of these tests may take.
const LIMIT: Duration = Duration::from_secs(60);

fn settings(url: String, password: &std::path::Path) -> ServerVaultConfig {
    let mut settings = ServerVaultConfig::new(url);
    settings.password = Some(SecretSource::File(password.to_owned()));
    settings.connect_timeout = TIMEOUT;
    settings.request_timeout = TIMEOUT;
    settings.pool_size = 4;
    settings
}

// ---- Records moved or copied into place ------------------------------------------------------

/// Where app-a's `k1` is copied: another owner's place, and another id of its owner.
const COPIES: [(&str, &str); 2] = [("app-b", "k1"), ("app-a", "k2")];

async fn misplaced_records_are_refused<V: Vault>(vault: &V) {
    assert_eq!(
        vault.get("app-a", "k1").await.unwrap(),
        Some(record("app-a", "k1", &["copied"]))
    );
    for (owner, id) in COPIES {
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
    let located = vault
        .locate("app-b", &Filter::new(vec![], None, DateTime(0)), 10)
        .await;
    assert!(
        matches!(located, Err(VaultError::Misplaced { .. })),
        "{located:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_vault_refuses_misplaced_records() {
    let server = tokio::task::block_in_place(|| PostgresServer::shared().unwrap());
    let database = tokio::task::block_in_place(|| server.create_database().unwrap());
    let vault = PostgresVault::connect(&settings(server.url(&database), server.password_file()))
        .await
        .unwrap();
    vault
        .create(record("app-a", "k1", &["copied"]))
        .await
        .unwrap();
    for (owner, id) in COPIES {
        server
            .psql(
                &database,
                &format!(
                    "INSERT INTO krypton_vault_records (owner, id, record) SELECT '{owner}', \
                     '{id}', record FROM krypton_vault_records WHERE owner = 'app-a' AND id = 'k1'"
                ),
            )
            .unwrap();
    }
    misplaced_records_are_refused(&vault).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_vault_refuses_misplaced_records() {
    let server = tokio::task::block_in_place(|| RedisServer::shared().unwrap());
    let mut settings = settings(server.url(), server.password_file());
    settings.key_prefix = server.key_prefix();
    let vault = RedisVault::connect(&settings).await.unwrap();
    vault
        .create(record("app-a", "k1", &["copied"]))
        .await
        .unwrap();
    // Copy the record's hash, as it is, under the other places, and list it in the owner's
    // index, through Redis itself.
    let password = std::fs::read_to_string(server.password_file()).unwrap();
    let info = redis::IntoConnectionInfo::into_connection_info(server.url()).unwrap();
    let info = info
        .clone()
        .set_redis_settings(info.redis_settings().clone().set_password(password));
    let mut redis = redis::Client::open(info)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = |kind: &str, owner: &str, id: &str| {
        let mut key = settings.key_prefix.as_bytes().to_vec();
        key.extend_from_slice(kind.as_bytes());
        key.extend_from_slice(&u32::try_from(owner.len()).unwrap().to_be_bytes());
        key.extend_from_slice(owner.as_bytes());
        key.extend_from_slice(id.as_bytes());
        key
    };
    for (owner, id) in COPIES {
        let copied: i64 = redis::cmd("COPY")
            .arg(key("r:", "app-a", "k1"))
            .arg(key("r:", owner, id))
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(copied, 1);
        let _: i64 = redis::cmd("ZADD")
            .arg(key("o:", owner, ""))
            .arg(0)
            .arg(id)
            .query_async(&mut redis)
            .await
            .unwrap();
    }
    misplaced_records_are_refused(&vault).await;
}

// ---- The server killed and back ----------------------------------------------------------------

/// Creates keys from several tasks, kills the server (SIGKILL, its whole process group) once
/// `ACKNOWLEDGED_BEFORE_KILL` are acknowledged, checks that Creates then fail closed, starts it
/// again, and checks that the same vault serves every acknowledged key.
async fn acknowledged_creates_survive_a_kill<V: Vault, S: Crashable>(vault: V, server: &mut S) {
    let vault = Arc::new(vault);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (vault, acknowledged, stop) = (
                Arc::clone(&vault),
                Arc::clone(&acknowledged),
                Arc::clone(&stop),
            );
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Acquire) {
                    let id = format!("w{writer}-{n}");
                    n += 1;
                    // Failures are expected once the server is gone; only successes count.
                    if vault.create(record("app-a", &id, &[])).await.is_ok() {
                        acknowledged.lock().unwrap().push(id);
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < ACKNOWLEDGED_BEFORE_KILL {
        assert!(started.elapsed() < LIMIT, "too few Creates acknowledged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::task::block_in_place(|| server.kill()).unwrap();

    // While the server is gone, a Create fails, within the vault's bound, and stores nothing.
    let refused = vault.create(record("app-a", "during-outage", &[])).await;
    assert!(
        matches!(refused, Err(VaultError::Storage { .. })),
        "{refused:?}"
    );
    stop.store(true, Ordering::Release);
    for writer in writers {
        writer.await.unwrap();
    }

    tokio::task::block_in_place(|| server.restart()).unwrap();
    // The vault reconnects by itself: no new vault, no restart of the gateway.
    let started = Instant::now();
    while vault.get("app-a", "w0-0").await.is_err() {
        assert!(started.elapsed() < LIMIT, "the vault did not reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= ACKNOWLEDGED_BEFORE_KILL);
    for id in &acknowledged {
        assert_eq!(
            vault.get("app-a", id).await.unwrap(),
            Some(record("app-a", id, &[])),
            "acknowledged key {id} lost"
        );
    }
    assert_eq!(vault.get("app-a", "during-outage").await.unwrap(), None);
    vault
        .create(record("app-a", "after-restart", &[]))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_postgres_loses_no_acknowledged_create() {
    let mut server = tokio::task::block_in_place(|| PostgresServer::start().unwrap());
    let database = tokio::task::block_in_place(|| server.create_database().unwrap());
    let vault = PostgresVault::connect(&settings(server.url(&database), server.password_file()))
        .await
        .unwrap();
    acknowledged_creates_survive_a_kill(vault, &mut server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_with_appendfsync_always_loses_no_acknowledged_create() {
    let mut server =
        tokio::task::block_in_place(|| RedisServer::start(AppendFsync::Always).unwrap());
    let vault = RedisVault::connect(&settings(server.url(), server.password_file()))
        .await
        .unwrap();
    acknowledged_creates_survive_a_kill(vault, &mut server).await;
}

// ---- TLS to the server ---------------------------------------------------------------------------

/// The gateway's setting for the client certificate a TLS test server issued.
fn client_certificate(files: Option<krypton_dev::pki::CertFiles>) -> ClientCertificate {
    let files = files.unwrap();
    ClientCertificate {
        cert_chain: files.cert,
        private_key: files.key,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_vault_speaks_tls_to_a_server_it_verifies() {
    let server = tokio::task::block_in_place(|| PostgresServer::start_with_tls().unwrap());
    let database = tokio::task::block_in_place(|| server.create_database().unwrap());
    // By name, as the certificate says: the name is verified too.
    let url = format!(
        "postgres://krypton@localhost:{}/{database}",
        server.addr().port()
    );
    let mut settings = settings(url, server.password_file());
    settings.server_ca = Some(server.ca().unwrap().to_owned());
    // The server asks for a client certificate: without one, no session.
    let refused = PostgresVault::connect(&settings).await;
    assert!(
        matches!(refused, Err(VaultError::Storage { .. })),
        "{refused:?}"
    );
    settings.client_certificate = Some(client_certificate(server.client_certificate()));
    let vault = PostgresVault::connect(&settings).await.unwrap();
    vault.create(record("app-a", "k1", &[])).await.unwrap();
    assert!(vault.get("app-a", "k1").await.unwrap().is_some());
    // The server sees the vault's sessions encrypted.
    let encrypted = tokio::task::block_in_place(|| {
        server
            .psql(
                &database,
                "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE s.ssl AND a.application_name = 'krypton-gateway'",
            )
            .unwrap()
    });
    assert_ne!(encrypted.trim(), "0", "no TLS session of the vault");

    // A server whose certificate does not chain to the configured CA is not talked to.
    let other = tempfile::TempDir::new().unwrap();
    let other_ca = other.path().join("other-ca.pem");
    let ca = krypton_dev::pki::Ca::new("another CA").unwrap();
    std::fs::write(&other_ca, ca.pem()).unwrap();
    settings.server_ca = Some(other_ca);
    let refused = PostgresVault::connect(&settings).await;
    assert!(
        matches!(refused, Err(VaultError::Storage { .. })),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_vault_speaks_tls_to_a_server_it_verifies() {
    let server =
        tokio::task::block_in_place(|| RedisServer::start_with_tls(AppendFsync::EverySec).unwrap());
    let mut settings = settings(server.tls_url().unwrap(), server.password_file());
    settings.server_ca = Some(server.ca().unwrap().to_owned());
    // The server asks for a client certificate: without one, no session.
    let refused = RedisVault::connect(&settings).await;
    assert!(
        matches!(refused, Err(VaultError::Storage { .. })),
        "{refused:?}"
    );
    settings.client_certificate = Some(client_certificate(server.client_certificate()));
    let vault = RedisVault::connect(&settings).await.unwrap();
    vault.create(record("app-a", "k1", &[])).await.unwrap();
    assert_eq!(
        vault.get("app-a", "k1").await.unwrap(),
        Some(record("app-a", "k1", &[]))
    );

    // A server whose certificate does not chain to the configured CA is not talked to.
    let other = tempfile::TempDir::new().unwrap();
    let other_ca = other.path().join("other-ca.pem");
    let ca = krypton_dev::pki::Ca::new("another CA").unwrap();
    std::fs::write(&other_ca, ca.pem()).unwrap();
    settings.server_ca = Some(other_ca);
    let refused = RedisVault::connect(&settings).await;
    assert!(
        matches!(refused, Err(VaultError::Storage { .. })),
        "{refused:?}"
    );
}
