mod tasks;

use dagx::{task, Task};
use duraflow::durable_dag;

/// A plain dagx task: it has no `#[durable]` key.
struct Plain(i32);

#[task]
impl Plain {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        doc[i in 0..3] = Plain(i);
    }
    let _ = doc.len();
}
