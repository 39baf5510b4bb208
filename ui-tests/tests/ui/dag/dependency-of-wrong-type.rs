mod tasks;

use duraflow::{durable, durable_dag};
use tasks::Double;

struct Greet;

#[durable(key = "greet")]
impl Greet {
    fn run() -> String {
        "hi".to_owned()
    }
}

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        hi = Greet;
        twice = Double <- hi;
    }
    let _ = twice;
}
