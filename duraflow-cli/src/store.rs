//! Opening a store by path, and walking its records.

use crate::error::Fatal;
use crate::format::printable_key;
use duraflow::codec::{self, RecordView};
use duraflow::{DuraflowError, FileStore, RedbReader, RedbStore, Storage};
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A store opened for inspection.
pub enum Store {
    /// A directory with one file per key.
    File(Arc<FileStore>),
    /// A redb database file.
    Redb(Arc<RedbStore>),
    /// A redb database file opened read-only, beside the process that may hold it.
    RedbReader(Arc<RedbReader>),
}

/// Something in a store that should be a record.
pub enum Item {
    /// The record of a listed key.
    Key(String),
    /// A file in a `FileStore` directory that is the file of no listed key: a long-key record
    /// that does not parse or sits under another key's name, or a file duraflow did not write.
    /// `FileStore::keys` skips such files, so they are found by scanning the directory.
    StrayFile(PathBuf),
}

impl Item {
    /// How the item is named in output: its key, or `<file NAME>`.
    pub fn label(&self) -> String {
        match self {
            Item::Key(key) => printable_key(key).into_owned(),
            Item::StrayFile(path) => format!(
                "<file {}>",
                path.file_name().unwrap_or_default().to_string_lossy()
            ),
        }
    }
}

impl Store {
    /// Opens the store at `path` without creating anything: a directory as a `FileStore`,
    /// a file as a `RedbStore`. Nothing in the store is changed by opening it.
    pub fn open(path: &Path) -> Result<Self, DuraflowError> {
        if path.is_dir() {
            FileStore::open_existing(path).map(|s| Self::File(Arc::new(s)))
        } else if path.exists() {
            RedbStore::open_existing(path).map(|s| Self::Redb(Arc::new(s)))
        } else {
            Err(DuraflowError::NotAStore {
                path: path.to_path_buf(),
                reason: "no such file or directory".into(),
            })
        }
    }

    /// Opens the store at `path` for reading only: as [`Store::open`], but a `RedbStore`
    /// file is opened read-only, so that it can be read while a running process holds it.
    /// (A file that a crashed writer left needing a repair is opened for writing instead,
    /// which repairs it, when no process holds it.)
    pub fn open_read_only(path: &Path) -> Result<Self, DuraflowError> {
        if !path.is_file() {
            return Self::open(path);
        }
        match RedbReader::open(path) {
            Ok(reader) => Ok(Self::RedbReader(Arc::new(reader))),
            Err(DuraflowError::Open { .. }) => Self::open(path),
            Err(error) => Err(error),
        }
    }

    /// The path the store was opened at.
    pub fn path(&self) -> &Path {
        match self {
            Store::File(files) => files.dir(),
            Store::Redb(db) => db.path(),
            Store::RedbReader(db) => db.path(),
        }
    }

    /// The store as a [`Storage`].
    pub fn storage(&self) -> &dyn Storage {
        match self {
            Store::File(files) => &**files,
            Store::Redb(db) => &**db,
            Store::RedbReader(db) => &**db,
        }
    }

    /// A context over the store, for the library's last-used times and sweeps.
    pub fn context(&self) -> duraflow::Context {
        match self {
            Store::File(files) => duraflow::Context::new(Arc::clone(files)),
            Store::Redb(db) => duraflow::Context::new(Arc::clone(db)),
            Store::RedbReader(db) => duraflow::Context::new(Arc::clone(db)),
        }
    }

    /// Every run the store's journal keeps, oldest first.
    pub fn context_runs(&self) -> Result<Vec<duraflow::RunEntry>, Fatal> {
        Ok(duraflow::RunEntry::all(self.storage())?)
    }

    /// The record of `key`, after checking that `key` is a valid key.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Fatal> {
        duraflow::validate_key(key).map_err(|reason| DuraflowError::InvalidKey {
            key: key.chars().take(200).collect(),
            reason,
        })?;
        self.storage().get(key).map_err(|source| {
            Fatal::from(DuraflowError::Load {
                key: key.to_owned(),
                source,
            })
        })
    }

    /// Removes the records of `keys` durably (one flush for them all).
    pub fn remove(&self, keys: &[&str]) -> Result<(), Fatal> {
        let failed = |key: String, source: io::Error| DuraflowError::Remove { key, source };
        for key in keys {
            self.storage()
                .remove(key)
                .map_err(|source| failed((*key).to_owned(), source))?;
        }
        self.storage()
            .flush()
            .map_err(|write| failed(write.key, write.source))?;
        Ok(())
    }

    /// Calls `visit` with every record, its bytes and the result of [`Store::check`]: the
    /// listed keys in order, then the stray files of a `FileStore`.
    pub fn for_each_record(
        &self,
        mut visit: impl FnMut(&Item, &[u8], Result<RecordView<'_>, String>) -> Result<(), Fatal>,
    ) -> Result<(), Fatal> {
        for item in self.items()? {
            // A record removed since the listing is skipped.
            if let Some(bytes) = self.read(&item)? {
                visit(&item, &bytes, self.check(&item, &bytes))?;
            }
        }
        Ok(())
    }

    /// Checks `bytes` as the record of `item`: structure and checksum (`codec::parse`), and
    /// that the record is stored where its key belongs, as duraflow checks before decoding.
    pub fn check<'a>(&self, item: &Item, bytes: &'a [u8]) -> Result<RecordView<'a>, String> {
        let view = codec::parse(bytes)?;
        match item {
            Item::Key(key) if view.key == key => Ok(view),
            Item::Key(_) => Err(format!(
                "the record belongs to key {:?}, not to this key",
                view.key
            )),
            Item::StrayFile(_) => Err(format!(
                "a record of key {:?} in a file that is not the file of that key",
                view.key
            )),
        }
    }

    /// The sorted keys, then (for a `FileStore`) the sorted stray files.
    fn items(&self) -> Result<Vec<Item>, Fatal> {
        let list_error =
            |e: io::Error| Fatal::new(format!("could not list {}: {e}", self.path().display()));
        let listed = self.storage().list().map_err(list_error)?;
        let mut keys: Vec<String> = listed.into_iter().map(|listed| listed.key).collect();
        keys.sort();
        let stray = match self {
            Store::File(files) => stray_files(files, &keys).map_err(list_error)?,
            Store::Redb(_) | Store::RedbReader(_) => Vec::new(),
        };
        let keys = keys.into_iter().map(Item::Key);
        Ok(keys.chain(stray.into_iter().map(Item::StrayFile)).collect())
    }

    /// The bytes of `item`, or `None` when it is gone.
    fn read(&self, item: &Item) -> Result<Option<Vec<u8>>, Fatal> {
        match item {
            Item::Key(key) => self.get(key),
            Item::StrayFile(path) => match fs::read(path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Fatal::new(format!(
                    "could not read {}: {e}",
                    path.display()
                ))),
            },
        }
    }
}

/// Regular files of the store directory that are the file of none of `keys`, except the
/// dot files (the store marker and temp files).
fn stray_files(files: &FileStore, keys: &[String]) -> io::Result<Vec<PathBuf>> {
    let known: HashSet<PathBuf> = keys.iter().map(|key| files.path_of(key)).collect();
    let mut stray = Vec::new();
    for entry in fs::read_dir(files.dir())? {
        let entry = entry?;
        let path = entry.path();
        if !entry.file_name().as_encoded_bytes().starts_with(b".")
            && path.is_file()
            && !known.contains(&path)
        {
            stray.push(path);
        }
    }
    stray.sort();
    Ok(stray)
}
