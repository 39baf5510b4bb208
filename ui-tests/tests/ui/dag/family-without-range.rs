mod tasks;

use duraflow::durable_dag;
use tasks::Load;

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        doc[i in] = Load(i);
        five = Load(5);
    }
    let _ = (doc.len(), five);
}
