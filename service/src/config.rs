//! A daemon's configuration file: read whole within a bound, parsed as TOML, and the checks its
//! values share.
//!
//! Each daemon's own configuration error wraps these types, so the one-line message at start-up
//! names the file that could not be read or the key whose value was refused.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A configuration file is read whole; anything larger than this is not a configuration file.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Why a configuration file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigFileError {
    /// The file could not be opened or read, or is not UTF-8.
    #[error("cannot read {}", path.display())]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file is larger than any configuration file ([`MAX_CONFIG_BYTES`]).
    #[error("{} has {len} bytes; a configuration file is at most 1 MiB", path.display())]
    TooLarge {
        /// The configuration file.
        path: PathBuf,
        /// The file's size.
        len: u64,
    },
    /// The text is not valid TOML or has an unknown, missing or mistyped key.
    #[error("invalid configuration")]
    Parse(#[source] toml::de::Error),
}

/// Reads the TOML file at `path`, at most [`MAX_CONFIG_BYTES`] long, into a `T`.
///
/// # Errors
///
/// [`ConfigFileError`] naming what is wrong with the file.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigFileError> {
    let read = |source| ConfigFileError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read)?;
    let len = file.metadata().map_err(read)?.len();
    let mut text = String::new();
    // Bounded even if the file grows after the size was taken, or is a device that never ends.
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    let len = len.max(text.len() as u64);
    if len > MAX_CONFIG_BYTES {
        return Err(ConfigFileError::TooLarge {
            path: path.to_owned(),
            len,
        });
    }
    parse_toml(&text)
}

/// Parses configuration text into a `T`.
///
/// # Errors
///
/// [`ConfigFileError::Parse`] naming the line and the key at fault.
pub fn parse_toml<T: DeserializeOwned>(text: &str) -> Result<T, ConfigFileError> {
    toml::from_str(text).map_err(ConfigFileError::Parse)
}

/// A number in the configuration is outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} is {value}, must be between {min} and {max}")]
#[non_exhaustive]
pub struct OutOfRange {
    /// The key.
    pub key: &'static str,
    /// The value given.
    pub value: u64,
    /// Smallest allowed.
    pub min: u64,
    /// Largest allowed.
    pub max: u64,
}

/// Checks that the unsigned `value` of `key` lies in `min..=max`. A value too large for a `u64`
/// is out of every range.
///
/// # Errors
///
/// [`OutOfRange`] naming the key, the value and the range.
pub fn require_range(
    key: &'static str,
    value: impl TryInto<u64>,
    min: u64,
    max: u64,
) -> Result<(), OutOfRange> {
    let value = value.try_into().unwrap_or(u64::MAX);
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(OutOfRange {
            key,
            value,
            min,
            max,
        })
    }
}

/// A path in the configuration that must be absolute is relative.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} must be an absolute path, not {}", path.display())]
#[non_exhaustive]
pub struct RelativePath {
    /// The key.
    pub key: &'static str,
    /// The path given.
    pub path: PathBuf,
}

/// Checks that the path given for `key` is absolute.
///
/// # Errors
///
/// [`RelativePath`] naming the key and the path.
pub fn require_absolute(key: &'static str, path: &Path) -> Result<(), RelativePath> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(RelativePath {
            key,
            path: path.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::error::Error as _;

    use super::*;

    type Table = BTreeMap<String, u64>;

    #[test]
    fn reads_a_file_and_names_it_when_it_cannot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.toml");
        std::fs::write(&path, "a = 1\nb = 2\n").unwrap();
        let table: Table = read_toml(&path).unwrap();
        assert_eq!(table["b"], 2);

        let missing = dir.path().join("missing.toml");
        let error = read_toml::<Table>(&missing).unwrap_err();
        assert!(matches!(&error, ConfigFileError::Read { path, .. } if *path == missing));
        assert_eq!(
            error.to_string(),
            format!("cannot read {}", missing.display())
        );
        assert!(error.source().is_some());

        std::fs::write(&path, "a = ").unwrap();
        let error = read_toml::<Table>(&path).unwrap_err();
        assert!(matches!(error, ConfigFileError::Parse(_)));
        assert!(error.source().is_some());
    }

    #[test]
    fn refuses_a_file_over_one_mebibyte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.toml");
        let padding = "#".repeat(usize::try_from(MAX_CONFIG_BYTES).unwrap() - 7);
        std::fs::write(&path, format!("a = 1\n{padding}\n")).unwrap();
        let table: Table = read_toml(&path).unwrap();
        assert_eq!(table["a"], 1);

        std::fs::write(&path, format!("a = 1\n{padding}#\n")).unwrap();
        let error = read_toml::<Table>(&path).unwrap_err();
        assert!(
            matches!(&error, ConfigFileError::TooLarge { len, .. } if *len == MAX_CONFIG_BYTES + 1)
        );
        assert_eq!(
            error.to_string(),
            format!(
                "{} has 1048577 bytes; a configuration file is at most 1 MiB",
                path.display()
            )
        );
        // A device reports no size: the bounded read still stops it.
        let error = read_toml::<Table>(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(error, ConfigFileError::TooLarge { .. }), "{error}");
    }

    #[test]
    fn range_is_inclusive_and_named() {
        assert_eq!(require_range("k", 1u64, 1, 3), Ok(()));
        assert_eq!(require_range("k", 3usize, 1, 3), Ok(()));
        let error = require_range("limits.k", 4u64, 1, 3).unwrap_err();
        assert_eq!(error.to_string(), "limits.k is 4, must be between 1 and 3");
        assert!(require_range("k", 0u64, 1, 3).is_err());
        assert!(require_range("k", u128::MAX, 0, u64::MAX - 1).is_err());
    }

    #[test]
    fn paths_must_be_absolute() {
        assert_eq!(require_absolute("dir", Path::new("/var/lib")), Ok(()));
        let error = require_absolute("dir", Path::new("var/lib")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "dir must be an absolute path, not var/lib"
        );
    }
}
