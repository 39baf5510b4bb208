//! The large records of a `RedbStore`, as files beside its database (`{file}.blobs/`).
//!
//! A B-tree stores a large value in pages rounded up to a power of two, and copy-on-write
//! keeps the old pages of a replaced value until the next commit: a store of large records
//! would take up to twice their size on disk, more while a run replaces them. So a record of
//! at least [`super::LARGE_RECORD`] bytes is written to a file of its own, and the database
//! keeps a *pointer* to it: `b"DFLB"`, the record's length (u64, little-endian) and the
//! file's name. The file holds the whole record, checksum included, so reading it back
//! checks it as any record is checked.
//!
//! Protocol: the file is written under a name never used before and synced, its directory
//! synced, and only then is the pointer committed; a replaced or removed record's file is
//! deleted once the commit that dropped its pointer is durable. A crash therefore leaves
//! every committed pointer with its file, and at worst files no pointer names, which the
//! next open deletes.

use super::fs::{self, Dir, FileSystem};
use super::Found;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

const POINTER_MAGIC: &[u8; 4] = b"DFLB";

/// The pointer a database keeps for a record stored in the file `name`.
pub(crate) fn pointer(name: &str, len: u64) -> Vec<u8> {
    let mut pointer = Vec::with_capacity(12 + name.len());
    pointer.extend_from_slice(POINTER_MAGIC);
    pointer.extend_from_slice(&len.to_le_bytes());
    pointer.extend_from_slice(name.as_bytes());
    pointer
}

/// The record length and file name in `value`, if it is a pointer.
pub(crate) fn parse_pointer(value: &[u8]) -> Option<(u64, &str)> {
    let rest = value.strip_prefix(POINTER_MAGIC)?;
    let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    let name = std::str::from_utf8(&rest[8..]).ok()?;
    Some((len, name))
}

/// The directory of a database's large records.
pub(crate) struct Blobs {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    /// The directory, opened (and created) on the first write, or opened by a read.
    handle: OnceLock<Arc<dyn Dir>>,
    /// Starts every file name this handle writes: a clock reading, so names never repeat
    /// across processes, then a counter.
    prefix: String,
    next: AtomicU64,
}

impl Blobs {
    /// The large records of the database at `db`, on `fs`.
    pub(crate) fn beside(db: &Path, fs: Arc<dyn FileSystem>) -> Self {
        let mut dir = db.as_os_str().to_owned();
        dir.push(".blobs");
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self {
            fs,
            dir: PathBuf::from(dir),
            handle: OnceLock::new(),
            prefix: format!("{nonce:016x}-"),
            next: AtomicU64::new(0),
        }
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory, opened (with `create`, created durably first if missing).
    fn handle(&self, create: bool) -> io::Result<&dyn Dir> {
        if let Some(handle) = self.handle.get() {
            return Ok(&**handle);
        }
        let handle = match create {
            true => fs::create_dir_durably(&*self.fs, &self.dir)?,
            false => self.fs.open_dir(&self.dir)?,
        };
        Ok(&**self.handle.get_or_init(|| handle))
    }

    /// Writes `record` to a new file and syncs it; returns the file's name. The directory
    /// must be synced ([`Blobs::sync_dir`]) before a pointer to the file is committed.
    pub(crate) fn write(&self, record: &[u8]) -> io::Result<String> {
        let dir = self.handle(true)?;
        let name = format!(
            "{}{:08x}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        match dir.write_new(&name, record, true) {
            Ok(()) => Ok(name),
            Err(e) => {
                let _ = dir.remove(&name);
                Err(e)
            }
        }
    }

    /// Makes the names of the files written so far durable.
    pub(crate) fn sync_dir(&self) -> io::Result<()> {
        self.handle(true)?.sync()
    }

    /// The record in file `name` (a pointer of `key` names it).
    pub(crate) fn read(&self, key: &str, name: &str) -> io::Result<Vec<u8>> {
        let found = self.handle(false).and_then(|dir| dir.read(name, u64::MAX));
        let error = match found {
            Ok(Found::Record(record)) => return Ok(record),
            Ok(_) => io::Error::from(io::ErrorKind::NotFound),
            Err(e) => e,
        };
        let what = format!(
            "the record of key {key:?} is kept in {}, which cannot be opened ({error}); \
             remove the key (`duraflow rm`) to compute it again",
            self.dir.join(name).display()
        );
        Err(io::Error::new(error.kind(), what))
    }

    /// Deletes files that no durable commit names: those a commit replaced or removed, or
    /// those written for a commit that failed. A file left by a crash in between is swept on
    /// the next open.
    pub(crate) fn delete(&self, names: &[String]) {
        if let (false, Ok(dir)) = (names.is_empty(), self.handle(false)) {
            for name in names {
                let _ = dir.remove(name);
            }
        }
    }

    /// Deletes every file that `referenced` does not name: those of commits a crash lost,
    /// and those whose deletion it interrupted. Returns how many were deleted.
    pub(crate) fn sweep(&self, referenced: impl Fn(&str) -> io::Result<bool>) -> io::Result<usize> {
        let dir = match self.handle(false) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut deleted = 0;
        for name in dir.names()? {
            if !referenced(&name)? {
                dir.remove(&name)?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_read_back_and_records_are_not_pointers() {
        let p = pointer("0000-01", 1 << 40);
        assert_eq!(parse_pointer(&p), Some((1 << 40, "0000-01")));
        assert_eq!(parse_pointer(b"DFLW\x03rest of a record"), None);
        assert_eq!(parse_pointer(b"DFLB"), None);
    }

    #[test]
    fn written_files_read_back_and_unreferenced_ones_are_swept() {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = Blobs::beside(&tmp.path().join("db.redb"), Arc::new(fs::StdFs));
        let kept = blobs.write(b"kept record").unwrap();
        let lost = blobs.write(b"lost record").unwrap();
        blobs.sync_dir().unwrap();
        assert_ne!(kept, lost);
        assert_eq!(blobs.read("k", &kept).unwrap(), b"kept record");
        let deleted = blobs.sweep(|name| Ok(name == kept)).unwrap();
        assert_eq!(deleted, 1);
        let error = blobs.read("lost-key", &lost).unwrap_err();
        assert!(error.to_string().contains("\"lost-key\""), "{error}");
        blobs.delete(std::slice::from_ref(&kept));
        assert!(blobs.read("k", &kept).is_err());
    }
}
