mod tasks;

use duraflow::durable_dag;
use tasks::Load;

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        x = Load(5);
        x = Load(6);
    }
    let _ = x;
}
