mod tasks;

use duraflow::durable_dag;
use tasks::Load;

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        doc[i in 0..3] @ "doc" = Load(i);
    }
    let _ = doc.len();
}
