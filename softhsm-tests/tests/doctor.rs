//! `kryptonctl doctor` against real installations: the debug binaries (krypton-dev's `Stack`:
//! SoftHSM2 L1, core, gateway, mutual TLS), each test breaking one thing an operator could —
//! a certificate near or past its end, a private key others can read, an L1 deleted in the
//! HSM, a sealed core, a gateway's PostgreSQL vault stopped — and reading the line that names
//! it. The gateway's side is `krypton-gateway check`.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, ExitCode};
use std::time::{Duration, SystemTime};

use krypton_dev::pki::{self, Ca, SERVER_NAMES};
use krypton_dev::vault_server::{Crashable, PostgresServer};
use krypton_dev::{Stack, StackVault};
use krypton_softhsm_tests::binaries::debug_binary;
use krypton_softhsm_tests::suite::{self, Fixture, Test};
use serde_json::Value;

/// kryptonctl's exit code when a check fails.
const CHECKS_FAILED: i32 = 15;
const DAY: Duration = Duration::from_secs(24 * 3600);

const TESTS: [(&str, Test); 7] = [
    ("a_healthy_core_is_all_ok", a_healthy_core_is_all_ok),
    (
        "certificates_near_or_past_their_end_are_named",
        certificates_near_or_past_their_end_are_named,
    ),
    (
        "a_private_key_others_can_read_fails",
        a_private_key_others_can_read_fails,
    ),
    (
        "a_deleted_l1_fails_naming_its_tenant",
        a_deleted_l1_fails_naming_its_tenant,
    ),
    ("a_sealed_core_is_reported", a_sealed_core_is_reported),
    ("the_seal_hsm_is_checked", the_seal_hsm_is_checked),
    (
        "the_gateway_check_follows_its_postgres_vault",
        the_gateway_check_follows_its_postgres_vault,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

/// `kryptonctl doctor` on the stack's core, with `--json` or not: its exit code and stdout.
fn doctor(stack: &Stack, json: bool) -> (i32, String) {
    let mut command = Command::new(debug_binary("kryptonctl").unwrap());
    command.arg("--socket").arg(stack.core().ctl().socket());
    if json {
        command.arg("--json");
    }
    let out = command.arg("doctor").output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap(), stdout)
}

/// `krypton-gateway check` on the stack's gateway configuration: its exit code and stdout.
fn gateway_check(stack: &Stack) -> (i32, String) {
    let out = Command::new(debug_binary("krypton-gateway").unwrap())
        .arg("check")
        .arg("--config")
        .arg(stack.gateway_config("gateway"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap(), stdout)
}

/// The findings of `kryptonctl --json doctor`, as (check, level, message), and its exit code.
fn findings(stack: &Stack) -> (i32, Vec<(String, String, String)>) {
    let (code, stdout) = doctor(stack, true);
    let document: Value = serde_json::from_str(&stdout).unwrap();
    let findings = document["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            let field = |name: &str| finding[name].as_str().unwrap().to_owned();
            (field("check"), field("level"), field("message"))
        })
        .collect();
    (code, findings)
}

/// The one finding of `check`.
fn finding<'a>(
    findings: &'a [(String, String, String)],
    check: &str,
) -> &'a (String, String, String) {
    let mut of_check = findings.iter().filter(|(name, ..)| name == check);
    let found = of_check
        .next()
        .unwrap_or_else(|| panic!("no {check} in {findings:?}"));
    assert!(of_check.next().is_none(), "two {check} in {findings:?}");
    found
}

/// Replaces the core's KMIP server certificate (and key) with one that ends at `not_after`.
/// The running core keeps the one it loaded; the doctor reads the file.
fn replace_server_certificate(stack: &Stack, not_after: SystemTime) {
    let mut params = pki::server_params(&SERVER_NAMES).unwrap();
    params.not_before = (not_after - 90 * DAY).into();
    params.not_after = not_after.into();
    let files = &stack.pki().core_server;
    let dir = files.cert.parent().unwrap();
    let stem = files.cert.file_stem().unwrap().to_str().unwrap();
    Ca::new("doctor test CA")
        .unwrap()
        .issue(&params, dir, stem)
        .unwrap();
}

fn a_healthy_core_is_all_ok(fixture: &Fixture) {
    let stack = fixture.stack();
    let (code, findings) = findings(&stack);
    assert_eq!(code, 0, "{findings:?}");
    for (check, level, message) in &findings {
        // The test machine's clock may not be synchronised; that is a warning, not the core's.
        if check != "clock" {
            assert_eq!(level, "ok", "{check}: {message}");
        }
    }
    for check in [
        "state", "config", "data-dir", "hsm-pin", "tls", "tls-key", "tls-ca", "hsm", "clock",
    ] {
        finding(&findings, check);
    }
    let (code, text) = doctor(&stack, false);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("ok   hsm: the token answers, 1 L1s present\n"),
        "{text}"
    );
    assert!(
        text.contains("ok   state: unsealed; tenants linked: 1\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), findings.len(), "{text}");

    // The gateway's side, on its RocksDB vault: looked at, not opened (the gateway holds it).
    let (code, text) = gateway_check(&stack);
    assert_eq!(code, 0, "{text}");
    assert_failed_only(&text, &[]);
    assert!(!text.contains("warn "), "{text}");
    assert!(text.contains("\nok   core: "), "{text}");
}

fn certificates_near_or_past_their_end_are_named(fixture: &Fixture) {
    let stack = fixture.stack();
    let cert = stack.pki().core_server.cert.display().to_string();

    // Ten and a half days: "in 10 days" however long the doctor takes.
    replace_server_certificate(&stack, SystemTime::now() + 10 * DAY + DAY / 2);
    let (code, findings) = findings(&stack);
    // A warning alone does not fail the doctor.
    assert_eq!(code, 0, "{findings:?}");
    let (_, level, message) = finding(&findings, "tls");
    assert_eq!(level, "warning");
    assert!(
        message.starts_with(&format!("{cert}: CN=localhost expires ")),
        "{message}"
    );
    assert!(message.ends_with("(in 10 days)"), "{message}");

    replace_server_certificate(&stack, SystemTime::now() - DAY);
    let (code, text) = doctor(&stack, false);
    assert_eq!(code, CHECKS_FAILED, "{text}");
    let line = text
        .lines()
        .find(|line| line.starts_with("FAIL tls: "))
        .unwrap();
    assert!(
        line.starts_with(&format!("FAIL tls: {cert}: CN=localhost expired ")),
        "{text}"
    );
}

fn a_private_key_others_can_read_fails(fixture: &Fixture) {
    let stack = fixture.stack();
    let key = &stack.pki().core_server.key;
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, text) = doctor(&stack, false);
    assert_eq!(code, CHECKS_FAILED, "{text}");
    let expected = format!(
        "FAIL tls-key: {} has mode 0644: others must have no access",
        key.display()
    );
    assert!(
        text.lines().any(|line| line.starts_with(&expected)),
        "{text}"
    );
    assert_failed_only(&text, &["tls-key"]);
}

fn a_deleted_l1_fails_naming_its_tenant(fixture: &Fixture) {
    const L1: &str = "deleted-before-the-doctor";
    let stack = fixture.stack_with(fixture.new_l1(L1));
    fixture.delete_l1(L1);
    let (code, text) = doctor(&stack, false);
    assert_eq!(code, CHECKS_FAILED, "{text}");
    // The probe of the doctor, or the liveness watch before it, finds the L1 gone.
    let tenant = &stack.config().tenant;
    let line = text
        .lines()
        .find(|line| line.starts_with(&format!("FAIL tenant {tenant}: ")))
        .unwrap_or_else(|| panic!("no FAIL line for tenant {tenant}:\n{text}"));
    assert!(
        line.contains("the L1 key is not in the HSM token"),
        "{line}"
    );
    assert_failed_only(&text, &[&format!("tenant {tenant}")]);
}

fn a_sealed_core_is_reported(fixture: &Fixture) {
    let stack = fixture.stack();
    stack.core().ctl().seal().unwrap();
    let (code, text) = doctor(&stack, false);
    assert_eq!(code, CHECKS_FAILED, "{text}");
    assert!(
        text.contains("FAIL state: sealed: no key is served until K custodians unseal it\n"),
        "{text}"
    );
    // What can be checked sealed still is.
    assert!(
        text.contains("ok   hsm: the token answers; tenants' L1s are checked once unsealed\n"),
        "{text}"
    );
    assert_failed_only(&text, &["state"]);
}

fn the_seal_hsm_is_checked(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("seal-pin");
    let stack = fixture.stack_with(fixture.sealed_hsm(&pin));
    let (code, text) = doctor(&stack, false);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("\nok   seal: seal HSM answers, key label "),
        "{text}"
    );
    let pin_line = format!("ok   seal-pin: {}: present, owner-only\n", pin.display());
    assert!(text.contains(&pin_line), "{text}");

    // A PIN file others can read is refused at the next start: the doctor says so now.
    std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, text) = doctor(&stack, false);
    assert_eq!(code, CHECKS_FAILED, "{text}");
    let expected = format!(
        "FAIL seal-pin: the secret file {} has mode 0644",
        pin.display()
    );
    assert!(text.contains(&expected), "{text}");
    assert_failed_only(&text, &["seal-pin"]);
}

fn the_gateway_check_follows_its_postgres_vault(fixture: &Fixture) {
    let mut server = PostgresServer::start().unwrap();
    let database = server.create_database().unwrap();
    let url = server.url(&database);
    let stack = fixture.stack_on(StackVault::Postgres {
        url: url.clone(),
        password_file: server.password_file().to_owned(),
    });
    let (code, text) = gateway_check(&stack);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("ok   vault: PostgreSQL at {url} answers\n")),
        "{text}"
    );
    assert!(text.contains("ok   vault-password: "), "{text}");

    server.kill().unwrap();
    let (code, text) = gateway_check(&stack);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("FAIL vault: PostgreSQL at {url}: ")),
        "{text}"
    );
    assert_failed_only(&text, &["vault"]);
}

/// Asserts that the FAIL lines of `text` are those of `checks`, and no others.
fn assert_failed_only(text: &str, checks: &[&str]) {
    let failed: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("FAIL "))
        .filter_map(|line| line.split_once(": ").map(|(check, _)| check))
        .collect();
    assert_eq!(failed, checks, "{text}");
}
