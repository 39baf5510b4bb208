mod tasks;

use dagx::{task, Task};
use duraflow::durable_dag;
use tasks::Double;

/// A plain dagx task: it has no `#[durable]` key.
struct Plain;

#[task]
impl Plain {
    async fn run() -> i32 {
        1
    }
}

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        one = Plain;
        two @ "two" = Double <- one;
    }
    let _ = two;
}
