#![deny(warnings)]
// Every supported form of `run`: no receiver, `self`, `&self`, `&mut self`; async and plain.
use dagx::DagRunner;
use duraflow::{durable, durable_dag, Context, DurableDag, MemoryStore};
use std::sync::Arc;

struct NoSelf;
#[durable(key = "no-self")]
impl NoSelf {
    fn run() -> i32 {
        1
    }
}

struct ByValue(String);
#[durable(key = "by-value")]
impl ByValue {
    async fn run(self, x: &i32) -> String {
        format!("{}{x}", self.0)
    }
}

struct Shared(i32);
#[durable(key = "shared")]
impl Shared {
    fn run(&self, x: &i32) -> i32 {
        x + self.0
    }
}

struct Counter {
    count: i32,
}
#[durable(key = "counter")]
impl Counter {
    async fn run(&mut self, x: &i32, y: &i32) -> i32 {
        self.count += x + y;
        self.count
    }
}

#[tokio::main]
async fn main() {
    // `run` stays an ordinary method.
    assert_eq!(Shared(1).run(&2), 3);

    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())));
    durable_dag! {
        dag: d;
        one = NoSelf;
        text = ByValue("n=".to_owned()) <- one;
        three = Shared(2) <- one;
        total = Counter { count: 10 } <- (one, three);
    }
    d.run(|f| {
        tokio::spawn(f);
    })
    .await
    .unwrap();
    assert_eq!(dag.get(text).unwrap(), "n=1");
    assert_eq!(dag.get(total).unwrap(), 14);
}
