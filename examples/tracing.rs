//! duraflow's `tracing` feature with `tracing-subscriber`: a span per task with its key and
//! outcome, and events for restores and executions.
//!
//! ```text
//! RUST_LOG=duraflow=debug cargo run -p duraflow-examples --example tracing
//! ```

use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::{Context, DurableDag, DuraflowError, MemoryStore};
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

struct Load(i32);
#[task]
impl Load {
    async fn run(&self) -> i32 {
        tracing::info!(value = self.0, "loading");
        self.0
    }
}

struct Double;
#[task]
impl Double {
    async fn run(x: &i32) -> i32 {
        x * 2
    }
}

async fn run(ctx: &Arc<Context>) -> Result<i32, DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let load: TaskHandle<i32> = d.add("load", Load(21)).into();
    let double = d.add("double", Double).depends_on(load);
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await?;
    tracing::info!(
        executed = report.executed,
        restored = report.restored,
        "run done"
    );
    Ok(dag.get(double).expect("double ran"))
}

#[tokio::main]
async fn main() -> Result<(), DuraflowError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("debug")),
        )
        .with_target(false)
        .init();
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    assert_eq!(run(&ctx).await?, 42); // executes both tasks
    assert_eq!(run(&ctx).await?, 42); // restores both
    Ok(())
}
