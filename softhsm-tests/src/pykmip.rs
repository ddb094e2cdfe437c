//! PyKMIP's `ProxyKmipClient` as an application of krypton-gateway: `pykmip/client.py` runs a
//! list of commands on one mutual-TLS connection and prints one JSON result per command. And
//! MongoDB's libmongocrypt (pymongocrypt) using the gateway as its KMIP key manager:
//! `pykmip/mongocrypt.py`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use krypton_dev::Stack;
use serde_json::{Value, json};

use crate::binaries::python;

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/pykmip/client.py");
const MONGOCRYPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/pykmip/mongocrypt.py");

/// Where a client connects and the certificate files it presents.
#[derive(Debug, Clone)]
pub struct App {
    pub gateway: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    /// The KMIP version client.py speaks (`"1.4"`, `"2.0"`); `None`: PyKMIP's default, 1.2.
    pub kmip_version: Option<&'static str>,
}

impl App {
    /// Application `name` of `stack` (one of its `StackConfig::apps`).
    pub fn of(stack: &Stack, name: &str) -> Self {
        let pki = stack.pki();
        let (_, files) = pki
            .apps
            .iter()
            .find(|(app, _)| app == name)
            .unwrap_or_else(|| panic!("the stack has no application {name}"));
        Self {
            gateway: stack.gateway_addr(),
            cert: files.cert.clone(),
            key: files.key.clone(),
            ca: pki.ca.clone(),
            kmip_version: None,
        }
    }

    /// Application `name` of a krypton-dev data dir (`<data dir>/pki/<name>.pem` and `.key`).
    pub fn in_data_dir(data_dir: &Path, gateway: SocketAddr, name: &str) -> Self {
        let pki = data_dir.join("pki");
        Self {
            gateway,
            cert: pki.join(format!("{name}.pem")),
            key: pki.join(format!("{name}.key")),
            ca: pki.join("ca.pem"),
            kmip_version: None,
        }
    }

    /// Runs `commands` (see client.py) on one connection; one result per command.
    pub fn run(&self, commands: &Value) -> Vec<Value> {
        let results = self.script(CLIENT, &commands.to_string());
        let results: Vec<Value> = serde_json::from_value(results)
            .unwrap_or_else(|error| panic!("client.py did not print a list: {error}"));
        assert_eq!(results.len(), commands.as_array().map_or(0, Vec::len));
        results
    }

    /// MongoDB's libmongocrypt making a data key with the gateway as its KMIP key manager in
    /// `mode` (`default` or `delegated`), encrypting a value and decrypting it again (see
    /// mongocrypt.py): what the script reports.
    pub fn mongocrypt(&self, mode: &str) -> Value {
        self.script(MONGOCRYPT, mode)
    }

    /// Runs `script` with the gateway's address, this application's certificate files and
    /// `argument`: the JSON it prints.
    fn script(&self, script: &str, argument: &str) -> Value {
        let output = Command::new(python())
            .arg(script)
            .arg(self.gateway.ip().to_string())
            .arg(self.gateway.port().to_string())
            .arg(&self.cert)
            .arg(&self.key)
            .arg(&self.ca)
            .arg(argument)
            .env_remove("KRYPTON_PYKMIP_VERSION")
            .envs(
                self.kmip_version
                    .map(|version| ("KRYPTON_PYKMIP_VERSION", version)),
            )
            .output()
            .expect("KRYPTON_PYTHON runs");
        assert!(
            output.status.success(),
            "{script} {argument} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{script} printed {:?}", output.stdout))
    }

    /// Creates an AES-256 key named `name`; its id.
    pub fn create(&self, name: &str) -> String {
        let results = self.run(&json!([{"op": "create", "name": name}]));
        text(ok(&results[0])).to_owned()
    }

    /// The key bytes of `uid`, as hex.
    pub fn get(&self, uid: &str) -> String {
        let results = self.run(&json!([{"op": "get", "uid": uid}]));
        text(&ok(&results[0])["value"]).to_owned()
    }
}

/// The result of a command that must have succeeded.
pub fn ok(result: &Value) -> &Value {
    result
        .get("ok")
        .unwrap_or_else(|| panic!("expected success: {result}"))
}

/// The KMIP Result Reason of a command that must have failed with a KMIP error.
pub fn reason(result: &Value) -> &str {
    result["error"]
        .as_str()
        .unwrap_or_else(|| panic!("expected a KMIP error: {result}"))
}

/// The Result Message of a command that failed with a KMIP error.
pub fn message(result: &Value) -> &str {
    result["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected a KMIP error with a message: {result}"))
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected text: {value}"))
}
