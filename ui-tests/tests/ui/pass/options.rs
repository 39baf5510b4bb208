#![deny(warnings)]
// Every option of #[durable] compiles to the task's `OPTIONS`, and the tasks run.
use dagx::DagRunner;
use duraflow::{durable, Cache, Context, DurableDag, DurableTask, MemoryStore, TaskOptions};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Serialize)]
struct Everything {
    n: i32,
}

#[durable(
    key = "everything-{n}",
    version = 3,
    cache = inputs,
    retries = 2,
    backoff = "10ms",
    timeout = "2m"
)]
impl Everything {
    async fn run(&self, x: &i32) -> i32 {
        self.n + x
    }
}

struct ByKey;

#[durable(key = "by-key", cache = key, retries = 0, timeout = "1h")]
impl ByKey {
    fn run() -> i32 {
        1
    }
}

struct Defaults;

#[durable(key = "defaults")]
impl Defaults {
    fn run() -> i32 {
        2
    }
}

#[tokio::main]
async fn main() {
    assert_eq!(
        <Everything as DurableTask>::OPTIONS,
        TaskOptions::DEFAULT
            .cache(Cache::Inputs)
            .retries(2)
            .backoff(Duration::from_millis(10))
            .timeout(Duration::from_secs(120))
    );
    assert_eq!(<Everything as DurableTask>::VERSION, 3);
    assert_eq!(
        <ByKey as DurableTask>::OPTIONS,
        TaskOptions::DEFAULT.timeout(Duration::from_secs(3600))
    );
    assert_eq!(<Defaults as DurableTask>::OPTIONS, TaskOptions::DEFAULT);

    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())));
    let one = d.task(ByKey).depends_on(());
    let two = d.task(Defaults).depends_on(());
    let sum = d.task(Everything { n: 10 }).depends_on(one);
    d.run(|f| {
        tokio::spawn(f);
    })
    .await
    .unwrap();
    assert_eq!(dag.get(sum).unwrap(), 11);
    assert_eq!(dag.get(two).unwrap(), 2);
}
