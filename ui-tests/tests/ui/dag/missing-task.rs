mod tasks;

use duraflow::durable_dag;

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        five = ;
    }
    let _ = five;
}
