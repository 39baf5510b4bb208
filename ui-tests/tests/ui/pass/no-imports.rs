#![deny(warnings)]
// Generated code names everything by absolute path: no `use` is needed at all.
struct Load(i32);

#[duraflow::durable(key = "load-{0}")]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

struct Double;

#[duraflow::durable(key = "double")]
impl Double {
    async fn run(x: &i32) -> i32 {
        x * 2
    }
}

#[tokio::main]
async fn main() {
    let dag = dagx::DagRunner::new();
    let store = duraflow::MemoryStore::new();
    let d = duraflow::DurableDag::new(&dag, std::sync::Arc::new(duraflow::Context::new(store)));
    duraflow::durable_dag! {
        dag: d;
        doubled = Double <- five;
        five = Load(5);
    }
    d.run(|f| {
        tokio::spawn(f);
    })
    .await
    .unwrap();
    assert_eq!(dag.get(doubled).unwrap(), 10);
}
