//! `Context`: the store and the completion counter shared by the tasks of a run.

use crate::codec::{self, Expect, Miss};
use crate::journal::{self, RunEntry};
use crate::key::check_key;
use crate::retention::{Retention, Swept};
use crate::store::Storage;
use crate::usage::{self, LastUse};
use crate::{sweep, DuraflowError, RunReport};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

/// The store and the completion counter shared by durable tasks.
///
/// The two public fields are the API of duraflow-rs 1.0.1, so struct-literal construction
/// keeps working; [`Context::new`] is shorter.
///
/// ```
/// use duraflow::{Context, MemoryStore};
/// use std::sync::{Arc, atomic::AtomicUsize};
///
/// let ctx = Context { db: Arc::new(MemoryStore::new()), completed_count: Arc::new(AtomicUsize::new(0)) };
/// ctx.save("greeting", &String::from("hi")).unwrap();
/// assert_eq!(ctx.get::<String>("greeting").as_deref(), Some("hi"));
/// assert!(ctx.try_get::<u32>("greeting").is_err()); // stored as String: a clear error, no garbage
/// assert_eq!(ctx.get::<u32>("greeting"), None);
/// ```
pub struct Context {
    /// Where records are kept.
    pub db: Arc<dyn Storage + Send + Sync>,
    /// Tasks completed (executed or restored) through this context.
    pub completed_count: Arc<AtomicUsize>,
}

impl Context {
    /// A context over `store`, with the counter at zero.
    pub fn new(store: impl Storage + 'static) -> Self {
        Self {
            db: Arc::new(store),
            completed_count: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The value stored under `key`, or `None` when there is none or it cannot be read as a
    /// `T` (use [`Context::try_get`] to learn why).
    pub fn get<T: DeserializeOwned + 'static>(&self, key: &str) -> Option<T> {
        self.try_get(key).ok().flatten()
    }

    /// The value stored under `key`: `Ok(None)` when there is none; an error naming the key
    /// when the record holds another type or shape (naming both), is corrupt, or cannot be
    /// read. Reads records of schema version 0; for a task with `schema = N`, use
    /// [`Context::try_get_schema`].
    pub fn try_get<T: DeserializeOwned + 'static>(
        &self,
        key: &str,
    ) -> Result<Option<T>, DuraflowError> {
        self.try_get_schema(key, 0)
    }

    /// As [`Context::try_get`], for a record written under schema version `schema` (a task
    /// with `#[durable(schema = N)]`, `TaskOptions::schema` or `Durable::with_schema`).
    pub fn try_get_schema<T: DeserializeOwned + 'static>(
        &self,
        key: &str,
        schema: u32,
    ) -> Result<Option<T>, DuraflowError> {
        check_key(key)?;
        let Some(bytes) = self.db.get(key).map_err(|source| DuraflowError::Load {
            key: key.to_owned(),
            source,
        })?
        else {
            return Ok(None);
        };
        let expect = Expect {
            schema_version: schema,
            ..Expect::default()
        };
        codec::decode_owned(key, bytes, expect)
            .map(Some)
            .map_err(|(miss, _)| miss_error(key, miss))
    }

    /// Stores `value` under `key` durably (as task and schema version 0).
    pub fn save<T: Serialize + DeserializeOwned + 'static>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), DuraflowError> {
        check_key(key)?;
        let record = codec::encode(key, value, codec::Stamp::default()).map_err(|e| {
            DuraflowError::Serialize {
                key: key.to_owned(),
                reason: e.to_string(),
            }
        })?;
        let persist = |source| DuraflowError::Persist {
            key: key.to_owned(),
            source,
        };
        self.db.put(key, record).map_err(persist)?;
        self.db.flush().map_err(|failed| DuraflowError::Persist {
            key: failed.key,
            source: failed.source,
        })
    }

    /// Every run the store's journal keeps, oldest first: what each `DurableDag::run` did
    /// (see [`RunEntry`]).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), duraflow::DuraflowError> {
    /// use duraflow::{Context, DurableDag, MemoryStore, Outcome};
    /// use dagx::{task, DagRunner, Task};
    /// use std::sync::Arc;
    ///
    /// struct Load(i32);
    /// #[task]
    /// impl Load { async fn run(&self) -> i32 { self.0 } }
    ///
    /// let ctx = Arc::new(Context::new(MemoryStore::new()));
    /// for _ in 0..2 {
    ///     let dag = DagRunner::new();
    ///     let d = DurableDag::new(&dag, ctx.clone());
    ///     d.add("load", Load(1));
    ///     d.run(|f| { tokio::spawn(f); }).await?;
    /// }
    /// let runs = ctx.runs()?;
    /// assert_eq!(runs.len(), 2);
    /// assert_eq!(runs[0].report.tasks[0].outcome, Outcome::Executed);
    /// assert_eq!(runs[1].report.tasks[0].outcome, Outcome::Restored);
    /// # Ok(()) }
    /// ```
    pub fn runs(&self) -> Result<Vec<RunEntry>, DuraflowError> {
        journal::runs(&*self.db)
    }

    /// The run `id` of the store's journal (an id from [`Context::runs`]), if it is kept.
    pub fn run(&self, id: &str) -> Result<Option<RunEntry>, DuraflowError> {
        journal::read(&*self.db, id)
    }

    /// When each key was last used by a run of this store's DAGs (a key no run has used
    /// since it was stored is not listed). Each `DurableDag::run` that keeps a journal
    /// records, when it ends, every key it restored or executed.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), duraflow::DuraflowError> {
    /// use duraflow::{Context, DurableDag, MemoryStore};
    /// use dagx::{task, DagRunner, Task};
    /// use std::sync::Arc;
    ///
    /// struct Load(i32);
    /// #[task]
    /// impl Load { async fn run(&self) -> i32 { self.0 } }
    ///
    /// let ctx = Arc::new(Context::new(MemoryStore::new()));
    /// ctx.save("saved", &1u8)?;
    /// let dag = DagRunner::new();
    /// let d = DurableDag::new(&dag, ctx.clone());
    /// d.add("load", Load(1));
    /// d.run(|f| { tokio::spawn(f); }).await?;
    /// let last = ctx.last_used()?;
    /// assert!(last["load"].at_ms > 0);
    /// assert!(!last.contains_key("saved"));
    /// # Ok(()) }
    /// ```
    pub fn last_used(&self) -> Result<BTreeMap<String, LastUse>, DuraflowError> {
        let listed = self.db.list().map_err(|source| DuraflowError::Load {
            key: usage::USAGE_PREFIX.to_owned(),
            source,
        })?;
        usage::last_used(&*self.db, &listed)
    }

    /// Removes every record whose key `report`'s run did not use, and returns what it
    /// removed (count and bytes): after a run, what the DAG no longer produces. Keys that a
    /// run of this process is using, and duraflow's own keys, are kept; see [`Retention`]
    /// for the other policies.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), duraflow::DuraflowError> {
    /// use duraflow::{Context, DurableDag, MemoryStore};
    /// use dagx::{task, DagRunner, Task};
    /// use std::sync::Arc;
    ///
    /// struct Load(i32);
    /// #[task]
    /// impl Load { async fn run(&self) -> i32 { self.0 } }
    ///
    /// let ctx = Arc::new(Context::new(MemoryStore::new()));
    /// ctx.save("left-over", &1u8)?;
    /// let dag = DagRunner::new();
    /// let d = DurableDag::new(&dag, ctx.clone());
    /// d.add("load", Load(1));
    /// let report = d.run(|f| { tokio::spawn(f); }).await?;
    /// let swept = ctx.sweep(&report)?;
    /// assert_eq!((swept.count(), swept.removed[0].key.as_str()), (1, "left-over"));
    /// assert_eq!(ctx.get::<i32>("load"), Some(1));
    /// # Ok(()) }
    /// ```
    pub fn sweep(&self, report: &RunReport) -> Result<Swept, DuraflowError> {
        self.sweep_with(&Retention::unused_by(report))
    }

    /// Removes what `policy` selects (unused for a while, beyond a size cap least recently
    /// used first, expired, not used by a run) and returns what it removed. A sweep removes
    /// one key at a time: interrupted at any instant, every record that remains is whole.
    /// It reads and removes through the store's blocking calls: from async code, call it
    /// with `tokio::task::spawn_blocking`.
    pub fn sweep_with(&self, policy: &Retention) -> Result<Swept, DuraflowError> {
        sweep::sweep(&*self.db, policy)
    }

    /// Forces the task under `key` to run again next time: removes its record. With
    /// `cache = inputs`, its dependents then run again only if its new output differs.
    pub fn invalidate(&self, key: &str) -> Result<(), DuraflowError> {
        self.remove(key)
    }

    /// Removes the record under `key`, so the task producing it runs again next time.
    pub fn remove(&self, key: &str) -> Result<(), DuraflowError> {
        check_key(key)?;
        let remove_error = |source| DuraflowError::Remove {
            key: key.to_owned(),
            source,
        };
        self.db.remove(key).map_err(remove_error)?;
        self.db.flush().map_err(|failed| DuraflowError::Remove {
            key: failed.key,
            source: failed.source,
        })
    }
}

/// The error for a record that `try_get` cannot return.
fn miss_error(key: &str, miss: Miss) -> DuraflowError {
    match miss {
        Miss::TypeChanged { stored, expected } => DuraflowError::TypeMismatch {
            key: key.to_owned(),
            stored,
            expected,
        },
        Miss::SchemaChanged { stored, expected } => DuraflowError::SchemaMismatch {
            key: key.to_owned(),
            stored,
            expected,
        },
        other => DuraflowError::Corrupt {
            key: key.to_owned(),
            reason: other.to_string(),
        },
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("completed_count", &self.completed_count)
            .finish_non_exhaustive()
    }
}
