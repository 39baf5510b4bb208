//! The stores under test, opened on a simulated disk through their seams.

use super::disk::Disk;
use super::sim::SimFs;
use crate::{Context, DuraflowError, FileStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The directory the stores live in.
const ROOT: &str = "/power";

/// A store kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    #[cfg(feature = "redb")]
    Redb,
}

impl Kind {
    /// The store's directory (`FileStore`) or database file (`RedbStore`).
    pub(crate) fn path(self) -> PathBuf {
        match self {
            Kind::File => Path::new(ROOT).join("store"),
            #[cfg(feature = "redb")]
            Kind::Redb => Path::new(ROOT).join("store.redb"),
        }
    }

    /// A fresh disk for the store: its parent directory, and for `RedbStore` a database
    /// file, created whole as `RedbStore::open` creates one (under a temp name, then linked).
    pub(crate) fn disk(self) -> Arc<Disk> {
        let disk = Arc::new(Disk::with_root(Path::new(ROOT)));
        #[cfg(feature = "redb")]
        if self == Kind::Redb {
            drop(self.open(&disk, false).expect("a new database opens"));
        }
        disk
    }

    /// Opens the store as a run does, creating it if needed; with `every_batch_durable`, a
    /// `RedbStore` syncs every batch (no sync window).
    pub(crate) fn open(
        self,
        disk: &Arc<Disk>,
        every_batch_durable: bool,
    ) -> Result<Context, DuraflowError> {
        let fs = SimFs(Arc::clone(disk));
        match self {
            Kind::File => FileStore::new_on(&fs, &self.path()).map(Context::new),
            #[cfg(feature = "redb")]
            Kind::Redb => {
                let path = self.path();
                let file = super::sim::SimFile::open(disk, &path).map_err(|source| {
                    DuraflowError::Open {
                        path: path.clone(),
                        source,
                    }
                })?;
                let store = crate::RedbStore::open_on(&path, file, Arc::new(fs))?;
                Ok(Context::new(match every_batch_durable {
                    true => store.sync_window(None),
                    false => store,
                }))
            }
        }
    }

    /// Opens the store as a tool does, without creating anything.
    pub(crate) fn open_existing(self, disk: &Arc<Disk>) -> Result<Context, DuraflowError> {
        match self {
            Kind::File => FileStore::open_existing_on(&SimFs(Arc::clone(disk)), &self.path())
                .map(Context::new),
            #[cfg(feature = "redb")]
            Kind::Redb => self.open(disk, false),
        }
    }
}
