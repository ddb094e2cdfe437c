//! `krypton-gateway vault copy` as an operator runs it: between two gateway configurations'
//! RocksDB vaults, one line saying what was done; refused with one line and exit status 1 when
//! a vault is in memory, or in use by a running gateway.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::records::record;
use common::{MEMORY_VAULT, Pki, core_section, dead_address, gateway_toml, rocksdb_vault};
use krypton_gateway::{RocksDbVault, Vault};

fn config(pki: &Pki, name: &str, vault: &str) -> std::path::PathBuf {
    let path = pki.dir().join(format!("{name}.toml"));
    let toml = gateway_toml(
        pki,
        "127.0.0.1:0",
        "",
        &core_section(pki, &dead_address()),
        vault,
    );
    fs::write(&path, toml).unwrap();
    path
}

fn copy(from: &Path, to: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_krypton-gateway"))
        .args(["vault", "copy", "--from"])
        .arg(from)
        .arg("--to")
        .arg(to)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_move_between_rocksdb_vaults_and_bad_requests_get_one_line() {
    let pki = Pki::new();
    let (old, new) = (pki.dir().join("old"), pki.dir().join("new"));
    let records: Vec<_> = (0..5)
        .map(|n| record("app-a", &format!("k{n}"), &["moving"]))
        .collect();
    {
        let vault = RocksDbVault::open(&old).await.unwrap();
        for record in &records {
            vault.create(record.clone()).await.unwrap();
        }
    }
    let (from, to) = (
        config(&pki, "old", &rocksdb_vault(&old)),
        config(&pki, "new", &rocksdb_vault(&new)),
    );
    let memory = config(&pki, "memory", MEMORY_VAULT);

    let done = tokio::task::spawn_blocking({
        let (from, to) = (from.clone(), to.clone());
        move || copy(&from, &to)
    })
    .await
    .unwrap();
    assert!(done.status.success(), "{done:?}");
    assert_eq!(
        String::from_utf8_lossy(&done.stdout),
        "vault copied: 5 records written, 0 already there, 5 verified\n"
    );
    {
        let vault = RocksDbVault::open(&new).await.unwrap();
        for record in &records {
            assert_eq!(
                vault.get(&record.owner, &record.id).await.unwrap().as_ref(),
                Some(record)
            );
        }
    }

    // The source held by a running gateway (here: this process), and a memory vault.
    let held = RocksDbVault::open(&old).await.unwrap();
    for (from, to, names) in [
        (&from, &to, "source vault"),
        (&memory, &to, "memory vault"),
        (&to, &memory, "memory vault"),
    ] {
        let refused = tokio::task::spawn_blocking({
            let (from, to) = (from.clone(), to.clone());
            move || copy(&from, &to)
        })
        .await
        .unwrap();
        assert_eq!(refused.status.code(), Some(1), "{refused:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("krypton-gateway vault copy: ") && stderr.contains(names),
            "{stderr}"
        );
    }
    drop(held);
}
