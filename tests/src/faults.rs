//! A `Storage` wrapper that fails or delays the k-th operation, for fault tests. Every
//! method a real store has passes through it, so a fault can hit any path duraflow takes.

use duraflow::{Claim, FailedWrite, Found, Listed, Storage};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What happens at the chosen operation.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// The operation returns this OS error (e.g. `libc::ENOSPC`, `libc::EIO`).
    Error(i32),
    /// The operation sleeps, then proceeds.
    Delay(Duration),
    /// The operation prints `stopped` on stdout and never returns: its process waits to be
    /// killed there.
    Stop,
}

/// Wraps a store; the operation chosen by its [`Target`] gets `fault`.
pub struct FaultyStore {
    inner: Arc<dyn Storage + Send + Sync>,
    at: Target,
    fault: Fault,
    log: Mutex<Vec<Op>>,
    last_put: Mutex<String>,
}

/// Which operation gets the fault, counting from 0.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The n-th operation of any kind.
    Any(usize),
    /// The n-th operation of this kind.
    Nth(Op, usize),
}

/// The name of each operation, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
    /// `list`
    List,
    /// `claim`
    Claim,
    /// `release`
    Release,
}

impl FaultyStore {
    /// `fault` at operation `at` of `inner`, counting every call from 0.
    pub fn new(inner: Arc<dyn Storage + Send + Sync>, at: usize, fault: Fault) -> Self {
        Self::at(inner, Target::Any(at), fault)
    }

    /// `fault` at the operation of `inner` that `at` chooses.
    pub fn at(inner: Arc<dyn Storage + Send + Sync>, at: Target, fault: Fault) -> Self {
        Self {
            inner,
            at,
            fault,
            log: Mutex::default(),
            last_put: Mutex::default(),
        }
    }

    /// Operations seen so far.
    pub fn operations(&self) -> usize {
        lock(&self.log).len()
    }

    /// Every operation seen so far, in order.
    pub fn log(&self) -> Vec<Op> {
        lock(&self.log).clone()
    }

    fn step(&self, op: Op) -> io::Result<()> {
        let chosen = {
            let mut log = lock(&self.log);
            let chosen = match self.at {
                Target::Any(n) => log.len() == n,
                Target::Nth(kind, n) => kind == op && log.iter().filter(|o| **o == op).count() == n,
            };
            log.push(op);
            chosen
        };
        if !chosen {
            return Ok(());
        }
        match self.fault {
            Fault::Error(code) => Err(io::Error::from_raw_os_error(code)),
            Fault::Delay(pause) => {
                std::thread::sleep(pause);
                Ok(())
            }
            Fault::Stop => {
                println!("stopped");
                std::io::Write::flush(&mut std::io::stdout())?;
                loop {
                    std::thread::park();
                }
            }
        }
    }
}

impl Storage for FaultyStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.step(Op::Get)?;
        self.inner.get(key)
    }
    fn get_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        self.step(Op::GetMany)?;
        self.inner.get_many(keys, limit)
    }
    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.step(Op::Put)?;
        *lock(&self.last_put) = key.to_owned();
        self.inner.put(key, record)
    }
    fn remove(&self, key: &str) -> io::Result<()> {
        self.step(Op::Remove)?;
        self.inner.remove(key)
    }
    fn flush(&self) -> Result<(), FailedWrite> {
        // A failing flush leaves the latest write not durable: that is the key it names.
        self.step(Op::Flush).map_err(|source| FailedWrite {
            key: lock(&self.last_put).clone(),
            source,
        })?;
        self.inner.flush()
    }
    fn list(&self) -> io::Result<Vec<Listed>> {
        self.step(Op::List)?;
        self.inner.list()
    }
    fn is_blocking(&self) -> bool {
        self.inner.is_blocking()
    }
    fn coordinates(&self) -> bool {
        self.inner.coordinates()
    }
    fn claim(&self, key: &str, stale: Option<&[u8]>) -> io::Result<Claim> {
        self.step(Op::Claim)?;
        self.inner.claim(key, stale)
    }
    fn release(&self, key: &str) -> io::Result<()> {
        self.step(Op::Release)?;
        self.inner.release(key)
    }
}

/// The lock, also after a panic elsewhere (a failing test's other threads go on).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
