//! The file-system calls of the stores that keep records in files (`FileStore`, and the large
//! records of `RedbStore`), behind one small interface: [`FileSystem`] creates and opens
//! directories, and a [`Dir`] works inside one. [`StdFs`] is the real one, on `std::fs`, and
//! keeps each directory open, so a directory sync costs one system call; the power-loss
//! tests put a simulated disk behind the same interface.

use super::Found;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Creates and opens directories.
pub(crate) trait FileSystem: Send + Sync + 'static {
    /// Creates the directory `path` and its missing parents (no error if it exists). Their
    /// names are not durable until their parents are synced ([`create_dir_durably`]).
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Opens the directory `path`: `NotFound` if there is none.
    fn open_dir(&self, path: &Path) -> io::Result<Arc<dyn Dir>>;
}

/// One open directory, and the files in it by name.
pub(crate) trait Dir: Send + Sync {
    /// The directory's path.
    fn path(&self) -> &Path;
    /// Creates the file `name`, which must not exist (`AlreadyExists`), holding `data`; with
    /// `sync`, makes its data durable (its name needs [`Dir::sync`]).
    fn write_new(&self, name: &str, data: &[u8], sync: bool) -> io::Result<()>;
    /// Renames the file `from` to `to`, replacing any file there, atomically.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Removes the file `name`: `NotFound` if there is none.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes the directory's names durable: the files created, renamed and removed in it.
    fn sync(&self) -> io::Result<()>;
    /// Makes everything written to the directory's file system durable, data and names
    /// (Linux's `syncfs`); `Unsupported` elsewhere.
    fn sync_file_system(&self) -> io::Result<()>;
    /// The content of the file `name`: [`Found::Absent`] if there is none, [`Found::Unread`]
    /// if it is longer than `limit`.
    fn read(&self, name: &str, limit: u64) -> io::Result<Found>;
    /// The length of the file `name`, if there is one.
    fn size(&self, name: &str) -> io::Result<Option<u64>>;
    /// The names in the directory that are UTF-8 (others are no store's), in no order.
    fn names(&self) -> io::Result<Vec<String>>;
}

/// Creates the directory `path` and its missing parents, each name made durable by a sync of
/// its parent, and opens it.
pub(crate) fn create_dir_durably(fs: &dyn FileSystem, path: &Path) -> io::Result<Arc<dyn Dir>> {
    match fs.open_dir(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        opened => return opened,
    }
    // The missing directories, outermost last.
    let mut missing = vec![path];
    while let Some(parent) = missing.last().and_then(|dir| parent_of(dir)) {
        match fs.open_dir(parent) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(parent),
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    fs.create_dir_all(path)?;
    for dir in missing.iter().rev() {
        fs.open_dir(parent_of(dir).unwrap_or(Path::new(".")))?
            .sync()?;
    }
    fs.open_dir(path)
}

/// The directory holding `path` (`.` for a bare name), or `None` at a root.
pub(crate) fn parent_of(path: &Path) -> Option<&Path> {
    match path.parent() {
        Some(parent) if parent.as_os_str().is_empty() => Some(Path::new(".")),
        parent => parent,
    }
}

/// The real file system.
pub(crate) struct StdFs;

impl FileSystem for StdFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn open_dir(&self, path: &Path) -> io::Result<Arc<dyn Dir>> {
        let handle = File::open(path)?;
        if !handle.metadata()?.is_dir() {
            let what = format!("{} is not a directory", path.display());
            return Err(io::Error::new(io::ErrorKind::NotFound, what));
        }
        Ok(Arc::new(StdDir {
            path: path.to_path_buf(),
            handle,
        }))
    }
}

/// A directory of the real file system, kept open for its syncs.
struct StdDir {
    path: PathBuf,
    handle: File,
}

impl Dir for StdDir {
    fn path(&self) -> &Path {
        &self.path
    }

    fn write_new(&self, name: &str, data: &[u8], sync: bool) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.path.join(name))?;
        file.write_all(data)?;
        if sync {
            file.sync_data()?;
        }
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.path.join(from), self.path.join(to))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path.join(name))
    }

    fn sync(&self) -> io::Result<()> {
        self.handle.sync_all()
    }

    fn sync_file_system(&self) -> io::Result<()> {
        sync_file_system(&self.handle)
    }

    fn read(&self, name: &str, limit: u64) -> io::Result<Found> {
        let mut file = match File::open(self.path.join(name)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Absent),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len > limit {
            return Ok(Found::Unread);
        }
        let mut record = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.read_to_end(&mut record)?;
        Ok(Found::Record(record))
    }

    fn size(&self, name: &str) -> io::Result<Option<u64>> {
        match fs::symlink_metadata(self.path.join(name)) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn names(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }
}

/// Makes the data of every file written in `dir`'s file system durable.
#[cfg(target_os = "linux")]
fn sync_file_system(dir: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // std has no syncfs. SAFETY: it only reads the descriptor, which `dir` keeps open
    // across the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Without syncfs each file is synced as it is written.
#[cfg(not(target_os = "linux"))]
fn sync_file_system(_: &File) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_created_with_its_parents_and_works_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a").join("b");
        let dir = create_dir_durably(&StdFs, &path).unwrap();
        assert_eq!(dir.path(), path);
        dir.write_new("x", b"12345", true).unwrap();
        let again = dir.write_new("x", b"", false).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        dir.rename("x", "y").unwrap();
        dir.sync().unwrap();
        assert_eq!(dir.read("y", 5).unwrap(), Found::Record(b"12345".to_vec()));
        assert_eq!(dir.read("y", 4).unwrap(), Found::Unread);
        assert_eq!(dir.read("x", 5).unwrap(), Found::Absent);
        assert_eq!(
            (dir.size("y").unwrap(), dir.size("x").unwrap()),
            (Some(5), None)
        );
        assert_eq!(dir.names().unwrap(), ["y"]);
        dir.remove("y").unwrap();
        assert_eq!(dir.remove("y").unwrap_err().kind(), io::ErrorKind::NotFound);
        dir.write_new("f", b"", false).unwrap();
        for not_a_dir in [path.join("f"), path.join("none")] {
            let opened = StdFs.open_dir(&not_a_dir).err().map(|e| e.kind());
            assert_eq!(
                opened,
                Some(io::ErrorKind::NotFound),
                "{}",
                not_a_dir.display()
            );
        }
    }
}
