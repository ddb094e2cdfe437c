//! Where the workspace's debug binaries, the benchmarks' release binaries and PyKMIP's Python
//! are.

use std::path::PathBuf;

/// The directory of the workspace's debug binaries. Test executables live in
/// `<target>/debug/deps`, so this is found from the running test, whatever the target dir is.
pub fn debug_bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_owned()))
        .unwrap_or_default()
}

/// The debug binary `name`, or a message saying how to build it.
pub fn debug_binary(name: &str) -> Result<PathBuf, String> {
    let path = debug_bin_dir().join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: run `cargo build --bins` first (`cargo test --workspace` builds it)",
            path.display()
        ))
    }
}

/// The release binaries the benchmarks run: `$KRYPTON_BIN_DIR`, else `<target>/release`
/// (`cargo build --release --bins`).
pub fn release_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KRYPTON_BIN_DIR") {
        return dir.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("release")
}

/// `$KRYPTON_PYTHON`, else `<workspace>/.venv/bin/python` (see `scripts/install-deps.sh`).
pub fn python() -> PathBuf {
    std::env::var_os("KRYPTON_PYTHON").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python")),
        PathBuf::from,
    )
}
