//! The init and unseal ceremony, driven through the real binaries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::Site;
use krypton_control_api::{self as control, v1};

#[test]
fn init_three_of_five_then_unseal_with_every_three_in_every_order() {
    let site = Site::new();
    let mut core = site.start();
    assert_eq!(site.state(), "uninitialized");
    let shares = site.init(5, 3);
    assert_eq!(shares.len(), 5);
    assert_eq!(site.state(), "sealed", "init leaves the core sealed");

    // A restart changes nothing: every start begins sealed.
    core.stop();
    let _core = site.start();
    let status = site.ctl(&["--json", "status"]).success().json();
    assert_eq!(status["state"], "sealed");
    assert_eq!(status["installation"]["threshold"], 3);
    assert_eq!(status["installation"]["shares"], 5);

    let mut sets: Vec<[usize; 3]> = Vec::new();
    for a in 0..5 {
        for b in a + 1..5 {
            for c in b + 1..5 {
                sets.push([a, b, c]);
            }
        }
    }
    // Every order of one set too.
    sets.extend([[4, 0, 2], [4, 2, 0], [0, 4, 2], [2, 4, 0], [2, 0, 4]]);
    for set in sets {
        let first = site
            .ctl_with_stdin(&["--json", "unseal", "--share-file", "-"], &shares[set[0]])
            .success()
            .json();
        assert_eq!(first["state"], "unsealing");
        assert_eq!(first["progress"]["received"], 1);
        assert_eq!(first["progress"]["threshold"], 3);
        let progress = site.ctl(&["--json", "status"]).success().json();
        assert_eq!(progress["state"], "unsealing");
        assert_eq!(progress["progress"]["received"], 1);

        let last = site.unseal(&[&shares[set[1]], &shares[set[2]]]).json();
        assert_eq!(last["state"], "unsealed", "set {set:?}");
        assert!(last["audit_sequence"].as_u64().is_some());
        site.ctl(&["seal"]).success();
        assert_eq!(site.state(), "sealed");
    }
}

#[test]
fn init_writes_share_files_owner_only_and_refuses_a_second_init() {
    let site = Site::new();
    let _core = site.start();
    let share_dir = site.path("shares");
    let out = site
        .ctl(&[
            "init",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--share-dir",
            share_dir.to_str().unwrap(),
        ])
        .success();
    assert!(out.stdout().contains("WARNING"), "{}", out.stdout());
    for index in 1..=3 {
        let file = share_dir.join(format!("share-{index}.txt"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        // The printed text is not the share: only the files are.
        let share = std::fs::read_to_string(&file).unwrap();
        assert!(!out.stdout().contains(share.trim()));
    }
    for file in ["share-1.txt", "share-3.txt"] {
        site.ctl(&[
            "unseal",
            "--share-file",
            share_dir.join(file).to_str().unwrap(),
        ])
        .success();
    }
    assert_eq!(site.state(), "unsealed");

    let again = site
        .ctl(&["--json", "init", "--shares", "3", "--threshold", "2"])
        .fails_with(4);
    assert_eq!(again.json_error()["reason"], "already-initialized");
    // Share files are never overwritten, and the check happens before the core is asked.
    let overwrite = site
        .ctl(&[
            "init",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--share-dir",
            share_dir.to_str().unwrap(),
        ])
        .fails_with(9);
    assert!(
        overwrite.stderr().contains("already exists"),
        "{}",
        overwrite.stderr()
    );
}

#[test]
fn bad_shares_are_refused_with_their_own_messages_and_not_counted() {
    let site = Site::new();
    let _core = site.start();
    let shares = site.init(5, 3);
    let other_site = Site::new();
    let _other_core = other_site.start();
    let foreign = other_site.init(5, 3);

    site.unseal(&[&shares[0]]);

    // Mistyped: caught by kryptonctl, naming the group, never sent.
    let mistyped = mistype(&shares[1], 4);
    let out = site
        .ctl_with_stdin(&["--json", "unseal", "--share-file", "-"], &mistyped)
        .fails_with(5);
    assert_eq!(out.json_error()["reason"], "malformed-share");
    assert_eq!(out.json_error()["share_group"], 4);
    let out = site
        .ctl_with_stdin(&["unseal", "--share-file", "-"], &mistyped)
        .fails_with(5);
    assert!(out.stderr().contains("group 4"), "{}", out.stderr());

    // Entered twice.
    let out = site
        .ctl_with_stdin(&["--json", "unseal", "--share-file", "-"], &shares[0])
        .fails_with(5);
    assert_eq!(out.json_error()["reason"], "duplicate-share");

    // Another installation's share.
    let out = site
        .ctl_with_stdin(&["--json", "unseal", "--share-file", "-"], &foreign[1])
        .fails_with(5);
    assert_eq!(out.json_error()["reason"], "foreign-share");
    assert!(
        out.json_error()["message"]
            .as_str()
            .unwrap()
            .contains("does not belong to this installation"),
        "{}",
        out.stderr()
    );

    // None of them counted.
    let status = site.ctl(&["--json", "status"]).success().json();
    assert_eq!(status["progress"]["received"], 1);

    // Two good shares finish the job.
    let done = site.unseal(&[&shares[3], &shares[1]]).json();
    assert_eq!(done["state"], "unsealed");

    // The audit log has it all now: who gave which share, and each share refused while
    // sealed, never a share's text.
    let tail = site
        .ctl(&["--json", "audit", "tail", "--from", "2"])
        .success()
        .json();
    let records = tail["records"].as_array().unwrap();
    let uid = nix::unistd::geteuid().as_raw();
    assert_eq!(records[0]["operation"], "unseal", "{tail}");
    let subject = records[0]["subject"].as_str().unwrap();
    for index in [1, 4, 2] {
        assert!(
            subject.contains(&format!("share {index} (uid={uid} pid=")),
            "{subject}"
        );
    }
    let refused: Vec<&str> = records[1..]
        .iter()
        .filter(|r| r["operation"] == "unseal-share-refused")
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(refused.len(), 2, "{tail}");
    assert!(refused[0].starts_with("share 1: "), "{refused:?}");
    assert!(refused[1].starts_with("share 2: "), "{refused:?}");
    let log = tail.to_string();
    for share in shares.iter().chain(&foreign) {
        let share = share.trim();
        let text = &share[share.len() - 12..];
        assert!(!log.contains(text), "share material in the log");
    }
}

#[tokio::test]
async fn the_core_refuses_a_mistyped_share_itself_naming_the_group() {
    let site = Site::new();
    let _core = site.start();
    let shares = site.init(3, 2);
    let mut client = site.client().await;
    let status = client
        .unseal(v1::UnsealRequest {
            share: mistype(&shares[0], 7),
        })
        .await
        .unwrap_err();
    let detail = control::error_detail(&status).unwrap();
    assert_eq!(detail.reason(), v1::ErrorReason::MalformedShare);
    assert_eq!(detail.share_group, Some(7));
    assert!(status.message().contains("group 7"), "{}", status.message());
    let status = client
        .status(v1::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.state(), v1::State::Sealed);
}

#[tokio::test]
async fn an_oversized_request_is_refused_before_it_is_decoded() {
    // The default limit is 64 KiB.
    let site = Site::new();
    let _core = site.start();
    site.init(3, 2);
    let mut client = site.client().await;
    let status = client
        .unseal(v1::UnsealRequest {
            share: "A".repeat(100 * 1024),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    let status = client
        .status(v1::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.state(), v1::State::Sealed);
}

#[test]
fn a_share_set_that_does_not_rebuild_the_key_leaves_the_core_sealed() {
    let site = Site::new();
    let mut core = site.start();
    let shares = site.init(3, 2);
    core.stop();
    forge_key_check(&site);
    let _core = site.start();

    site.unseal(&[&shares[0]]);
    let out = site
        .ctl_with_stdin(&["--json", "unseal", "--share-file", "-"], &shares[1])
        .fails_with(6);
    assert_eq!(out.json_error()["reason"], "wrong-shares");
    let out = site
        .ctl_with_stdin(&["unseal", "--share-file", "-"], &shares[2])
        .success();
    assert!(
        out.stdout().contains("1/2"),
        "the failed attempt was forgotten: {}",
        out.stdout()
    );
    assert_eq!(site.state(), "unsealing");
}

#[test]
fn sealed_core_refuses_key_operations_but_answers_status() {
    let site = Site::new();
    let _core = site.start();
    let out = site.ctl(&["--json", "audit", "tail"]).fails_with(4);
    assert_eq!(out.json_error()["reason"], "uninitialized");
    let out = site.ctl(&["seal"]).fails_with(4);
    assert!(out.stderr().contains("not initialized"), "{}", out.stderr());

    let shares = site.init(3, 2);
    let out = site.ctl(&["--json", "audit", "tail"]).fails_with(4);
    assert_eq!(out.json_error()["reason"], "sealed");
    let out = site.ctl(&["seal"]).fails_with(4);
    assert!(out.stderr().contains("sealed"), "{}", out.stderr());
    assert_eq!(site.state(), "sealed");

    site.unseal(&[&shares[0], &shares[1]]);
    let out = site
        .ctl_with_stdin(&["--json", "unseal", "--share-file", "-"], &shares[2])
        .fails_with(4);
    assert_eq!(out.json_error()["reason"], "already-unsealed");
}

#[test]
fn unseal_progress_can_be_reset_and_expires() {
    let site = Site::with_config("\n[unseal]\nprogress_timeout_secs = 1\n");
    let _core = site.start();
    let shares = site.init(3, 2);

    site.unseal(&[&shares[0]]);
    let reset = site.ctl(&["--json", "unseal", "--reset"]).success().json();
    assert_eq!(reset["discarded"], 1);
    assert_eq!(site.state(), "sealed");

    site.unseal(&[&shares[0]]);
    // Past the deadline (and past the sweeper's tick), the share is forgotten.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(site.state(), "sealed");
    let restarted = site.unseal(&[&shares[1]]).json();
    assert_eq!(restarted["state"], "unsealing");
    assert_eq!(restarted["progress"]["received"], 1);

    // Once unsealed, the audit log tells both abandoned attempts, after the unseal.
    site.unseal(&[&shares[2]]);
    let tail = site
        .ctl(&["--json", "audit", "tail", "--from", "2"])
        .success()
        .json();
    let operations: Vec<&str> = tail["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        operations[..5],
        [
            "unseal",
            "unseal-share-abandoned",
            "unseal-reset",
            "unseal-share-abandoned",
            "unseal-expired"
        ],
        "{tail}"
    );
}

#[test]
fn data_survives_restart_and_the_audit_log_names_each_operation() {
    let site = Site::new();
    let mut core = site.start();
    let shares = site.init(3, 2);
    site.unseal(&[&shares[0], &shares[2]]);
    let status = site.ctl(&["--json", "status"]).success().json();
    let status_sequence = status["audit_sequence"].as_u64().unwrap();
    core.stop();

    let core = site.start();
    site.unseal(&[&shares[1], &shares[2]]);
    let tail = site
        .ctl(&["--json", "audit", "tail", "--from", "1"])
        .success()
        .json();
    let records = tail["records"].as_array().unwrap();
    let operations: Vec<&str> = records
        .iter()
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    assert_eq!(operations, ["init", "unseal", "status", "unseal"]);
    assert_eq!(records[2]["sequence"].as_u64(), Some(status_sequence));
    let uid = nix::unistd::geteuid().as_raw();
    assert!(
        records[0]["caller"]
            .as_str()
            .unwrap()
            .starts_with(&format!("uid={uid} pid=")),
        "{}",
        records[0]
    );
    // The read itself is audited, after what it returned.
    assert!(tail["audit_sequence"].as_u64().unwrap() > records[3]["sequence"].as_u64().unwrap());
    let human = site
        .ctl(&["audit", "tail", "--limit", "2"])
        .success()
        .stdout();
    assert_eq!(human.lines().count(), 2, "{human}");
    assert!(human.contains("audit-log"), "{human}");

    // Each record is also a log event of its own, with its fields (journal fields under
    // systemd).
    let log = core.log();
    let read = format!("audit_sequence={} ", tail["audit_sequence"]);
    let event = log
        .lines()
        .find(|line| line.contains("krypton_audit") && line.contains(&read))
        .unwrap_or_else(|| panic!("no audit event for the read: {log}"));
    assert!(event.contains("operation=\"audit-log\""), "{event}");
    assert!(event.contains(&format!("caller=uid={uid} pid=")), "{event}");
}

#[test]
fn refused_control_operations_are_recorded_with_why_even_while_sealed() {
    let site = Site::new();
    let mut core = site.start();
    let shares = site.init(3, 2);
    site.unseal(&[&shares[0], &shares[1]]);
    // No HSM is configured: a link is refused.
    let refused = site.ctl(&["tenant", "link", "acme", "--l1", "acme-l1"]);
    assert_ne!(refused.code(), 0);
    // Sealed, a service cannot be made: refused, and recorded at the next unseal.
    site.ctl(&["seal"]).success();
    let sealed = site.ctl(&["service", "create", "acme", "payments"]);
    assert_ne!(sealed.code(), 0);
    site.unseal(&[&shares[1], &shares[2]]);

    let refusals = site
        .ctl(&["--json", "audit", "tail", "--outcome", "refused"])
        .success()
        .json();
    let records = refusals["records"].as_array().unwrap();
    let by_operation = |operation: &str| {
        records
            .iter()
            .find(|r| r["operation"] == operation)
            .unwrap_or_else(|| panic!("no refused {operation}: {records:?}"))
    };
    let link = by_operation("tenant-link");
    assert_eq!(link["subject"], "acme", "{link}");
    assert_eq!(link["outcome"], "refused", "{link}");
    assert!(
        link["reason"].as_str().unwrap().contains("HSM"),
        "the reason says why: {link}"
    );
    let create = by_operation("service-create");
    assert_eq!(create["subject"], "acme/payments", "{create}");
    assert!(
        create["reason"].as_str().unwrap().contains("sealed"),
        "{create}"
    );
    // The done operations are not among the refused ones, and the log is whole.
    assert!(
        records.iter().all(|r| r["outcome"] == "refused"),
        "{records:?}"
    );
    let verified = site.ctl(&["--json", "audit", "verify"]).success().json();
    assert_eq!(verified["intact"], true, "{verified}");
    core.stop();
}

#[test]
fn audit_tail_filters_and_follows_until_the_core_seals() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    let site = Site::new();
    let _core = site.start();
    let shares = site.init(3, 2);
    site.unseal(&[&shares[0], &shares[1]]);
    site.ctl(&["status"]).success();
    let tail = |filter: &[&str]| {
        let args = [&["--json", "audit", "tail", "--from", "1"], filter].concat();
        let json = site.ctl(&args).success().json();
        let operations: Vec<String> = json["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["operation"].as_str().unwrap().to_owned())
            .collect();
        operations
    };
    assert_eq!(tail(&["--operation", "unseal"]), ["unseal"]);
    assert!(tail(&["--caller", "uid=4294967294"]).is_empty());
    assert!(tail(&["--tenant", "acme"]).is_empty());

    // Followed, filtered: each status as it is written, one JSON document per line.
    let mut follower = Command::new(common::kryptonctl())
        .arg("--socket")
        .arg(&site.socket)
        .args([
            "--json",
            "audit",
            "tail",
            "--follow",
            "--operation",
            "status",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, followed) = mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let first = followed.recv_timeout(Duration::from_secs(20)).unwrap();
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(
        first["operation"], "status",
        "the newest status first: {first}"
    );
    for _ in 0..2 {
        let status = site.ctl(&["--json", "status"]).success().json();
        let line = followed.recv_timeout(Duration::from_secs(20)).unwrap();
        let record: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(record["operation"], "status", "{record}");
        assert_eq!(record["sequence"], status["audit_sequence"], "{record}");
    }

    // Sealing ends the follow, with the sealed core's exit code.
    site.ctl(&["seal"]).success();
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = follower.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the follow outlived the seal");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exit.code(), Some(4));
}

#[test]
fn the_control_socket_is_owner_only_and_not_shared() {
    let site = Site::new();
    let _core = site.start();
    let mode = std::fs::metadata(&site.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A second core on the same data directory refuses to start: RocksDB's lock holds.
    let log = failed_start(&site.config);
    assert!(log.contains("LOCK"), "{log}");

    // A second core with its own data directory but the same socket refuses to start rather
    // than take the socket over.
    let other = Site::new();
    let config = std::fs::read_to_string(&other.config).unwrap().replace(
        &format!("socket = {:?}", other.socket),
        &format!("socket = {:?}", site.socket),
    );
    std::fs::write(&other.config, config).unwrap();
    let log = failed_start(&other.config);
    assert!(log.contains("in use by a running process"), "{log}");
    assert_eq!(site.state(), "uninitialized", "the first core still serves");
}

/// Runs krypton-core expecting it to refuse to start; returns its log.
fn failed_start(config: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_krypton-core"))
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn another_user_is_refused_by_the_socket_mode_and_by_the_core() {
    use std::os::unix::process::CommandExt;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: running a client as another user needs root");
        return;
    }
    let site = Site::new();
    let _core = site.start();
    let as_nobody = || {
        let out = std::process::Command::new(common::kryptonctl())
            .args(["--json", "--socket"])
            .arg(&site.socket)
            .arg("status")
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        common::Ctl(out)
    };
    // Let "nobody" reach the socket file: only its mode stands in the way.
    for dir in [site.path(""), site.path("run")] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    let out = as_nobody().fails_with(8);
    assert_eq!(out.json_error()["reason"], "permission-denied");
    assert!(
        out.stderr().contains("ermission denied"),
        "{}",
        out.stderr()
    );

    // Widened by mistake, the socket still serves only its owner and root.
    std::fs::set_permissions(&site.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = as_nobody().fails_with(8);
    assert_eq!(out.json_error()["reason"], "permission-denied");
    assert!(out.stderr().contains("uid=65534"), "{}", out.stderr());
    assert_eq!(site.state(), "uninitialized");
}

#[test]
fn unknown_configuration_keys_stop_the_core() {
    // A misspelt section is a mistake to stop on, not a section to ignore.
    let site = Site::with_config("\n[contrl]\nsocket = \"/run/krypton/other.sock\"\n");
    let log = failed_start(&site.config);
    assert!(log.contains("unknown field `contrl`"), "{log}");
}

/// `share` with one character of group `group` (1-based) changed.
fn mistype(share: &str, group: usize) -> String {
    let mut groups: Vec<String> = share.split_whitespace().map(str::to_owned).collect();
    let target = &mut groups[group - 1];
    let first = target.remove(0);
    target.insert(0, if first == 'A' { 'B' } else { 'A' });
    groups.join(" ")
}

/// Replaces the key-check tag in the stored install record with another, keeping the record
/// well formed: genuine shares then no longer verify, exactly as a wrong share set would not.
fn forge_key_check(site: &Site) {
    site.edit_install_record(|fields| {
        let key_check = common::secrets::field(fields, "key_check");
        let ciborium::Value::Array(bytes) = key_check else {
            panic!("key_check is not an array: {key_check:?}");
        };
        let last = bytes.last_mut().unwrap();
        let value = u8::try_from(last.as_integer().unwrap()).unwrap();
        *last = ciborium::Value::Integer((value ^ 0x01).into());
    });
}
