//! `krypton-core store copy`: every record of one store into another, as it is stored: sealed
//! records are bound to their column and key, not to the backend, so nothing is opened and no
//! key is needed. For an operator moving a core from RocksDB to PostgreSQL (or back).
//!
//! Both stores are opened as a core opens them, so neither may be in use: RocksDB's lock file
//! and PostgreSQL's ownership lock refuse a store a core holds. The copy goes column by column
//! in key order, a page per durable write, and resumes after the last key the target already
//! has; then every record is read back from both and compared.

use std::sync::atomic::AtomicBool;

use super::{Range, Raw, Store, StoreError, Write, after};
use crate::config::Config;
use crate::error::Error;
use crate::installation;
use crate::store::Column;

/// How many records one read and one write of the copy hold.
const PAGE: usize = 512;

/// What a copy did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyReport {
    /// Records written to the target by this run.
    pub copied: u64,
    /// Records found equal in both stores afterwards: every record of the source.
    pub verified: u64,
}

/// Copies every record of the store `from` configures into the store `to` configures, and
/// verifies the copy.
///
/// # Errors
///
/// [`Error::Store`] when either store cannot be opened (one a core holds included) or fails;
/// when the target holds another installation; when the verification finds a difference.
pub fn copy(from: &Config, to: &Config) -> Result<CopyReport, Error> {
    // Offline work: nothing waits as a standby, nothing cancels.
    let never = AtomicBool::new(false);
    let source = Store::open_configured(from.store(), from.data_dir(), &never)?;
    let target = Store::open_configured(to.store(), to.data_dir(), &never)?;
    let installed = |store: &Store| store.get_plain(Column::Meta, installation::RECORD_KEY);
    if let Some(theirs) = installed(&target)?
        && installed(&source)?.as_ref() != Some(&theirs)
    {
        return Err(refused(StoreError::OtherInstallation));
    }
    let mut report = CopyReport::default();
    for column in Column::ALL {
        report.copied += copy_column(&source, &target, column)?;
    }
    for column in Column::ALL {
        report.verified += verify_column(&source, &target, column)?;
    }
    Ok(report)
}

fn refused(source: StoreError) -> Error {
    Error::Store {
        context: "copying the store",
        source,
    }
}

/// Copies the records of `column` after the target's last one; returns how many.
fn copy_column(source: &Store, target: &Store, column: Column) -> Result<u64, Error> {
    let mut next = target.last_key(column)?.map(after);
    let mut copied = 0;
    loop {
        let start = next.as_deref().unwrap_or_default();
        let page = source.scan_raw(column, Range::From { start, prefix: &[] }, PAGE)?;
        let Some((last, _)) = page.last() else {
            return Ok(copied);
        };
        next = Some(after(last.clone()));
        let full = page.len() == PAGE;
        copied += page.len() as u64;
        let writes = page
            .into_iter()
            .map(|(key, value)| Write::Put { column, key, value })
            .collect();
        target.write(writes)?;
        if !full {
            return Ok(copied);
        }
    }
}

/// Reads `column` from both stores page by page; returns how many records are equal, or an
/// error at the first difference.
fn verify_column(source: &Store, target: &Store, column: Column) -> Result<u64, Error> {
    let mut next: Option<Box<[u8]>> = None;
    let mut verified = 0;
    loop {
        let start = next.as_deref().unwrap_or_default();
        let range = Range::From { start, prefix: &[] };
        let ours: Vec<Raw> = source.scan_raw(column, range, PAGE)?;
        let theirs: Vec<Raw> = target.scan_raw(column, range, PAGE)?;
        if ours != theirs {
            return Err(refused(StoreError::CopyDiffers(column)));
        }
        let Some((last, _)) = ours.last() else {
            return Ok(verified);
        };
        next = Some(after(last.clone()));
        verified += ours.len() as u64;
        if ours.len() < PAGE {
            return Ok(verified);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{SecretKey, WhenIdle};
    use krypton_dev::vault_server::PostgresServer;

    fn rocksdb_config(dir: &std::path::Path) -> Config {
        Config::parse(&format!("data_dir = \"{}\"", dir.display())).unwrap()
    }

    fn postgres_config() -> Config {
        let server = PostgresServer::shared().unwrap();
        let database = server.create_database().unwrap();
        Config::parse(&format!(
            "data_dir = \"/nonexistent\"\n[store]\nbackend = \"postgres\"\nurl = \"{}\"\n\
             password = {{ file = \"{}\" }}\nrequest_timeout = \"2s\"",
            server.url(&database),
            server.password_file().display()
        ))
        .unwrap()
    }

    fn fill(config: &Config, installation: &[u8], records: u64) {
        let store =
            Store::open_configured(config.store(), config.data_dir(), &AtomicBool::new(false))
                .unwrap();
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let mut batch = store.batch(&key);
        batch
            .put_plain(Column::Meta, installation::RECORD_KEY, installation)
            .unwrap();
        for n in 0..records {
            batch
                .put_sealed(Column::Audit, &n.to_be_bytes(), &n)
                .unwrap();
        }
        batch.commit().unwrap();
    }

    #[test]
    fn a_store_moves_to_postgres_and_back_record_for_record() {
        let dir = tempfile::tempdir().unwrap();
        let rocksdb = rocksdb_config(&dir.path().join("from"));
        let postgres = postgres_config();
        let records = PAGE as u64 * 2 + 3;
        fill(&rocksdb, b"installation one", records);

        let report = copy(&rocksdb, &postgres).unwrap();
        assert_eq!(report.copied, records + 1);
        assert_eq!(report.verified, records + 1);
        // Run again, it finds everything there: nothing to copy, all verified.
        let again = copy(&rocksdb, &postgres).unwrap();
        assert_eq!((again.copied, again.verified), (0, records + 1));

        let back = rocksdb_config(&dir.path().join("back"));
        assert_eq!(copy(&postgres, &back).unwrap().verified, records + 1);
    }

    #[test]
    fn a_copy_refuses_another_installation_and_reports_a_difference() {
        let dir = tempfile::tempdir().unwrap();
        let ours = rocksdb_config(&dir.path().join("ours"));
        let theirs = postgres_config();
        fill(&ours, b"installation one", 3);
        fill(&theirs, b"installation two", 1);
        let refused = copy(&ours, &theirs).unwrap_err();
        assert!(
            matches!(
                refused,
                Error::Store {
                    source: StoreError::OtherInstallation,
                    ..
                }
            ),
            "{refused:?}"
        );

        // Same installation, but the target holds a record the source does not.
        let other = rocksdb_config(&dir.path().join("other"));
        fill(&other, b"installation one", 5);
        let differs = copy(&ours, &other).unwrap_err();
        assert!(
            matches!(
                differs,
                Error::Store {
                    source: StoreError::CopyDiffers(Column::Audit),
                    ..
                }
            ),
            "{differs:?}"
        );
    }
}
