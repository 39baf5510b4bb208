//! # duraflow: durable, resumable tasks for [dagx](https://docs.rs/dagx/0.3.1) DAGs
//!
//! Each task's output is stored under a key as a checked record (serde + postcard). Running
//! the DAG again against the same store returns the stored outputs instead of running the
//! tasks, so a crashed or failed run is resumed by running it again.
//!
//! ## Quick start
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), duraflow::DuraflowError> {
//! use duraflow::{Context, DurableDag, MemoryStore};
//! use dagx::{task, DagRunner, Task, TaskHandle};
//! use std::sync::Arc;
//!
//! struct Load(i32);
//! #[task]
//! impl Load { async fn run(&self) -> i32 { self.0 } }
//!
//! struct Mul(i32);
//! #[task]
//! impl Mul { async fn run(&self, x: &i32) -> i32 { x * self.0 } }
//!
//! // MemoryStore keeps records for this process; RedbStore::open("runs.redb")? or
//! // FileStore::new("runs")? keep them for the next one.
//! let ctx = Arc::new(Context::new(MemoryStore::new()));
//! for expected_executed in [2, 0] { // the second run restores both outputs
//!     let dag = DagRunner::new();
//!     let d = DurableDag::new(&dag, ctx.clone())
//!         .with_progress(|key, completed| eprintln!("{key} done ({completed})"));
//!     let five: TaskHandle<i32> = d.add("load-5", Load(5)).into();
//!     let ten = d.add("mul-2", Mul(2)).depends_on(five);
//!     let report = d.run(|f| { tokio::spawn(f); }).await?;
//!     assert_eq!((report.executed, dag.get(ten).unwrap()), (expected_executed, 10));
//! }
//! assert_eq!(ctx.get::<i32>("mul-2"), Some(10));
//! # Ok(()) }
//! ```
//!
//! The same DAG can be written with compile-time keys, `#[durable(key = "load-{0}")]` on each
//! task's impl block, or as one [`durable_dag!`] block; all three reach the one wrapper
//! [`Durable`].
//!
//! ## Overview
//!
//! Every public item, by what it is for:
//!
//! * **Front-ends.** [`DurableDag`] adds tasks to a dagx `DagRunner`: a dagx task under a key
//!   ([`DurableDag::add`]) or a `#[durable]` one ([`DurableDag::task`]), and
//!   [`DurableDag::run`] returns the first real error. [`durable`] (`#[durable(key = "...")]`)
//!   gives a task type its key, version and options, recorded by its [`DurableTask`] impl.
//!   [`durable_dag!`] writes a whole DAG, checked at compile time. [`Durable`] is the wrapper
//!   they all produce; [`Durable::run_result`] runs one task without a DAG. A [`Family`] of
//!   nodes is reduced past dagx's 8 inputs by [`DurableDag::reduce`], through a tree of
//!   durable merges.
//! * **Stores.** [`Context`] holds the store and the completion counter the tasks share, and
//!   reads and writes typed values. [`Storage`] is the small object-safe trait over bytes that
//!   every store implements; [`FailedWrite`] is what its `flush` reports and [`Claim`] what a
//!   store shared by several workers answers. The stores: [`MemoryStore`], [`FileStore`],
//!   [`RedbStore`] (feature `redb`) and [`PostgresStore`] (feature `postgres`), in the
//!   [`store`] module with [`store::DEFAULT_SYNC_WINDOW`] and [`store::file_name`].
//! * **Records.** [`codec`] defines the record format (a byte table) and its checks; a [`Miss`]
//!   says why a record was not used. An output type is stored if it is [`Persistable`]. Keys
//!   are [`TaskKey`]s, checked by [`validate_key`] (at most [`MAX_KEY_LEN`] bytes). A
//!   [`Fingerprint`] hashes a task's fields and inputs for `cache = inputs`.
//! * **Errors.** [`DuraflowError`], the one error type: each message names the key and says
//!   what to do.
//! * **Events and report.** A [`RunReport`] counts what a run executed and restored and lists
//!   its [`TaskRun`]s, [`TaskFailure`]s and [`Skipped`] tasks. [`DurableDag::with_events`]
//!   takes an [`EventHandler`] of every [`Event`]; [`DurableDag::with_progress`] takes the
//!   duraflow-rs callback, a [`Progress`]. Each [`TaskSpan`] says when a task began and
//!   ended and its [`Outcome`]. Every run leaves a [`RunEntry`] in the store's run journal
//!   (keys under [`JOURNAL_PREFIX`], the last [`DEFAULT_JOURNAL_RUNS`] kept), read with
//!   [`Context::runs`], and records when it last used each key ([`LastUse`], read with
//!   [`Context::last_used`]).
//! * **Retention.** [`Context::sweep`] removes what a run did not use; [`Context::sweep_with`]
//!   removes what a [`Retention`] policy selects (unused for a while, beyond a size cap,
//!   expired) and says what it [`Swept`]: each [`Removed`] record and [`Why`].
//! * **Options.** [`TaskOptions`] (caching, ttl, retries, backoff, timeout, schema version) and
//!   [`Cache`] (resume by key, or reuse only for the same inputs), for
//!   [`DurableDag::task_with`] and [`DurableDag::with_cache`]; [`parse_duration`] reads the
//!   durations the attribute takes (`"100ms"`, `"30s"`).
//!
//! ## Cargo features
//!
//! * `redb` (default): [`RedbStore`], the embedded durable store.
//! * `postgres`: [`PostgresStore`], one PostgreSQL database shared by several workers.
//! * `tracing`: each task runs in a `duraflow.task` span, and restores and executions are
//!   logged as `tracing` events.
//!
//! Moving from duraflow-rs 1.0.1: `MIGRATING.md`, at the root of the duraflow workspace, says
//! what compiles unchanged and what changed.
// A store whose feature is off is not compiled: the overview links to its page on docs.rs.
#![cfg_attr(
    not(feature = "redb"),
    doc = "",
    doc = "[`RedbStore`]: https://docs.rs/duraflow/latest/duraflow/store/struct.RedbStore.html",
    doc = "[`store::DEFAULT_SYNC_WINDOW`]: https://docs.rs/duraflow/latest/duraflow/store/constant.DEFAULT_SYNC_WINDOW.html"
)]
#![cfg_attr(
    not(feature = "postgres"),
    doc = "",
    doc = "[`PostgresStore`]: https://docs.rs/duraflow/latest/duraflow/store/struct.PostgresStore.html"
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
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
mod in_use;
mod journal;
mod key;
mod options;
mod outcome;
mod payload;
#[cfg(test)]
mod power_loss;
mod reduce;
mod report;
mod retention;
mod run_state;
mod schema;
mod shared;
pub mod store;
mod storing;
mod sweep;
mod timeline;
mod usage;

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
pub use journal::{RunEntry, DEFAULT_JOURNAL_RUNS, JOURNAL_PREFIX};
pub use key::{validate_key, TaskKey, MAX_KEY_LEN};
/// The `object_store` crate that [`ObjectStore`] is built on, for stores configured by hand.
#[cfg(feature = "object-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "object-store")))]
pub use object_store;
pub use options::{parse_duration, Cache, TaskOptions};
pub use reduce::Family;
pub use report::{Outcome, RunReport, Skipped, TaskFailure, TaskRun, TaskSpan};
pub use retention::{Removed, Retention, Swept, Why};
#[cfg(feature = "object-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "object-store")))]
pub use store::ObjectStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use store::PostgresStore;
pub use store::{CachedStore, Claim, FailedWrite, FileStore, Found, Listed, MemoryStore, Storage};
#[cfg(feature = "redb")]
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
pub use store::{RedbBuilder, RedbReader, RedbStore};
pub use storing::Persistable;
pub use usage::LastUse;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// MIGRATING.md's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../MIGRATING.md")]
struct MigratingDoctests;
