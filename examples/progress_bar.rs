//! A progress bar over a few hundred tasks, showing executed vs restored.
//!
//! ```text
//! cargo run -p duraflow-examples --example progress_bar
//! ```
//!
//! The first pass runs every task; a second pass over the same store with a third of the
//! records removed runs only those and restores the rest.

use dagx::{task, DagRunner, Task};
use duraflow::{Context, DurableDag, DuraflowError, Event, RedbStore};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TASKS: u64 = 300;

struct Work(u64);
#[task]
impl Work {
    async fn run(&self) -> u64 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.0 * self.0
    }
}

async fn pass(ctx: &Arc<Context>, name: &str) -> Result<(usize, usize), DuraflowError> {
    let bar = ProgressBar::new(TASKS);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_owned());
    let executed = Arc::new(AtomicUsize::new(0));
    let restored = Arc::new(AtomicUsize::new(0));
    let (ex, re, progress) = (executed.clone(), restored.clone(), bar.clone());
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone()).with_events(move |event| match event {
        Event::RunStarted { total } => progress.set_length(*total as u64),
        Event::Executed { .. } => {
            ex.fetch_add(1, Ordering::Relaxed);
            progress.inc(1);
        }
        Event::Restored { .. } => {
            re.fetch_add(1, Ordering::Relaxed);
            progress.inc(1);
        }
        _ => progress.set_message(format!(
            "executed {} restored {}",
            ex.load(Ordering::Relaxed),
            re.load(Ordering::Relaxed)
        )),
    });
    for i in 0..TASKS {
        d.add(&format!("work-{i}"), Work(i));
    }
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await?;
    bar.finish_with_message(format!(
        "executed {} restored {}",
        report.executed, report.restored
    ));
    assert_eq!(report.executed, executed.load(Ordering::Relaxed));
    assert_eq!(report.restored, restored.load(Ordering::Relaxed));
    Ok((report.executed, report.restored))
}

#[tokio::main]
async fn main() -> Result<(), DuraflowError> {
    let dir = std::env::temp_dir().join(format!("duraflow-progress-{}", std::process::id()));
    let ctx = Arc::new(Context::new(RedbStore::open(dir.join("store.redb"))?));
    let first = pass(&ctx, "first ").await?;
    for i in (0..TASKS).step_by(3) {
        ctx.remove(&format!("work-{i}"))?;
    }
    let second = pass(&ctx, "second").await?;
    println!("first pass: executed {}, restored {}", first.0, first.1);
    println!("second pass: executed {}, restored {}", second.0, second.1);
    assert_eq!(first, (300, 0));
    assert_eq!(second, (100, 200));
    drop(ctx);
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}
