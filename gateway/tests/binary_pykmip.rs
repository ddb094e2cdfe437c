//! The real `krypton-gateway` binary with a RocksDB vault, driven over mutual TLS by PyKMIP's
//! `ProxyKmipClient` in KMIP 1.2, 1.4 and 2.0, while krypton-core is down: every local
//! operation with the states and result reasons the specification gives, Create, Get and Locate
//! failing closed, Query and Discover Versions, identities kept apart, clients without a trusted certificate refused, and
//! every key surviving a graceful stop and a `kill -9`.
//!
//! The keys are put in the vault before the gateway starts (Create needs the core). The gateway's
//! `[core]` section is the test's to give ([`Setup::new`]); the end-to-end suite with a real
//! krypton-core reuses this set-up with the core's address. PyKMIP is
//! `$KRYPTON_PYTHON`, else `<workspace>/.venv/bin/python` (see `scripts/install-deps.sh`).
#![allow(clippy::unwrap_used)]

mod common;
mod process;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::records::app_a_key;
use common::{Pki, core_section, dead_address, gateway_toml, rocksdb_vault};
use kmip::State;
use krypton_dev::process::free_loopback_addr;
use krypton_gateway::{RocksDbVault, Vault};
use process::GatewayProcess;
use serde_json::{Value, json};

const VERSIONS: [&str; 3] = ["1.2", "1.4", "2.0"];

/// The keys of one scenario run, in the order `client.py lifecycle` takes them.
fn lifecycle_keys(version: &str) -> [String; 4] {
    ["pre", "active", "spare", "compromised"].map(|role| format!("{version}-{role}"))
}

fn python() -> PathBuf {
    std::env::var_os("KRYPTON_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
        PathBuf::from,
    )
}

/// Puts app-a's keys in a RocksDB vault at `path`.
fn seed(path: &Path) {
    let keys: Vec<(String, State)> = VERSIONS
        .iter()
        .flat_map(|version| {
            let [pre, active, spare, compromised] = lifecycle_keys(version);
            [
                (pre, State::PreActive),
                (active, State::Active),
                (spare, State::PreActive),
                (compromised, State::Active),
            ]
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let vault = RocksDbVault::open(path).await.unwrap();
        for (id, state) in keys {
            let name = format!("name of {id}");
            vault.create(app_a_key(&id, state, &[&name])).await.unwrap();
        }
    });
}

/// A gateway set-up on disk: PKI, vault and configuration file.
struct Setup {
    pki: Pki,
    config: PathBuf,
    port: u16,
}

impl Setup {
    /// A gateway whose core is down.
    fn core_down() -> Self {
        let pki = Pki::new();
        let core = core_section(&pki, &dead_address());
        Self::new(pki, &core)
    }

    /// A gateway on a free port with a seeded RocksDB vault, its clients and server certified
    /// by `pki`, talking to the core `core` describes (a `[core]` section, see
    /// [`core_section`]): the end-to-end suite passes a running krypton-core's.
    fn new(pki: Pki, core: &str) -> Self {
        let vault = pki.dir().join("vault");
        seed(&vault);
        let port = free_loopback_addr().unwrap().port();
        let config = pki.dir().join("gateway.toml");
        let toml = gateway_toml(
            &pki,
            &format!("127.0.0.1:{port}"),
            "shutdown_grace = \"5s\"",
            core,
            &rocksdb_vault(&vault),
        );
        fs::write(&config, toml).unwrap();
        Self { pki, config, port }
    }

    fn start(&self, run: usize) -> GatewayProcess {
        let log = self.pki.dir().join(format!("gateway-{run}.log"));
        let mut command = GatewayProcess::command(&self.config);
        command.env("KRYPTON_LOG", "debug");
        let mut gateway = GatewayProcess::spawn(command, &log);
        gateway.wait_until_listening(self.port);
        gateway
    }

    /// Runs `client.py scenario` as `identity` in `version`; returns its report.
    fn client(&self, identity: &str, scenario: &str, version: &str, keys: &[String]) -> Value {
        let credentials = self.pki.client(identity);
        self.client_with(&credentials.cert, &credentials.key, scenario, version, keys)
    }

    fn client_with(
        &self,
        cert: &Path,
        key: &Path,
        scenario: &str,
        version: &str,
        keys: &[String],
    ) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pykmip/client.py");
        let output = Command::new(python())
            .arg(script)
            .args([scenario, "127.0.0.1", &self.port.to_string()])
            .arg(cert)
            .arg(key)
            .arg(self.pki.ca())
            .arg(version)
            .args(keys)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", python().display()));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "client.py {scenario} {version} failed:\n{stderr}"
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

fn ok(value: Value) -> Value {
    json!({ "ok": value })
}

fn error(report: &Value, step: &str) -> String {
    report[step]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{step} did not fail: {}", report[step]))
        .to_owned()
}

/// The result reason for a refusal by lifecycle state, as `version` names it.
fn wrong_state(version: &str) -> &'static str {
    if version.starts_with('1') {
        "PERMISSION_DENIED"
    } else {
        "WRONG_KEY_LIFECYCLE_STATE"
    }
}

#[test]
fn pykmip_drives_the_local_operations_of_the_real_gateway() {
    let setup = Setup::core_down();
    let gateway = setup.start(1);

    for version in VERSIONS {
        let keys = lifecycle_keys(version);
        let report = setup.client("app-a", "lifecycle", version, &keys);
        let context = format!("KMIP {version}: {report:#}");
        assert_eq!(report["state_pre"], ok(json!("PRE_ACTIVE")), "{context}");
        assert_eq!(report["activate_pre"], ok(Value::Null), "{context}");
        assert_eq!(
            report["state_after_activate"],
            ok(json!("ACTIVE")),
            "{context}"
        );
        assert_eq!(
            error(&report, "activate_again"),
            wrong_state(version),
            "{context}"
        );
        assert_eq!(
            error(&report, "destroy_active"),
            wrong_state(version),
            "{context}"
        );
        assert_eq!(report["revoke_active"], ok(Value::Null), "{context}");
        assert_eq!(
            report["state_after_revoke"],
            ok(json!("DEACTIVATED")),
            "{context}"
        );
        assert_eq!(report["destroy_deactivated"], ok(Value::Null), "{context}");
        assert_eq!(
            report["state_after_destroy"],
            ok(json!("DESTROYED")),
            "{context}"
        );
        let destroyed = if version.starts_with('1') {
            "PERMISSION_DENIED"
        } else {
            "OBJECT_DESTROYED"
        };
        assert_eq!(error(&report, "get_destroyed"), destroyed, "{context}");
        assert_eq!(report["revoke_compromise"], ok(Value::Null), "{context}");
        assert_eq!(
            report["state_after_compromise"],
            ok(json!("COMPROMISED")),
            "{context}"
        );
        assert_eq!(
            error(&report, "get_compromised"),
            wrong_state(version),
            "{context}"
        );
        let names = &report["names"]["ok"]["Name"];
        assert!(
            names
                .as_str()
                .unwrap()
                .contains(&format!("name of {version}-spare")),
            "{context}"
        );
        let listed = report["attribute_list"]["ok"].as_array().unwrap();
        assert!(
            listed.contains(&json!("State")) && listed.contains(&json!("Name")),
            "{context}"
        );
        // Fail closed: the core is down, so nothing can be wrapped or unwrapped, and Locate
        // does not answer with the gateway's half of the objects.
        for step in [
            "get_fails_closed",
            "create_fails_closed",
            "locate_by_name_fails_closed",
            "locate_by_state_fails_closed",
        ] {
            assert_eq!(error(&report, step), "GENERAL_FAILURE", "{context}");
            let message = report[step]["message"].as_str().unwrap();
            assert!(message.contains("unreachable"), "{context}");
        }
        let operations = report["query"]["ok"].as_array().unwrap();
        assert!(
            operations.contains(&json!("CREATE")) && operations.contains(&json!("REVOKE")),
            "{context}"
        );
    }

    let versions = setup.client("app-a", "discover", "1.4", &[]);
    assert_eq!(
        versions["versions"],
        ok(json!(["2.1", "2.0", "1.4", "1.3", "1.2", "1.1", "1.0"]))
    );

    // Another identity learns nothing: its answers for app-a's keys are those for no key.
    let probed = vec!["1.2-spare".to_owned(), "no-such-key".to_owned()];
    let report = setup.client("app-b", "probe", "1.4", &probed);
    for operation in ["get", "attributes", "destroy"] {
        assert_eq!(
            report[format!("{operation} 1.2-spare")],
            report[format!("{operation} no-such-key")],
            "{report:#}"
        );
    }

    // A certificate from another CA does not get in, and the gateway keeps serving.
    let other_ca = Pki::new();
    let stranger = other_ca.client("app-a");
    let refused = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pykmip/client.py"))
        .args(["discover", "127.0.0.1", &setup.port.to_string()])
        .arg(&stranger.cert)
        .arg(&stranger.key)
        .arg(setup.pki.ca())
        .arg("1.4")
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "a client of another CA was served"
    );
    assert_eq!(
        setup.client("app-a", "discover", "2.0", &[])["versions"]["ok"][0],
        "2.1"
    );

    // Restarts keep every key in the state it was left in: after SIGTERM, and after SIGKILL.
    let expected = expected_states();
    let status = gateway.terminate();
    assert!(
        status.success(),
        "SIGTERM should stop the gateway cleanly: {status}"
    );
    let gateway = setup.start(2);
    assert_eq!(states(&setup), expected);
    gateway.kill();
    let _gateway = setup.start(3);
    assert_eq!(states(&setup), expected);
}

/// Every seeded key's state after the lifecycle scenario.
fn expected_states() -> BTreeMap<String, Value> {
    VERSIONS
        .iter()
        .flat_map(|version| {
            let [pre, active, spare, compromised] = lifecycle_keys(version);
            [
                (pre, "ACTIVE"),
                (active, "DESTROYED"),
                (spare, "PRE_ACTIVE"),
                (compromised, "COMPROMISED"),
            ]
        })
        .map(|(id, state)| (id, ok(json!(state))))
        .collect()
}

fn states(setup: &Setup) -> BTreeMap<String, Value> {
    let keys: Vec<String> = expected_states().into_keys().collect();
    let report = setup.client("app-a", "states", "1.4", &keys);
    serde_json::from_value(report).unwrap()
}
