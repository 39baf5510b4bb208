//! A `Storage` wrapper that fails, delays or panics on the k-th operation, for fault tests.

use duraflow::{FailedWrite, Storage};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What happens at the chosen operation.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// The operation returns this OS error (e.g. `libc::ENOSPC`, `libc::EIO`).
    Error(i32),
    /// The operation sleeps, then proceeds.
    Delay(Duration),
}

/// Wraps a store; operation number `at` (counting every call from 0) gets `fault`.
pub struct FaultyStore {
    inner: Arc<dyn Storage + Send + Sync>,
    at: usize,
    fault: Fault,
    count: AtomicUsize,
    last_put: Mutex<String>,
}

/// The name of each operation, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `get`
    Get,
    /// `get_many`
    GetMany,
    /// `put`
    Put,
    /// `remove`
    Remove,
    /// `flush`
    Flush,
    /// `keys`
    Keys,
}

impl FaultyStore {
    /// `fault` at operation `at` of `inner`.
    pub fn new(inner: Arc<dyn Storage + Send + Sync>, at: usize, fault: Fault) -> Self {
        Self {
            inner,
            at,
            fault,
            count: AtomicUsize::new(0),
            last_put: Mutex::default(),
        }
    }

    /// Operations seen so far.
    pub fn operations(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    fn step(&self, _op: Op) -> io::Result<()> {
        if self.count.fetch_add(1, Ordering::SeqCst) != self.at {
            return Ok(());
        }
        match self.fault {
            Fault::Error(code) => Err(io::Error::from_raw_os_error(code)),
            Fault::Delay(pause) => {
                std::thread::sleep(pause);
                Ok(())
            }
        }
    }
}

impl Storage for FaultyStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.step(Op::Get)?;
        self.inner.get(key)
    }
    fn get_many(&self, keys: &[&str]) -> io::Result<Vec<Option<Vec<u8>>>> {
        self.step(Op::GetMany)?;
        self.inner.get_many(keys)
    }
    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.step(Op::Put)?;
        *self.last_put.lock().unwrap_or_else(|e| e.into_inner()) = key.to_owned();
        self.inner.put(key, record)
    }
    fn remove(&self, key: &str) -> io::Result<()> {
        self.step(Op::Remove)?;
        self.inner.remove(key)
    }
    fn flush(&self) -> Result<(), FailedWrite> {
        // A failing flush leaves the latest write not durable: that is the key it names.
        self.step(Op::Flush).map_err(|source| FailedWrite {
            key: self
                .last_put
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            source,
        })?;
        self.inner.flush()
    }
    fn keys(&self) -> io::Result<Vec<String>> {
        self.step(Op::Keys)?;
        self.inner.keys()
    }
    fn is_blocking(&self) -> bool {
        self.inner.is_blocking()
    }
}
