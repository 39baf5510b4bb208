//! Quick start: a small DAG persisted to a durable store, run twice.
//!
//! ```text
//! cargo run -p duraflow-examples --example quickstart            # fresh store in a temp dir
//! cargo run -p duraflow-examples --example quickstart -- my.redb # keep the store: run it again
//! cargo run -p duraflow-examples --example quickstart -- --files my-dir   # FileStore instead
//! ```
//!
//! The first run executes every task; the second finds every output in the store and
//! executes nothing. Run it again with the same path and even the first run restores.

use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::{Context, DurableDag, DuraflowError, FileStore, RedbStore, RunReport};
use std::path::PathBuf;
use std::sync::Arc;

struct Load(i32);
#[task]
impl Load {
    async fn run(&self) -> i32 {
        println!("  running Load({})", self.0);
        self.0
    }
}

struct Mul(i32);
#[task]
impl Mul {
    async fn run(&self, x: &i32) -> i32 {
        println!("  running Mul({}) on {x}", self.0);
        x * self.0
    }
}

struct Add;
#[task]
impl Add {
    async fn run(a: &i32, b: &i32) -> i32 {
        println!("  running Add on {a} and {b}");
        a + b
    }
}

/// Builds the DAG load-5 → mul-2, (load-5, mul-2) → sum and runs it.
async fn run_once(ctx: &Arc<Context>) -> Result<(RunReport, i32), DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone())
        .with_progress(|key, completed| println!("  done: {key} ({completed} completed so far)"));
    let five: TaskHandle<i32> = d.add("load-5", Load(5)).into();
    let ten = d.add("mul-2", Mul(2)).depends_on(five);
    let sum = d.add("sum", Add).depends_on((&five, &ten));
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await?;
    Ok((report, dag.get(sum).expect("sum ran")))
}

#[tokio::main]
async fn main() -> Result<(), DuraflowError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A store made up for this run only is removed at the end.
    let mut throwaway: Option<PathBuf> = None;
    let ctx = match args.as_slice() {
        [flag, dir] if flag == "--files" => {
            println!("store: FileStore in {dir}");
            Arc::new(Context::new(FileStore::new(dir)?))
        }
        [path] => {
            println!("store: RedbStore at {path}");
            Arc::new(Context::new(RedbStore::open(path)?))
        }
        _ => {
            let path: PathBuf = std::env::temp_dir()
                .join(format!("duraflow-quickstart-{}.redb", std::process::id()));
            println!(
                "store: RedbStore at {} (fresh, removed at the end)",
                path.display()
            );
            throwaway = Some(path.clone());
            Arc::new(Context::new(RedbStore::open(path)?))
        }
    };

    for attempt in 1..=2 {
        println!("run {attempt}:");
        let (report, sum) = run_once(&ctx).await?;
        println!(
            "run {attempt}: sum = {sum}; executed {}, restored {}",
            report.executed, report.restored
        );
        assert_eq!(sum, 15);
    }
    assert_eq!(ctx.get::<i32>("sum"), Some(15));
    drop(ctx);
    if let Some(path) = throwaway {
        if let Err(e) = std::fs::remove_file(&path) {
            eprintln!("could not remove {}: {e}", path.display());
        }
    }
    Ok(())
}
