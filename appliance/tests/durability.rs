//! `kill -9` during a stream of writes loses no write that was acknowledged.
//!
//! The writes are audit records: every control call served while unsealed appends one, sealed
//! and synced, and its response carries the record's sequence number. That number is the
//! acknowledgement; after the kill, every acknowledged number must be in the log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::Site;
use krypton_control_api::v1;

/// Concurrent writers, so that RocksDB groups their commits.
const WRITERS: usize = 4;
/// Acknowledged writes to wait for before the kill.
const ACKNOWLEDGED_BEFORE_KILL: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_write() {
    let site = Site::new();
    let mut core = site.start();
    let shares = site.init(3, 2);
    site.unseal(&[&shares[0], &shares[1]]);

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        let mut client = site.client().await;
        let acknowledged = Arc::clone(&acknowledged);
        writers.push(tokio::spawn(async move {
            // Runs until the core dies under it.
            while let Ok(response) = client.status(v1::StatusRequest {}).await {
                let sequence = response.into_inner().audit_sequence.unwrap();
                acknowledged.lock().unwrap().push(sequence);
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < ACKNOWLEDGED_BEFORE_KILL {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    core.kill9();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= ACKNOWLEDGED_BEFORE_KILL);

    let _core = site.start();
    site.unseal(&[&shares[2], &shares[1]]);
    let logged = read_whole_log(&site).await;
    for sequence in &acknowledged {
        assert_eq!(
            logged.get(sequence).map(String::as_str),
            Some("status"),
            "acknowledged write {sequence} is missing after kill -9 ({} acknowledged)",
            acknowledged.len()
        );
    }
}

/// Every record of the audit log, by sequence number.
async fn read_whole_log(site: &Site) -> BTreeMap<u64, String> {
    let mut client = site.client().await;
    let mut logged = BTreeMap::new();
    let mut from = 1;
    loop {
        let page = client
            .audit_log(v1::AuditLogRequest {
                from_sequence: Some(from),
                limit: 1000,
                filter: None,
            })
            .await
            .unwrap()
            .into_inner();
        let complete = page.records.len() < 1000;
        if let Some(last) = page.records.last() {
            from = last.sequence + 1;
        }
        for record in page.records {
            logged.insert(record.sequence, record.operation);
        }
        // Each read appends its own record: a short page is the end.
        if complete {
            return logged;
        }
    }
}
