//! The real `kryptonctl` binary where no core answers: what it settles on this side of the socket
//! (usage, shares, share files) and how it reports a core it cannot reach. Its conversations
//! with a core are appliance/tests' (ceremony, hierarchy, integrity).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Runs `kryptonctl --json --socket <socket> args...` with `stdin` as its standard input.
fn kryptonctl(socket: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kryptonctl"))
        .arg("--json")
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Asserts that `out` failed with exit code `code` and one JSON error line on stderr, and
/// returns that error.
fn failed_with(out: &Output, code: i32) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    serde_json::from_str::<Value>(&stderr).unwrap()["error"].clone()
}

/// Reads an HTTP/2 client's preface and frames until the first request's HEADERS frame, then
/// drops the connection unanswered.
fn drop_at_first_request(mut connection: UnixStream) {
    const PREFACE_LEN: usize = 24;
    const HEADERS: u8 = 0x1;
    let mut preface = [0u8; PREFACE_LEN];
    if connection.read_exact(&mut preface).is_err() {
        return;
    }
    // Each frame: a 24-bit length, its type, flags and stream id, then the payload.
    let mut header = [0u8; 9];
    while connection.read_exact(&mut header).is_ok() && header[3] != HEADERS {
        let length = u64::from(u32::from_be_bytes([0, header[0], header[1], header[2]]));
        if std::io::copy(&mut (&connection).take(length), &mut std::io::sink()).is_err() {
            return;
        }
    }
}

/// One share of a fresh 2-of-3 split, as a custodian would have it.
fn a_share() -> String {
    shamir::split(&[7u8; 32], 2, 3).unwrap().shares[0].to_string()
}

#[test]
fn an_unreachable_core_has_its_own_exit_code_and_the_socket_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let error = failed_with(&kryptonctl(&socket, &["status"], ""), 3);
    assert_eq!(error["reason"], "unreachable");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("cannot reach the core on {}", socket.display())),
        "{message}"
    );
}

#[test]
fn a_connection_dropped_mid_request_is_unreachable_not_an_internal_error() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    // Not a core: it lets the HTTP/2 connection open and drops it when the request comes, as a
    // core that dies mid-request would.
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            drop_at_first_request(connection.unwrap());
        }
    });
    let error = failed_with(&kryptonctl(&socket, &["status"], ""), 3);
    assert_eq!(error["reason"], "unreachable");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("no usable answer from the core: "),
        "{message}"
    );
}

#[test]
fn a_mistyped_share_is_refused_before_the_core_is_contacted() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let share = a_share();
    // One character of group 6 changed: its check character no longer matches.
    let mut groups: Vec<String> = share.split_whitespace().map(str::to_owned).collect();
    let first = groups[5].remove(0);
    groups[5].insert(0, if first == 'A' { 'B' } else { 'A' });
    let mistyped = groups.join(" ");

    let out = kryptonctl(&socket, &["unseal", "--share-file", "-"], &mistyped);
    let error = failed_with(&out, 5);
    assert_eq!(error["reason"], "malformed-share");
    assert_eq!(error["share_group"], 6);

    // The same share typed right gets as far as the socket.
    let out = kryptonctl(&socket, &["unseal", "--share-file", "-"], &share);
    assert_eq!(failed_with(&out, 3)["reason"], "unreachable");
}

#[test]
fn a_share_file_that_cannot_be_a_share_is_a_local_error() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let missing = dir.path().join("no-such-share.txt");
    let out = kryptonctl(
        &socket,
        &["unseal", "--share-file", missing.to_str().unwrap()],
        "",
    );
    let error = failed_with(&out, 9);
    assert_eq!(error["reason"], "local");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("opening the share file"),
        "{error}"
    );

    let huge = "0".repeat(5000);
    let out = kryptonctl(&socket, &["unseal", "--share-file", "-"], &huge);
    let error = failed_with(&out, 9);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("larger than any share"),
        "{error}"
    );
}

#[test]
fn init_refuses_a_share_dir_that_already_holds_shares_before_the_core_is_contacted() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let shares = dir.path().join("shares");
    std::fs::create_dir(&shares).unwrap();
    std::fs::write(shares.join("share-2.txt"), "an earlier init's share\n").unwrap();

    let args = [
        "init",
        "--shares",
        "3",
        "--threshold",
        "2",
        "--share-dir",
        shares.to_str().unwrap(),
    ];
    let error = failed_with(&kryptonctl(&socket, &args, ""), 9);
    assert_eq!(error["reason"], "local");
    assert!(
        error["message"].as_str().unwrap().contains("share-2.txt"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(shares.join("share-2.txt")).unwrap(),
        "an earlier init's share\n",
        "an existing share file is never touched"
    );
}

#[test]
fn destroying_a_tenant_needs_its_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let out = kryptonctl(&socket, &["tenant", "unlink", "acme", "--destroy"], "");
    let error = failed_with(&out, 2);
    assert_eq!(error["reason"], "invalid-argument");
    assert!(
        error["message"].as_str().unwrap().contains("--yes"),
        "{error}"
    );
}

#[test]
fn help_lists_the_exit_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_kryptonctl"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("Exit codes:"), "{help}");
    for line in [
        "  3  the core cannot be reached on its control socket",
        " 13  the HSM refused or failed",
        " 15  doctor: at least one check failed",
    ] {
        assert!(help.contains(line), "{line:?} missing from:\n{help}");
    }
}

#[test]
fn doctor_help_points_to_the_gateway_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_kryptonctl"))
        .args(["doctor", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains("krypton-gateway check --config FILE"),
        "{help}"
    );
}

#[test]
fn doctor_without_a_core_is_unreachable_not_a_failed_check() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let error = failed_with(&kryptonctl(&socket, &["doctor"], ""), 3);
    assert_eq!(error["reason"], "unreachable");
}
