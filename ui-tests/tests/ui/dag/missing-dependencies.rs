mod tasks;

use duraflow::durable_dag;
use tasks::Double;

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        ten = Double;
    }
    let _ = ten;
}
