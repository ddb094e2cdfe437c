//! Shares on this side of the socket: where init writes them and where unseal reads one.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use krypton_control_api::v1;
use zeroize::Zeroizing;

use crate::failure::Failure;

/// A share's text is about a hundred characters; a file much larger is not a share file.
const MAX_SHARE_FILE_BYTES: u64 = 4096;

/// A directory checked to take the share files of one init.
#[derive(Debug)]
pub(crate) struct ShareDir {
    dir: PathBuf,
}

impl ShareDir {
    /// Makes sure `dir` exists (created mode 0700), is writable and holds none of the `count`
    /// share files yet: init is refused before the core generates shares that could not be
    /// written.
    pub(crate) fn prepare(dir: &Path, count: u32) -> Result<Self, Failure> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(local("creating the share directory"))?;
        let share_dir = Self {
            dir: dir.to_owned(),
        };
        for index in 1..=count {
            if share_dir.path(index).exists() {
                return Err(Failure::Local {
                    context: "preparing the share directory",
                    source: io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} already exists", share_dir.path(index).display()),
                    ),
                });
            }
        }
        let probe = dir.join(".kryptonctl-write-test");
        create_private(&probe).map_err(local("writing to the share directory"))?;
        std::fs::remove_file(&probe).map_err(local("writing to the share directory"))?;
        Ok(share_dir)
    }

    /// Writes share `i` (1-based) to `share-<i>.txt`, mode 0600, never over an existing file.
    pub(crate) fn write(&self, shares: &[String]) -> Result<Vec<PathBuf>, Failure> {
        (1..)
            .zip(shares)
            .map(|(index, share)| {
                let path = self.path(index);
                let mut file = create_private(&path).map_err(local("writing a share file"))?;
                writeln!(file, "{share}").map_err(local("writing a share file"))?;
                file.sync_all().map_err(local("writing a share file"))?;
                Ok(path)
            })
            .collect()
    }

    fn path(&self, index: u32) -> PathBuf {
        self.dir.join(format!("share-{index}.txt"))
    }
}

/// The file `kryptonctl backup` writes, created before the core is asked (mode 0600, never
/// over an existing file), so that a backup is not taken for nothing.
pub(crate) struct BackupFile {
    path: PathBuf,
    file: std::fs::File,
    bytes: u64,
}

impl BackupFile {
    pub(crate) fn create(path: &Path) -> Result<Self, Failure> {
        Ok(Self {
            path: path.to_owned(),
            file: create_private(path).map_err(local("creating the backup file"))?,
            bytes: 0,
        })
    }

    pub(crate) fn append(&mut self, data: &[u8]) -> Result<(), Failure> {
        self.file
            .write_all(data)
            .map_err(local("writing the backup file"))?;
        self.bytes += data.len() as u64;
        Ok(())
    }

    /// Removes the file of a backup that failed half-way: it would not restore.
    pub(crate) fn discard(self) {
        drop(self.file);
        // Best effort: the failure that led here is the one to report.
        let _ = std::fs::remove_file(&self.path);
    }

    /// Syncs the file to disk; its path and size.
    pub(crate) fn finish(self) -> Result<(PathBuf, u64), Failure> {
        self.file
            .sync_all()
            .map_err(local("writing the backup file"))?;
        Ok((self.path, self.bytes))
    }
}

/// One share read from its custodian and checked for typos, in canonical form.
pub(crate) struct TypedShare {
    text: Zeroizing<String>,
}

impl TypedShare {
    /// Reads a share from `file` ("-" is standard input), or prompts for it without echo.
    /// A mistyped share is refused here, naming the group to look at, and is never sent.
    pub(crate) fn read(file: Option<&Path>) -> Result<Self, Failure> {
        let raw = match file {
            None => prompt()?,
            Some(path) if path == Path::new("-") => read_bounded(io::stdin().lock())?,
            Some(path) => {
                read_bounded(std::fs::File::open(path).map_err(local("opening the share file"))?)?
            }
        };
        let share = shamir::Share::parse(&raw).map_err(Failure::Share)?;
        Ok(Self {
            text: Zeroizing::new(share.to_string()),
        })
    }

    /// The unseal request carrying this share; the request wipes it when dropped.
    pub(crate) fn into_request(self) -> v1::UnsealRequest {
        v1::UnsealRequest {
            share: self.into_text(),
        }
    }

    /// The share's text, for a request that carries several (rekey); the request wipes it
    /// when dropped.
    pub(crate) fn into_text(mut self) -> String {
        std::mem::take(&mut *self.text)
    }
}

fn prompt() -> Result<Zeroizing<String>, Failure> {
    rpassword::prompt_password("Unseal share (input hidden): ")
        .map(Zeroizing::new)
        .map_err(local(
            "prompting for the share (no terminal? use --share-file)",
        ))
}

fn read_bounded(reader: impl Read) -> Result<Zeroizing<String>, Failure> {
    let mut text = Zeroizing::new(String::with_capacity(MAX_SHARE_FILE_BYTES as usize + 1));
    reader
        .take(MAX_SHARE_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(local("reading the share"))?;
    if text.len() as u64 > MAX_SHARE_FILE_BYTES {
        return Err(Failure::Local {
            context: "reading the share",
            source: io::Error::new(
                io::ErrorKind::InvalidData,
                "the input is larger than any share",
            ),
        });
    }
    Ok(text)
}

fn create_private(path: &Path) -> io::Result<std::fs::File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

fn local(context: &'static str) -> impl Fn(io::Error) -> Failure {
    move |source| Failure::Local { context, source }
}
