//! Backups of the core's store: a consistent RocksDB checkpoint taken while the core serves,
//! packed as a tar stream behind a small header, and restored offline into an empty directory.
//!
//! The file holds exactly what the store holds: records sealed under the master key's record
//! key, the audit log, the tenants' L2s wrapped by their L1s in the HSM, and the install record
//! (with, on the PKCS#11 seal, the master key as the seal HSM sealed it). No key is in it in
//! plaintext, so a restored store opens only with the same shares, or the same seal HSM key.
//!
//! Layout, integers big-endian:
//!
//! | field | size |
//! |-------|------|
//! | magic `KRYPTON-CORE-BACKUP\n` | 20 |
//! | header length | 4 |
//! | header: CBOR of [`Header`] (format version, key set, seal, when) | header length |
//! | tar stream of the checkpoint's files | to the end |
//!
//! The header is informational and unauthenticated; a restore checks it against the install
//! record it restored, which the first unseal authenticates.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::installation::{self, StoredInstallation};
use crate::store::{Column, Store};

const MAGIC: &[u8; 20] = b"KRYPTON-CORE-BACKUP\n";
/// The format version this code writes and reads.
const FORMAT: u32 = 1;
/// A genuine header is a few dozen bytes.
const MAX_HEADER_BYTES: u32 = 4096;

/// What a backup says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The backup format version.
    pub format: u32,
    /// The key set of the installation backed up: its shares (or recovery shares) carry it.
    pub key_set: String,
    /// How the installation's master key is kept: `shamir` or `pkcs11`.
    pub seal: String,
    /// When the backup was taken, in seconds since the Unix epoch.
    pub created_unix_secs: u64,
}

impl Header {
    /// The header of a backup of `installation`, taken now.
    pub(crate) fn of(installation: &StoredInstallation) -> Self {
        Self {
            format: FORMAT,
            key_set: installation.key_check().key_set().to_string(),
            seal: installation.unverified().seal().name().to_owned(),
            created_unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
        }
    }
}

/// Takes a checkpoint of `store` and writes the backup of it, with `header`, to an unnamed
/// temporary file in the store's directory (the checkpoint needs the same file system), which
/// is returned at its start. The checkpoint is removed before this returns.
pub(crate) fn take(store: &Store, header: &Header) -> Result<File, Error> {
    let io = |context| move |source| Error::Io { context, source };
    let work = tempfile::Builder::new()
        .prefix(".backup-")
        .tempdir_in(store.checkpoint_dir()?)
        .map_err(io("making the backup's working directory"))?;
    let checkpoint = work.path().join("checkpoint");
    store.checkpoint(&checkpoint)?;
    let mut file = tempfile::tempfile_in(work.path()).map_err(io("making the backup file"))?;
    write(&mut file, header, &checkpoint).map_err(io("writing the backup file"))?;
    io::Seek::rewind(&mut file).map_err(io("reading the backup file"))?;
    Ok(file)
}

fn write(out: &mut File, header: &Header, checkpoint: &Path) -> io::Result<()> {
    let mut encoded = Vec::new();
    ciborium::into_writer(header, &mut encoded).map_err(io::Error::other)?;
    out.write_all(MAGIC)?;
    let len = u32::try_from(encoded.len()).map_err(io::Error::other)?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(&encoded)?;
    let mut archive = tar::Builder::new(&mut *out);
    archive.append_dir_all(".", checkpoint)?;
    archive.finish()?;
    drop(archive);
    out.sync_all()
}

/// Rebuilds a store in `data_dir` (absent or empty) from the backup `file`, and checks that it
/// opens and holds the installation the header names. Offline: no core may use `data_dir`.
pub fn restore(file: &Path, data_dir: &Path) -> Result<Header, Error> {
    let io = |context| move |source| Error::Io { context, source };
    let mut input = File::open(file).map_err(io("opening the backup file"))?;
    let header = read_header(&mut input)?;
    let occupied = std::fs::read_dir(data_dir).map(|mut entries| entries.next().is_some());
    match occupied {
        Ok(true) => return Err(Error::InvalidBackup("the data directory is not empty")),
        Ok(false) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(io("reading the data directory")(error)),
    }
    std::fs::create_dir_all(data_dir).map_err(io("creating the data directory"))?;
    tar::Archive::new(input)
        .unpack(data_dir)
        .map_err(io("unpacking the backup"))?;
    let store = Store::open(data_dir)?;
    let stored = store
        .get_plain(Column::Meta, installation::RECORD_KEY)?
        .ok_or(Error::InvalidBackup("the backup holds no installation"))?;
    let restored = Header::of(&StoredInstallation::decode(&stored)?);
    if restored.key_set != header.key_set || restored.seal != header.seal {
        return Err(Error::InvalidBackup(
            "the restored installation is not the one the header names",
        ));
    }
    Ok(header)
}

fn read_header(input: &mut impl Read) -> Result<Header, Error> {
    let io = |source| Error::Io {
        context: "reading the backup header",
        source,
    };
    let mut magic = [0u8; MAGIC.len()];
    input.read_exact(&mut magic).map_err(io)?;
    if &magic != MAGIC {
        return Err(Error::InvalidBackup("not a krypton-core backup"));
    }
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(io)?;
    let len = u32::from_be_bytes(len);
    if len > MAX_HEADER_BYTES {
        return Err(Error::InvalidBackup("the header is too long"));
    }
    let mut encoded = vec![0u8; len as usize];
    input.read_exact(&mut encoded).map_err(io)?;
    let header: Header = ciborium::from_reader(encoded.as_slice())
        .map_err(|_| Error::InvalidBackup("the header does not decode"))?;
    if header.format != FORMAT {
        return Err(Error::InvalidBackup(
            "a backup format this version does not read",
        ));
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::installation::{Installation, SealRecord};
    use crate::master_key::MasterKey;
    use crate::record_keys::RecordKeys;

    /// A store holding an install record and one sealed record, and the master key.
    fn installed_store(dir: &Path) -> (Store, MasterKey) {
        let store = Store::open(dir).unwrap();
        let master = MasterKey::generate().unwrap();
        let split = master.split(2, 3).unwrap();
        let stored = Installation::new(&split.key_check, 3, SealRecord::Shamir)
            .encode(&master)
            .unwrap();
        let records = RecordKeys::first(&master).unwrap();
        let mut batch = store.batch(&records);
        batch
            .put_plain(Column::Meta, installation::RECORD_KEY, &stored)
            .unwrap();
        batch
            .put_sealed(Column::Tenants, b"acme", &"sealed value".to_owned())
            .unwrap();
        batch.commit().unwrap();
        (store, master)
    }

    #[test]
    fn a_backup_restores_the_store_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let (store, master) = installed_store(&dir.path().join("store"));
        let stored = store
            .get_plain(Column::Meta, installation::RECORD_KEY)
            .unwrap()
            .unwrap();
        let header = Header::of(&StoredInstallation::decode(&stored).unwrap());
        let mut file = take(&store, &header).unwrap();
        // The working directory is gone; only the store's own files are left.
        let left: Vec<_> = std::fs::read_dir(store.checkpoint_dir().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with(".backup-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        let backup = dir.path().join("core.backup");
        io::copy(&mut file, &mut File::create(&backup).unwrap()).unwrap();

        let restored_dir = dir.path().join("restored");
        assert_eq!(restore(&backup, &restored_dir).unwrap(), header);
        let restored = Store::open(&restored_dir).unwrap();
        let value: Option<String> = restored
            .get_sealed(
                &RecordKeys::first(&master).unwrap(),
                Column::Tenants,
                b"acme",
            )
            .unwrap();
        assert_eq!(value.as_deref(), Some("sealed value"));
        assert!(matches!(
            restore(&backup, &restored_dir),
            Err(Error::InvalidBackup("the data directory is not empty"))
        ));
    }

    #[test]
    fn headers_are_checked_before_anything_is_unpacked() {
        let header = Header {
            format: FORMAT,
            key_set: "a58c4b41".into(),
            seal: "shamir".into(),
            created_unix_secs: 1,
        };
        let mut encoded = Vec::new();
        ciborium::into_writer(&header, &mut encoded).unwrap();
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
        file.extend_from_slice(&encoded);
        assert_eq!(read_header(&mut file.as_slice()).unwrap(), header);

        let mut other = file.clone();
        other[0] = b'X';
        assert!(matches!(
            read_header(&mut other.as_slice()),
            Err(Error::InvalidBackup("not a krypton-core backup"))
        ));
        let mut long = MAGIC.to_vec();
        long.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            read_header(&mut long.as_slice()),
            Err(Error::InvalidBackup("the header is too long"))
        ));
        assert!(read_header(&mut &file[..30]).is_err());
    }
}
