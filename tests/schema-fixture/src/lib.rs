//! A program whose output types are compiled in one of two layouts: layout A by default,
//! layout B with the cargo feature `b`. The types keep their names and module path
//! ([`types`]) in both, as when a program is edited and built again; tests/tests/schema_change.rs
//! builds it both ways and has each build read what the other wrote.
//!
//! Every function returns machine-readable lines, tab-separated, the key first:
//!
//! | line                                   | meaning                                      |
//! |----------------------------------------|----------------------------------------------|
//! | `KEY saved`                            | `Context::save` stored the value             |
//! | `KEY value DEBUG`                      | `Context::try_get` returned the value        |
//! | `KEY none`                             | nothing is stored under the key              |
//! | `KEY schema-mismatch STORED EXPECTED`  | `DuraflowError::SchemaMismatch`, both shapes |
//! | `KEY type-mismatch STORED EXPECTED`    | `DuraflowError::TypeMismatch`, both names    |
//! | `KEY error MESSAGE`                    | any other error                              |
//! | `KEY ran MISS [STORED EXPECTED]`       | a run executed the task; `MISS` says why     |
//! | `KEY output DEBUG`                     | what a run's task gave                       |
//! | `summary executed N restored M`        | the counts of a run's report                 |

use dagx::DagRunner;
use duraflow::{durable, Context, DurableDag, DuraflowError, FileStore, Miss};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

/// The output types, in the layout of this build.
#[cfg_attr(not(feature = "b"), path = "layout_a.rs")]
#[cfg_attr(feature = "b", path = "layout_b.rs")]
pub mod types;

use types::{Count, Order, Price, Side};

/// Keys of the values stored with `Context::save`.
pub const SAVED: [&str; 4] = ["saved-price", "saved-count", "saved-side", "saved-order"];
/// Keys of the `#[durable]` tasks.
pub const TASKS: [&str; 4] = ["task-price", "task-count", "task-side", "task-order"];

/// Makes this build's [`Price`].
pub struct MakePrice;

#[durable(key = "task-price")]
impl MakePrice {
    fn run() -> Price {
        types::price()
    }
}

/// Makes this build's [`Count`].
pub struct MakeCount;

#[durable(key = "task-count")]
impl MakeCount {
    fn run() -> Count {
        types::count()
    }
}

/// Makes this build's [`Side`].
pub struct MakeSide;

#[durable(key = "task-side")]
impl MakeSide {
    fn run() -> Side {
        types::side()
    }
}

/// Makes this build's [`Order`].
pub struct MakeOrder;

#[durable(key = "task-order")]
impl MakeOrder {
    fn run() -> Order {
        types::order()
    }
}

/// A context over the `FileStore` in `dir`.
pub fn open(dir: &Path) -> Result<Arc<Context>, DuraflowError> {
    Ok(Arc::new(Context::new(FileStore::new(dir)?)))
}

/// Saves this build's values under [`SAVED`].
pub fn save_all(ctx: &Context) -> Result<Vec<String>, DuraflowError> {
    ctx.save(SAVED[0], &types::price())?;
    ctx.save(SAVED[1], &types::count())?;
    ctx.save(SAVED[2], &types::side())?;
    ctx.save(SAVED[3], &types::order())?;
    Ok(SAVED.iter().map(|key| format!("{key}\tsaved")).collect())
}

/// Runs the DAG of the four tasks, on the current tokio runtime.
pub async fn run_all(ctx: &Arc<Context>) -> Result<Vec<String>, DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let price = d.task(MakePrice);
    let count = d.task(MakeCount);
    let side = d.task(MakeSide);
    let order = d.task(MakeOrder);
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await?;
    let mut lines: Vec<String> = report
        .runs
        .iter()
        .map(|run| format!("{}\tran\t{}", run.key, miss_fields(&run.reason)))
        .collect();
    let output = |key: &str, value: &dyn Debug| format!("{key}\toutput\t{value:?}");
    lines.push(output(TASKS[0], &dag.get(price)?));
    lines.push(output(TASKS[1], &dag.get(count)?));
    lines.push(output(TASKS[2], &dag.get(side)?));
    lines.push(output(TASKS[3], &dag.get(order)?));
    lines.push(format!(
        "summary\texecuted\t{}\trestored\t{}",
        report.executed, report.restored
    ));
    Ok(lines)
}

/// Reads every key of [`SAVED`] and [`TASKS`] as this build's type for it.
pub fn read_all(ctx: &Context) -> Vec<String> {
    let mut lines = Vec::new();
    for keys in [SAVED, TASKS] {
        lines.push(read::<Price>(ctx, keys[0]));
        lines.push(read::<Count>(ctx, keys[1]));
        lines.push(read::<Side>(ctx, keys[2]));
        lines.push(read::<Order>(ctx, keys[3]));
    }
    lines
}

fn read<T: DeserializeOwned + Debug + 'static>(ctx: &Context, key: &str) -> String {
    match ctx.try_get::<T>(key) {
        Ok(Some(value)) => format!("{key}\tvalue\t{value:?}"),
        Ok(None) => format!("{key}\tnone"),
        Err(DuraflowError::SchemaMismatch {
            stored, expected, ..
        }) => format!("{key}\tschema-mismatch\t{stored}\t{expected}"),
        Err(DuraflowError::TypeMismatch {
            stored, expected, ..
        }) => format!("{key}\ttype-mismatch\t{stored}\t{expected}"),
        Err(other) => format!("{key}\terror\t{other}"),
    }
}

/// Why a task ran, as the fields after `ran`.
fn miss_fields(miss: &Miss) -> String {
    match miss {
        Miss::NoRecord => "no-record".to_owned(),
        Miss::SchemaChanged { stored, expected } => {
            format!("schema-changed\t{stored}\t{expected}")
        }
        Miss::TypeChanged { stored, expected } => format!("type-changed\t{stored}\t{expected}"),
        other => format!("other\t{other}"),
    }
}
