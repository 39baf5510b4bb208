mod tasks;

use duraflow::durable_dag;
use tasks::Load;

fn sum(parts: &[&i32]) -> i32 {
    parts.iter().copied().sum()
}

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        doc[i in 0..3] = Load(i);
        total = sum <- doc[..];
    }
    let _ = total;
}
