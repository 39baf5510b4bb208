//! `#[durable]`: each task type declares its key (filled in from its fields) and version;
//! the DAG is wired with dagx's builder through `DurableDag::task`.
//!
//! ```text
//! cargo run -p duraflow-examples --example attribute
//! ```
//!
//! The DAG runs twice against one `FileStore` in a temp dir: the first run executes every
//! task, the second restores every output from the files and executes nothing.

use dagx::DagRunner;
use duraflow::{durable, Context, DurableDag, DuraflowError, FileStore, RunReport};
use std::sync::Arc;

/// A city's temperature readings (made up here; a real task would fetch them).
struct Readings {
    city: &'static str,
}

#[durable(key = "readings-{city}")]
impl Readings {
    async fn run(&self) -> Vec<f64> {
        println!("  running Readings {{ city: {:?} }}", self.city);
        let base = self.city.len() as f64;
        (0..24).map(|hour| base + f64::from(hour % 6)).collect()
    }
}

/// The mean of one city's readings. Bump `version` when `run` changes what it computes:
/// records written by another version are not reused.
struct Mean {
    city: &'static str,
}

#[durable(key = "mean-{city}", version = 1)]
impl Mean {
    fn run(&self, readings: &Vec<f64>) -> f64 {
        println!("  running Mean {{ city: {:?} }}", self.city);
        readings.iter().sum::<f64>() / readings.len() as f64
    }
}

/// Which of two cities is warmer on average; no fields, so a fixed key.
struct Warmer;

#[durable(key = "warmer")]
impl Warmer {
    fn run(a: &f64, b: &f64) -> String {
        println!("  running Warmer");
        if a >= b { "first" } else { "second" }.to_owned()
    }
}

const CITIES: [&str; 2] = ["Oslo", "Lisbon"];

async fn run_once(ctx: &Arc<Context>) -> Result<(RunReport, String), DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let [first, second] = CITIES.map(|city| {
        let readings = d.task(Readings { city }).depends_on(());
        d.task(Mean { city }).depends_on(readings)
    });
    let warmer = d.task(Warmer).depends_on((&first, &second));
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await?;
    Ok((report, dag.get(warmer).expect("warmer ran")))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("duraflow-attribute-{}", std::process::id()));
    println!("store: FileStore in {}", dir.display());
    let ctx = Arc::new(Context::new(FileStore::new(&dir)?));

    let mut answers = Vec::new();
    for attempt in 1..=2 {
        println!("run {attempt}:");
        let (report, warmer) = run_once(&ctx).await?;
        println!(
            "run {attempt}: {warmer} city is warmer; executed {}, restored {}",
            report.executed, report.restored
        );
        answers.push((report.executed, report.restored, warmer));
    }
    assert_eq!(answers[0], (5, 0, "second".to_owned()));
    assert_eq!(answers[1], (0, 5, "second".to_owned()));
    // The keys came from the attributes, templates filled in.
    assert_eq!(ctx.get::<f64>("mean-Lisbon"), Some(8.5));
    assert_eq!(ctx.get::<String>("warmer").as_deref(), Some("second"));

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
