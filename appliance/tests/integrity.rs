//! What reaches the disk: nothing secret in plaintext, and nothing altered goes unnoticed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Site;
use common::secrets::{assert_absent, derive, master_key};

/// Flips a bit in the middle of the value stored at `key` in family `family`.
fn flip_a_bit(site: &Site, family: &str, key: &[u8]) {
    let db = site.open_db();
    let cf = db.cf_handle(family).unwrap();
    let mut value = db.get_cf(cf, key).unwrap().unwrap();
    let middle = value.len() / 2;
    value[middle] ^= 0x40;
    db.put_cf(cf, key, value).unwrap();
}

/// A running, unsealed core whose audit log holds six records: 1 init, 2 unseal, 3..=6 status.
fn six_records() -> (Site, common::Core, Vec<String>) {
    let site = Site::new();
    let core = site.start();
    let shares = site.init(3, 2);
    site.unseal(&[&shares[0], &shares[1]]);
    for _ in 0..4 {
        site.ctl(&["status"]).success();
    }
    (site, core, shares)
}

#[test]
fn a_tampered_or_moved_audit_record_is_reported_and_never_served() {
    let (site, mut core, shares) = six_records();
    core.stop();

    flip_a_bit(&site, "audit", &4u64.to_be_bytes());
    {
        // A genuine sealed record copied over another: well formed, but bound to its own key.
        let db = site.open_db();
        let audit = db.cf_handle("audit").unwrap();
        let third = db.get_cf(audit, 3u64.to_be_bytes()).unwrap().unwrap();
        db.put_cf(audit, 6u64.to_be_bytes(), third).unwrap();
    }

    let _core = site.start();
    site.unseal(&[&shares[2], &shares[0]]);
    let out = site
        .ctl(&["--json", "audit", "tail", "--from", "1"])
        .fails_with(7);
    assert_eq!(out.json_error()["reason"], "tampered-record");
    let message = out.json_error()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("record 0x0000000000000004 in audit"),
        "{message}"
    );
    assert!(
        !out.stdout().contains("status"),
        "nothing of the read is served"
    );

    let out = site
        .ctl(&["--json", "audit", "tail", "--from", "5", "--limit", "2"])
        .fails_with(7);
    assert!(
        out.stderr().contains("0x0000000000000006"),
        "the moved record is caught too: {}",
        out.stderr()
    );

    // The intact records around them are still served.
    let before = site
        .ctl(&["--json", "audit", "tail", "--from", "1", "--limit", "3"])
        .success()
        .json();
    assert_eq!(before["records"].as_array().unwrap().len(), 3);
    let after = site
        .ctl(&["--json", "audit", "tail", "--from", "7"])
        .success()
        .json();
    assert_eq!(after["records"][0]["operation"], "unseal");
}

#[test]
fn audit_verify_finds_a_clean_log_intact_and_names_a_deleted_record_and_a_cut_tail() {
    let (site, mut core, shares) = six_records();
    let clean = site.ctl(&["--json", "audit", "verify"]).success().json();
    assert_eq!(clean["intact"], true, "{clean}");
    assert_eq!(clean["first_sequence"], 1, "{clean}");
    assert_eq!(clean["last_sequence"], 6, "{clean}");
    // The verification is audited (record 7), and the next one walks it.
    let text = site.ctl(&["audit", "verify"]).success().stdout();
    assert!(text.contains("audit log intact: records 1 to 7"), "{text}");
    core.stop();

    // With the core down, a record deleted in the middle and the last two cut off.
    {
        let db = site.open_db();
        let audit = db.cf_handle("audit").unwrap();
        for sequence in [3u64, 7, 8] {
            db.delete_cf(audit, sequence.to_be_bytes()).unwrap();
        }
    }
    let _core = site.start();
    // The unseal numbers on after the checkpoint (record 9): the cut stays visible.
    site.unseal(&[&shares[2], &shares[0]]);
    let out = site.ctl(&["--json", "audit", "verify"]).fails_with(7);
    assert_eq!(out.json_error()["reason"], "tampered-record");
    let message = out.json_error()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("at record 3: missing"), "{message}");
    let out = site.ctl(&["audit", "verify", "--from", "4"]).fails_with(7);
    assert!(
        out.stderr().contains("at record 7: missing"),
        "{}",
        out.stderr()
    );
    let after = site
        .ctl(&["--json", "audit", "tail", "--from", "9", "--limit", "1"])
        .success()
        .json();
    assert_eq!(after["records"][0]["operation"], "unseal", "{after}");
}

#[test]
fn an_edited_install_record_keeps_the_core_sealed() {
    let site = Site::new();
    let mut core = site.start();
    let shares = site.init(3, 2);
    core.stop();
    site.edit_install_record(|fields| {
        *common::secrets::field(fields, "shares") = ciborium::Value::Integer(9.into());
    });

    let _core = site.start();
    site.unseal(&[&shares[0]]);
    let out = site
        .ctl_with_stdin(&["--json", "unseal", "--share-file", "-"], &shares[1])
        .fails_with(7);
    assert_eq!(out.json_error()["reason"], "tampered-record");
    assert!(
        out.stderr().contains("installation in meta"),
        "{}",
        out.stderr()
    );
    assert_eq!(site.state(), "sealed");
}

#[test]
fn no_key_or_share_reaches_the_disk_in_plaintext() {
    let site = Site::new();
    let mut core = site.start();
    let shares = site.init(5, 3);
    workload(&site, &shares, 0);
    // Killed, the records are in the write-ahead log only. Taken before the database is
    // opened here, which would replay that log into a table file.
    core.kill9();
    let killed = common::files_under(&site.data_dir());
    let secrets = secrets(&site, &shares);
    assert_absent(&killed, &secrets, &[".log", "MANIFEST-", "OPTIONS-", "LOG"]);

    let mut core = site.start();
    workload(&site, &shares, 1);
    // Stopped cleanly, the memtables are flushed to table files too.
    core.stop();
    let stopped = common::files_under(&site.data_dir());
    assert_absent(
        &stopped,
        &secrets,
        &[".sst", "MANIFEST-", "OPTIONS-", "LOG"],
    );
}

/// Unseals with shares `first..first + 3`, reads and audits, and seals again, twice.
fn workload(site: &Site, shares: &[String], first: usize) {
    for _ in 0..2 {
        site.unseal(&[&shares[first], &shares[first + 1], &shares[first + 2]]);
        for _ in 0..40 {
            site.ctl(&["status"]).success();
        }
        site.ctl(&["audit", "tail", "--limit", "100"]).success();
        site.ctl(&["seal"]).success();
    }
}

/// The master key, the keys derived from it, and every share in both its printed and its
/// compact form.
fn secrets(site: &Site, shares: &[String]) -> Vec<(String, Vec<u8>)> {
    let master = master_key(&site.open_db(), &shares[..3]);
    let mut secrets: Vec<(String, Vec<u8>)> = vec![("master key".into(), master.to_vec())];
    for label in ["krypton/v1/record-seal", "krypton/v1/metadata-mac"] {
        secrets.push((label.into(), derive(&master, label.as_bytes()).to_vec()));
    }
    for (index, share) in shares.iter().enumerate() {
        secrets.push((format!("share {}", index + 1), share.clone().into_bytes()));
        let compact: String = share.split_whitespace().collect();
        secrets.push((format!("share {} compact", index + 1), compact.into_bytes()));
    }
    secrets
}
