//! Re-wrap benchmark (docs/benchmarks.md, "Re-wrap under a new service key version"): how
//! fast the gateway re-wraps its vault under a new L3 version, and what Get and Create keep
//! of their throughput while it does, paced (the default 1,000 records/s) and unpaced.
//!
//! Runs the release binaries (`cargo build --release --bins` first; `KRYPTON_BIN_DIR` names
//! others) on a SoftHSM2 token, the RocksDB vault and free ports, all removed at the end:
//!
//! ```text
//! cargo build --release --bins && cargo bench -p krypton-softhsm-tests --bench rewrap
//! ```
//!
//! Prints figures; asserts nothing about speed.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::thread;
use std::time::{Duration, Instant};

use krypton_dev::config::Rewrap;
use krypton_dev::{Stack, StackConfig, token};
use krypton_softhsm_tests::binaries::release_bin_dir;
use krypton_softhsm_tests::load::{krypton_load, rewrapped};
use serde_json::Value;

/// Keys in the vault before the first rotation.
const KEYS: u64 = 100_000;
const CONNECTIONS: u16 = 16;
const GET_RUN: Duration = Duration::from_secs(10);
const CREATE_RUN: Duration = Duration::from_secs(5);
/// The default pace, and the highest the configuration takes (in effect, unpaced).
const PACED: u32 = 1_000;
const UNPACED: u32 = 1_000_000;
/// The longest one unpaced re-wrap of the vault may take: a bound against a hang.
const REWRAP_LIMIT: Duration = Duration::from_secs(600);

fn main() {
    // libtest's bench flags are accepted and ignored: this is a plain program.
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: first statement touching the environment; no other thread exists yet.
    let hsm = unsafe { token::prepare(&dir.path().join("softhsm")) }.unwrap();
    let mut config = StackConfig::new(&release_bin_dir(), hsm);
    config.data_dir = Some(dir.path().join("stack"));
    config.rewrap = Some(rewrap(PACED));
    let mut stack = Stack::start(config).unwrap();
    let ctl = stack.core().ctl().clone();
    let (tenant, service) = (
        stack.config().tenant.clone(),
        stack.config().service.clone(),
    );

    // The vault: KEYS keys under version 1.
    let mut keys = 0;
    while keys < KEYS {
        keys += load(&stack, "create", Duration::from_secs(5))["operations"]
            .as_u64()
            .unwrap();
    }
    println!("vault: {keys} keys under L3 v1");
    println!("\n| phase | Get@16 ops/s | Create@16 ops/s | re-wrapped records/s |");
    println!("|---|---:|---:|---:|");
    let (get, create) = (
        load(&stack, "get", GET_RUN),
        load(&stack, "create", CREATE_RUN),
    );
    keys += operations(&create);
    row("no re-wrap", &get, &create, None);

    // Paced: the gateway learns of version 2 from its first Create under it.
    ctl.rotate_service(&tenant, &service).unwrap();
    load(&stack, "create", Duration::from_millis(200));
    let (get, create, rate) = during_rewrap(&stack);
    keys += operations(&create);
    row(
        &format!("re-wrap paced at {PACED}/s"),
        &get,
        &create,
        Some(rate),
    );

    // Unpaced, alone: a restarted gateway re-wraps what is left under version 1 at once.
    stack.stop_gateway().unwrap();
    stack.reconfigure_rewrap(Some(rewrap(UNPACED)));
    let started = Instant::now();
    stack.restart_gateway().unwrap();
    // A new process: its counter starts at zero.
    let (done, at) = wait_for_pass(&stack, 0.0);
    let alone = done / at.duration_since(started).as_secs_f64();
    println!(
        "| re-wrap unpaced, no load ({done:.0} records in {:.1} s) | | | {alone:.0} |",
        at.duration_since(started).as_secs_f64()
    );

    // Unpaced, under load: version 3 over every key.
    ctl.rotate_service(&tenant, &service).unwrap();
    load(&stack, "create", Duration::from_millis(200));
    let (get, create, rate) = during_rewrap(&stack);
    keys += operations(&create);
    row("re-wrap unpaced", &get, &create, Some(rate));
    let before = rewrapped(&stack);
    wait_for_pass(&stack, before);
    // The same vault, grown, with no re-wrap running: what the rows above compare against.
    let (get, create) = (
        load(&stack, "get", GET_RUN),
        load(&stack, "create", CREATE_RUN),
    );
    keys += operations(&create);
    row("no re-wrap, after", &get, &create, None);
    println!("\nvault at the end: about {keys} keys");
    stack.stop().unwrap();
}

fn rewrap(records_per_second: u32) -> Rewrap {
    Rewrap {
        records_per_second,
        rescan_interval_secs: 3600,
    }
}

/// Get@16 then Create@16 while a re-wrap runs; the re-wrap's rate over both.
fn during_rewrap(stack: &Stack) -> (Value, Value, f64) {
    let before = rewrapped(stack);
    let started = Instant::now();
    let get = load(stack, "get", GET_RUN);
    let create = load(stack, "create", CREATE_RUN);
    let rate = (rewrapped(stack) - before) / started.elapsed().as_secs_f64();
    (get, create, rate)
}

fn row(phase: &str, get: &Value, create: &Value, rate: Option<f64>) {
    let rate = rate.map_or(String::new(), |rate| format!("{rate:.0}"));
    println!(
        "| {phase} | {:.0} | {:.0} | {rate} |",
        get["ops_per_s"].as_f64().unwrap(),
        create["ops_per_s"].as_f64().unwrap()
    );
}

fn operations(report: &Value) -> u64 {
    report["operations"].as_u64().unwrap()
}

/// Waits until the re-wrap counter, at `before` when the pass began, stops moving: how many
/// records the pass re-wrapped, and when it re-wrapped the last.
fn wait_for_pass(stack: &Stack, before: f64) -> (f64, Instant) {
    let deadline = Instant::now() + REWRAP_LIMIT;
    let (mut last, mut moved_at) = (before, Instant::now());
    loop {
        thread::sleep(Duration::from_millis(100));
        let now = rewrapped(stack);
        if now > last {
            (last, moved_at) = (now, Instant::now());
        } else if now > before && moved_at.elapsed() > Duration::from_secs(2) {
            return (last - before, moved_at);
        }
        assert!(Instant::now() < deadline, "re-wrap not done: {now}");
    }
}

/// krypton-load as app-alice on [`CONNECTIONS`] connections; no failure is expected.
fn load(stack: &Stack, workload: &str, duration: Duration) -> Value {
    let binary = release_bin_dir().join("krypton-load");
    let report = krypton_load(
        &binary,
        stack,
        "app-alice",
        &[workload],
        CONNECTIONS,
        duration,
    );
    assert_eq!(report["failures"], 0, "{report}");
    report
}
