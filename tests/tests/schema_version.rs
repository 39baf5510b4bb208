//! A schema version bumped by hand: `#[durable(schema = N)]`, `TaskOptions::schema` and
//! `Durable::with_schema`. A record of another schema version is never restored, and
//! `Context::try_get_schema` reads a record of a given version.

mod common;

use common::{spawn, Runs};
use dagx::DagRunner;
use duraflow::{durable, Context, DurableDag, DuraflowError, MemoryStore, Miss, TaskOptions};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Price {
    cents: u64,
}

/// The same shape with a meaning changed by hand: cents became tenths of a cent.
struct Quote {
    cents: u64,
    runs: Runs,
}

#[durable(key = "quote", schema = 1)]
impl Quote {
    async fn run(&self) -> Price {
        self.runs.hit();
        Price { cents: self.cents }
    }
}

fn memory() -> Arc<Context> {
    Arc::new(Context::new(MemoryStore::new()))
}

/// Runs `Quote` with `options` (its attribute's when `None`) and returns the run's reasons.
async fn run_quote(ctx: &Arc<Context>, runs: &Runs, options: Option<TaskOptions>) -> Vec<Miss> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let task = Quote {
        cents: 250,
        runs: runs.clone(),
    };
    let quote = match options {
        Some(options) => d.task_with(task, options),
        None => d.task(task),
    };
    let report = d.run(spawn).await.unwrap();
    assert_eq!(dag.get(quote).unwrap(), Price { cents: 250 });
    report.runs.into_iter().map(|run| run.reason).collect()
}

#[tokio::test]
async fn a_record_of_another_schema_version_runs_the_task_again() {
    let (ctx, runs) = (memory(), Runs::new());
    assert_eq!(run_quote(&ctx, &runs, None).await, [Miss::NoRecord]);
    assert_eq!(run_quote(&ctx, &runs, None).await, []);
    assert_eq!(runs.count(), 1);

    let bumped = TaskOptions::DEFAULT.schema(2);
    let reasons = run_quote(&ctx, &runs, Some(bumped)).await;
    match &reasons[..] {
        [Miss::SchemaChanged { stored, expected }] => {
            assert!(stored.ends_with("(schema 1)"), "{stored}");
            assert!(expected.ends_with("(schema 2)"), "{expected}");
        }
        other => panic!("expected one SchemaChanged, got {other:?}"),
    }
    assert_eq!(run_quote(&ctx, &runs, Some(bumped)).await, []);
    assert_eq!(runs.count(), 2);
}

#[tokio::test]
async fn try_get_reads_a_record_of_the_schema_version_it_is_given() {
    let (ctx, runs) = (memory(), Runs::new());
    run_quote(&ctx, &runs, None).await;
    match ctx.try_get::<Price>("quote") {
        Err(error @ DuraflowError::SchemaMismatch { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("quote") && message.contains("schema 1"),
                "{message}"
            );
        }
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }
    assert_eq!(
        ctx.try_get_schema::<Price>("quote", 1).unwrap(),
        Some(Price { cents: 250 })
    );
    assert!(ctx.try_get_schema::<Price>("quote", 2).is_err());
}

#[tokio::test]
async fn with_schema_on_the_wrapper_stamps_the_record() {
    let ctx = memory();
    let runs = Runs::new();
    let durable = duraflow::Durable::new(
        "wrapped",
        ctx.clone(),
        Quote {
            cents: 7,
            runs: runs.clone(),
        },
        None,
    )
    .with_schema(4);
    let dag = DagRunner::new();
    let price = dag.add_task(durable);
    dag.run(spawn).await.unwrap();
    assert_eq!(dag.get(price).unwrap(), Price { cents: 7 });
    assert_eq!(
        ctx.try_get_schema::<Price>("wrapped", 4).unwrap(),
        Some(Price { cents: 7 })
    );
    assert!(ctx.try_get::<Price>("wrapped").is_err());
}
