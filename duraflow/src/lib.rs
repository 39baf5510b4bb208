//! # duraflow: durable, resumable tasks for [dagx](https://docs.rs/dagx/0.3.1) DAGs
//!
//! Each task's output is stored under a key as a checked record (serde + postcard). Running
//! the DAG again against the same store returns stored outputs instead of running the tasks
//! again, so a crashed or failed run is resumed by running it again.
//!
//! Three front-ends reach the one wrapper [`Durable`]:
//! * the builder, [`DurableDag::add`] (the API of duraflow-rs 1.0.1);
//! * `#[durable(key = "...")]` on a task's impl block, added with [`DurableDag::task`];
//! * `durable_dag! { ... }`, a whole DAG as a macro block.
//!
//! Stores: [`MemoryStore`], [`FileStore`] (one file per key, atomic durable writes) and
//! `RedbStore` (feature `redb`, on by default: the embedded durable default).
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), duraflow::DuraflowError> {
//! use duraflow::{Context, DurableDag, MemoryStore};
//! use dagx::{task, DagRunner, Task};
//! use std::sync::Arc;
//!
//! struct Load(i32);
//! #[task]
//! impl Load { async fn run(&self) -> i32 { self.0 } }
//!
//! let ctx = Arc::new(Context::new(MemoryStore::new()));
//! let dag = DagRunner::new();
//! let d = DurableDag::new(&dag, ctx.clone()).with_progress(|key, n| eprintln!("{key} {n}"));
//! let a = d.add("load-5", Load(5));
//! let report = d.run(|f| { tokio::spawn(f); }).await?;
//! assert_eq!((report.executed, dag.get(a).unwrap()), (1, 5));
//! assert_eq!(ctx.get::<i32>("load-5"), Some(5));
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod attempt;
mod blocking;
pub mod codec;
mod context;
mod dag;
mod durable;
mod error;
mod events;
mod fingerprint;
mod glue;
mod journal;
mod key;
mod options;
mod outcome;
mod reduce;
mod report;
mod run_state;
mod schema;
pub mod store;
mod storing;
mod timeline;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
/// The body of the `extract_and_run` that the dagx glue's macro writes.
#[doc(hidden)]
pub use glue::extract_and_run as __extract_and_run;

pub use codec::Miss;
pub use context::Context;
pub use dag::DurableDag;
pub use durable::{Durable, DurableTask};
pub use duraflow_macros::{durable, durable_dag};
pub use error::DuraflowError;
pub use events::{Event, EventHandler, Progress};
pub use fingerprint::Fingerprint;
pub use glue::{Merge, MergeInputs};
pub use journal::{RunEntry, DEFAULT_JOURNAL_RUNS, JOURNAL_PREFIX};
pub use key::{validate_key, TaskKey, MAX_KEY_LEN};
pub use options::{parse_duration, Cache, TaskOptions};
pub use reduce::Family;
pub use report::{Outcome, RunReport, Skipped, TaskFailure, TaskRun, TaskSpan};
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "redb")]
pub use store::RedbStore;
pub use store::{Claim, FailedWrite, FileStore, MemoryStore, Storage};
pub use storing::Persistable;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
