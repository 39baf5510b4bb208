//! A simulated disk that loses power: files (inodes) and directories, each keeping what was
//! synced apart from what was only written, and the states a power cut may leave.
//!
//! The model is a journaling file system's promises and no more:
//! * a file's data is durable once the file is synced (`fdatasync`); until then a cut may
//!   leave any of its unsynced writes, torn (a prefix of a write), reordered (any subset of
//!   its 512-byte sectors, older data never landing over newer), or lost with the file's
//!   length grown (zeros where it grew);
//! * a directory's names (files created, renamed over, removed, directories made) are
//!   durable once that directory is synced; until then a cut keeps an in-order prefix of
//!   them (the journal replays in order, a rename whole or not at all), independently of
//!   every other directory; a directory whose own name is lost takes its files with it;
//! * `syncfs` makes everything durable.
//!
//! Every write and sync is one *operation*. Power is cut at a chosen operation: that
//! operation and every later one fails, and the operation itself stays unsynced (it may or
//! may not have reached the disk). [`Disk::after_cut`] (in `loss`) then builds the disk a
//! reboot finds.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// What a directory names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    File(usize),
    Dir,
}

#[derive(Debug, Clone)]
pub(super) enum Change {
    Write { at: usize, data: Vec<u8> },
    SetLen(usize),
}

#[derive(Debug, Clone)]
pub(super) enum NameChange {
    Link(String, Entry),
    Unlink(String),
    Rename(String, String),
}

/// A value kept twice, as last synced and as the process sees it, with the changes made
/// between the two in order.
#[derive(Debug, Clone)]
pub(super) struct Synced<T, C> {
    pub(super) durable: T,
    pub(super) live: T,
    pub(super) pending: Vec<C>,
}

/// A change to a `T`.
pub(super) trait Apply<T> {
    fn apply(&self, to: &mut T);
}

/// A file's content.
pub(super) type Inode = Synced<Vec<u8>, Change>;
/// A directory's names.
pub(super) type Directory = Synced<BTreeMap<String, Entry>, NameChange>;

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(super) inodes: Vec<Inode>,
    pub(super) dirs: BTreeMap<PathBuf, Directory>,
    /// Operations so far.
    ops: u64,
    /// Operations so far by kind ([`Op`]).
    counts: [u64; 3],
    /// The operation at which power is cut.
    cut_at: Option<u64>,
    dead: bool,
    /// Syncs do nothing: a store that never syncs, which the checks must catch.
    syncs_ignored: bool,
}

/// The kinds of operations, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// A write to a file, or a change of its length.
    Write = 0,
    /// A sync of a file, a directory or the file system.
    Sync = 1,
    /// A change of names: a file created, renamed or removed, a directory made.
    Name = 2,
}

/// A disk shared by the stores of one test, behind one lock.
#[derive(Debug, Default)]
pub(crate) struct Disk {
    pub(super) state: Mutex<State>,
}

pub(crate) fn power_lost() -> io::Error {
    io::Error::other("power lost (simulated)")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{}", path.display()))
}

impl Disk {
    /// A disk holding the durable, empty directory `root` (and its parents).
    pub(crate) fn with_root(root: &Path) -> Disk {
        let disk = Disk::default();
        let mut state = disk.state.lock();
        state
            .dirs
            .insert(PathBuf::from("/"), Directory::settled(BTreeMap::new()));
        let mut at = PathBuf::from("/");
        for part in root.components().skip(1) {
            let name = part.as_os_str().to_string_lossy().into_owned();
            let parent = state.dirs.get_mut(&at).expect("parent made first");
            parent.durable.insert(name.clone(), Entry::Dir);
            parent.live.insert(name, Entry::Dir);
            at.push(part);
            state
                .dirs
                .insert(at.clone(), Directory::settled(BTreeMap::new()));
        }
        drop(state);
        disk
    }

    /// A disk holding these files and directories, all durable.
    pub(super) fn holding(inodes: Vec<Inode>, dirs: BTreeMap<PathBuf, Directory>) -> Disk {
        Disk {
            state: Mutex::new(State {
                inodes,
                dirs,
                ..State::default()
            }),
        }
    }

    /// Cuts power at operation `op` (counted from now on: 1 is the next one).
    pub(crate) fn cut_at(&self, op: u64) {
        let mut state = self.state.lock();
        state.cut_at = Some(state.ops + op);
    }

    /// Makes every sync do nothing from now on.
    pub(crate) fn ignore_syncs(&self) {
        self.state.lock().syncs_ignored = true;
    }

    /// Operations so far by kind: writes, syncs, changes of names.
    pub(crate) fn counts(&self) -> [u64; 3] {
        self.state.lock().counts
    }

    /// Operations so far, and whether power was cut.
    pub(crate) fn ops(&self) -> (u64, bool) {
        let state = self.state.lock();
        (state.ops, state.dead)
    }

    /// A read: fails once power is cut.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&State) -> io::Result<R>) -> io::Result<R> {
        let state = self.state.lock();
        if state.dead {
            return Err(power_lost());
        }
        f(&state)
    }

    /// One operation: fails once power is cut; at the cut, its changes are made (unsynced)
    /// but a sync's are not, and it fails.
    fn op<R: Default>(&self, op: Op, f: impl FnOnce(&mut State) -> io::Result<R>) -> io::Result<R> {
        let sync = op == Op::Sync;
        let mut state = self.state.lock();
        if state.dead {
            return Err(power_lost());
        }
        state.ops += 1;
        state.counts[op as usize] += 1;
        if state.cut_at == Some(state.ops) {
            state.dead = true;
            if !sync {
                let _ = f(&mut state);
            }
            return Err(power_lost());
        }
        match sync && state.syncs_ignored {
            true => Ok(R::default()),
            false => f(&mut state),
        }
    }

    pub(crate) fn write(&self, ino: usize, at: u64, data: &[u8]) -> io::Result<()> {
        self.op(Op::Write, |state| {
            let at = usize::try_from(at).map_err(io::Error::other)?;
            state.inodes[ino].change(Change::Write {
                at,
                data: data.to_vec(),
            });
            Ok(())
        })
    }

    pub(crate) fn set_len(&self, ino: usize, len: u64) -> io::Result<()> {
        self.op(Op::Write, |state| {
            let len = usize::try_from(len).map_err(io::Error::other)?;
            state.inodes[ino].change(Change::SetLen(len));
            Ok(())
        })
    }

    pub(crate) fn sync_file(&self, ino: usize) -> io::Result<()> {
        self.op(Op::Sync, |state| {
            state.inodes[ino].sync();
            Ok(())
        })
    }

    /// Creates the file `name` in `dir`: `AlreadyExists` if the name is taken.
    pub(crate) fn create(&self, dir: &Path, name: &str) -> io::Result<usize> {
        self.op(Op::Name, |state| {
            let ino = state.inodes.len();
            let directory = state.dir_mut(dir)?;
            if directory.live.contains_key(name) {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            directory.change(NameChange::Link(name.to_owned(), Entry::File(ino)));
            state.inodes.push(Inode::settled(Vec::new()));
            Ok(ino)
        })
    }

    pub(crate) fn rename(&self, dir: &Path, from: &str, to: &str) -> io::Result<()> {
        self.op(Op::Name, |state| {
            state
                .file(dir, from)?
                .ok_or_else(|| not_found(&dir.join(from)))?;
            state.file(dir, to)?;
            state
                .dir_mut(dir)?
                .change(NameChange::Rename(from.to_owned(), to.to_owned()));
            Ok(())
        })
    }

    pub(crate) fn remove(&self, dir: &Path, name: &str) -> io::Result<()> {
        self.op(Op::Name, |state| {
            state
                .file(dir, name)?
                .ok_or_else(|| not_found(&dir.join(name)))?;
            state
                .dir_mut(dir)?
                .change(NameChange::Unlink(name.to_owned()));
            Ok(())
        })
    }

    /// Makes the directory `path`, whose parent must exist.
    pub(crate) fn make_dir(&self, path: &Path) -> io::Result<()> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io::ErrorKind::InvalidInput.into());
        };
        let name = name.to_string_lossy().into_owned();
        self.op(Op::Name, |state| {
            let directory = state.dir_mut(parent)?;
            if directory.live.contains_key(&name) {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            directory.change(NameChange::Link(name, Entry::Dir));
            state
                .dirs
                .insert(path.to_path_buf(), Directory::settled(BTreeMap::new()));
            Ok(())
        })
    }

    pub(crate) fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.op(Op::Sync, |state| {
            state.dir_mut(dir)?.sync();
            Ok(())
        })
    }

    pub(crate) fn sync_all(&self) -> io::Result<()> {
        self.op(Op::Sync, |state| {
            state.inodes.iter_mut().for_each(Inode::sync);
            state.dirs.values_mut().for_each(Directory::sync);
            Ok(())
        })
    }
}

impl State {
    pub(crate) fn dir(&self, path: &Path) -> io::Result<&BTreeMap<String, Entry>> {
        self.dirs
            .get(path)
            .map(|directory| &directory.live)
            .ok_or_else(|| not_found(path))
    }

    fn dir_mut(&mut self, path: &Path) -> io::Result<&mut Directory> {
        self.dirs.get_mut(path).ok_or_else(|| not_found(path))
    }

    /// The file `name` in the directory `dir` names, if any; `IsADirectory` if it names a
    /// directory.
    pub(crate) fn file(&self, dir: &Path, name: &str) -> io::Result<Option<usize>> {
        match self.dir(dir)?.get(name) {
            Some(Entry::File(ino)) => Ok(Some(*ino)),
            Some(Entry::Dir) => Err(io::ErrorKind::IsADirectory.into()),
            None => Ok(None),
        }
    }

    /// What the file `ino` holds now.
    pub(crate) fn data(&self, ino: usize) -> &[u8] {
        &self.inodes[ino].live
    }
}

impl<T: Clone, C: Apply<T>> Synced<T, C> {
    /// `value`, synced.
    pub(super) fn settled(value: T) -> Self {
        Synced {
            durable: value.clone(),
            live: value,
            pending: Vec::new(),
        }
    }

    fn change(&mut self, change: C) {
        change.apply(&mut self.live);
        self.pending.push(change);
    }

    fn sync(&mut self) {
        self.durable.clone_from(&self.live);
        self.pending.clear();
    }
}

impl Apply<Vec<u8>> for Change {
    fn apply(&self, data: &mut Vec<u8>) {
        match self {
            Change::Write { at, data: written } => Change::write(data, *at, written),
            Change::SetLen(len) => data.resize(*len, 0),
        }
    }
}

impl Change {
    pub(super) fn write(data: &mut Vec<u8>, at: usize, written: &[u8]) {
        if data.len() < at + written.len() {
            data.resize(at + written.len(), 0);
        }
        data[at..at + written.len()].copy_from_slice(written);
    }
}

impl Apply<BTreeMap<String, Entry>> for NameChange {
    fn apply(&self, names: &mut BTreeMap<String, Entry>) {
        match self {
            NameChange::Link(name, entry) => {
                names.insert(name.clone(), *entry);
            }
            NameChange::Unlink(name) => {
                names.remove(name);
            }
            NameChange::Rename(from, to) => {
                if let Some(entry) = names.remove(from) {
                    names.insert(to.clone(), entry);
                }
            }
        }
    }
}
