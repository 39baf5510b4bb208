//! A store that tells a test when a removal or a claim is asked of it, and otherwise is the
//! store it wraps.

use duraflow::{Claim, FailedWrite, Found, Listed, Storage};
use std::io;

/// A call [`Watched`] reports, with its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `Storage::remove`.
    Remove,
    /// `Storage::claim`.
    Claim,
}

/// What [`Watched`] tells of each call.
pub type Watch = Box<dyn Fn(Call, &str) + Send + Sync>;

/// `inner`, calling `watch` before each removal and claim.
pub struct Watched<S> {
    /// The store.
    pub inner: S,
    /// Told of each call before it is made.
    pub watch: Watch,
}

impl<S: Storage> Storage for Watched<S> {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn get_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        self.inner.get_many(keys, limit)
    }
    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.inner.put(key, record)
    }
    fn remove(&self, key: &str) -> io::Result<()> {
        (self.watch)(Call::Remove, key);
        self.inner.remove(key)
    }
    fn flush(&self) -> Result<(), FailedWrite> {
        self.inner.flush()
    }
    fn list(&self) -> io::Result<Vec<Listed>> {
        self.inner.list()
    }
    fn is_blocking(&self) -> bool {
        self.inner.is_blocking()
    }
    fn coordinates(&self) -> bool {
        self.inner.coordinates()
    }
    fn claim(&self, key: &str, stale: Option<&[u8]>) -> io::Result<Claim> {
        (self.watch)(Call::Claim, key);
        self.inner.claim(key, stale)
    }
    fn release(&self, key: &str) -> io::Result<()> {
        self.inner.release(key)
    }
}
