mod tasks;

use duraflow::durable_dag;
use tasks::Load;

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: dag;
        five = Load(5);
    }
    let _ = (d, five);
}
