//! Runs `vectors.py` (next to this file) once per test binary and hands out its vectors.
//!
//! The interpreter is `$KRYPTON_PYTHON`, or `<workspace>/.venv/bin/python`. A missing
//! interpreter or a missing PyKMIP fails the tests with instructions: these tests are the
//! crate's proof against an implementation nobody here wrote, and must not pass silently.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The interpreter that runs the PyKMIP script.
fn python() -> PathBuf {
    std::env::var_os("KRYPTON_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
        PathBuf::from,
    )
}

fn run_script() -> HashMap<String, Vec<u8>> {
    let python = python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pykmip/vectors.py");
    let output = Command::new(&python)
        .arg(&script)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run the PyKMIP oracle with {}: {err}. Create the interpreter with \
             `python3 -m venv .venv && .venv/bin/pip install pykmip` in the workspace root, \
             or point KRYPTON_PYTHON at a Python that has PyKMIP installed",
                python.display()
            )
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named 'kmip'"),
        "{} has no PyKMIP (`import kmip` failed): install it with `{} -m pip install pykmip`",
        python.display(),
        python.display()
    );
    assert!(
        output.status.success(),
        "{} failed:\n{stderr}",
        script.display()
    );
    parse_vectors(&String::from_utf8_lossy(&output.stdout))
}

/// Parses the script's flat JSON object of `"name": "hex"` pairs.
fn parse_vectors(json: &str) -> HashMap<String, Vec<u8>> {
    let body = json.trim().trim_start_matches('{').trim_end_matches('}');
    body.split(',')
        .map(|pair| {
            let (name, hex) = pair.split_once(':').expect("a \"name\": \"hex\" pair");
            let unquote = |s: &str| s.trim().trim_matches('"').to_owned();
            (
                unquote(name),
                hex::decode(unquote(hex)).expect("hex from vectors.py"),
            )
        })
        .collect()
}

/// The encoding PyKMIP produced for vector `name`.
pub fn vector(name: &str) -> &'static [u8] {
    static VECTORS: OnceLock<HashMap<String, Vec<u8>>> = OnceLock::new();
    VECTORS
        .get_or_init(run_script)
        .get(name)
        .unwrap_or_else(|| panic!("vectors.py has no vector {name}"))
}
