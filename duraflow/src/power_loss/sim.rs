//! The stores' seams on the simulated [`Disk`]: its directories as a [`FileSystem`], and one
//! of its files as the redb [`StorageBackend`] of a database.

use super::disk::Disk;
use crate::store::fs::{Dir, FileSystem};
use crate::store::Found;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The simulated disk as a file system.
pub(crate) struct SimFs(pub(crate) Arc<Disk>);

impl FileSystem for SimFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut missing = Vec::new();
        let mut at = Some(path);
        while let Some(dir) = at {
            if self.0.read(|state| Ok(state.dir(dir).is_ok()))? {
                break;
            }
            missing.push(dir);
            at = dir.parent();
        }
        for dir in missing.into_iter().rev() {
            self.0.make_dir(dir)?;
        }
        Ok(())
    }

    fn open_dir(&self, path: &Path) -> io::Result<Arc<dyn Dir>> {
        self.0.read(|state| state.dir(path).map(|_| ()))?;
        Ok(Arc::new(SimDir {
            disk: Arc::clone(&self.0),
            path: path.to_path_buf(),
        }))
    }
}

/// A directory of the simulated disk.
struct SimDir {
    disk: Arc<Disk>,
    path: PathBuf,
}

impl SimDir {
    /// The file `name` names, if it names a file.
    fn file(&self, name: &str) -> io::Result<Option<usize>> {
        self.disk.read(|state| state.file(&self.path, name))
    }
}

impl Dir for SimDir {
    fn path(&self) -> &Path {
        &self.path
    }

    fn write_new(&self, name: &str, data: &[u8], sync: bool) -> io::Result<()> {
        let ino = self.disk.create(&self.path, name)?;
        if !data.is_empty() {
            self.disk.write(ino, 0, data)?;
        }
        if sync {
            self.disk.sync_file(ino)?;
        }
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.disk.rename(&self.path, from, to)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.disk.remove(&self.path, name)
    }

    fn sync(&self) -> io::Result<()> {
        self.disk.sync_dir(&self.path)
    }

    fn sync_file_system(&self) -> io::Result<()> {
        self.disk.sync_all()
    }

    fn read(&self, name: &str, limit: u64) -> io::Result<Found> {
        let Some(ino) = self.file(name)? else {
            return Ok(Found::Absent);
        };
        self.disk.read(|state| {
            let data = state.data(ino);
            Ok(match data.len() as u64 > limit {
                true => Found::Unread,
                false => Found::Record(data.to_vec()),
            })
        })
    }

    fn size(&self, name: &str) -> io::Result<Option<u64>> {
        let Some(ino) = self.file(name)? else {
            return Ok(None);
        };
        self.disk
            .read(|state| Ok(Some(state.data(ino).len() as u64)))
    }

    fn names(&self) -> io::Result<Vec<String>> {
        self.disk
            .read(|state| Ok(state.dir(&self.path)?.keys().cloned().collect()))
    }
}

/// A file of the simulated disk as the storage of a redb database.
#[cfg(feature = "redb")]
#[derive(Debug)]
pub(crate) struct SimFile {
    disk: Arc<Disk>,
    ino: usize,
}

#[cfg(feature = "redb")]
impl SimFile {
    /// The file at `path`, created (durably, with its name) if there is none.
    pub(crate) fn open(disk: &Arc<Disk>, path: &Path) -> io::Result<SimFile> {
        let (dir, name) = match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) => (dir, name.to_string_lossy()),
            _ => return Err(io::ErrorKind::InvalidInput.into()),
        };
        let ino = match disk.read(|state| state.file(dir, &name))? {
            Some(ino) => ino,
            None => {
                let ino = disk.create(dir, &name)?;
                disk.sync_dir(dir)?;
                ino
            }
        };
        Ok(SimFile {
            disk: Arc::clone(disk),
            ino,
        })
    }
}

#[cfg(feature = "redb")]
use {redb::BackendError, std::ops::Bound};

#[cfg(feature = "redb")]
impl redb::StorageBackend for SimFile {
    fn len(&self) -> Result<u64, io::Error> {
        self.disk
            .read(|state| Ok(state.data(self.ino).len() as u64))
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.disk.read(|state| {
            let data = state.data(self.ino);
            let at = usize::try_from(offset).map_err(io::Error::other)?;
            let bytes = data
                .get(at..at + out.len())
                .ok_or(io::ErrorKind::UnexpectedEof)?;
            out.copy_from_slice(bytes);
            Ok(())
        })
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.disk.set_len(self.ino, len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.disk.sync_file(self.ino)
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.disk.write(self.ino, offset, data)
    }

    // One process uses the disk, one handle at a time: every lock is granted, none conflicts.
    fn try_lock_range(&self, _: Bound<u64>, _: Bound<u64>) -> Result<bool, BackendError> {
        Ok(true)
    }

    fn try_lock_shared_range(&self, _: Bound<u64>, _: Bound<u64>) -> Result<bool, BackendError> {
        Ok(true)
    }

    fn lock_range(&self, _: Bound<u64>, _: Bound<u64>) -> Result<(), BackendError> {
        Ok(())
    }

    fn lock_shared_range(&self, _: Bound<u64>, _: Bound<u64>) -> Result<(), BackendError> {
        Ok(())
    }

    fn unlock_range(&self, _: Bound<u64>, _: Bound<u64>) -> Result<(), BackendError> {
        Ok(())
    }

    fn query_lock_range(&self, _: Bound<u64>, _: Bound<u64>) -> Result<bool, BackendError> {
        Ok(false)
    }
}
