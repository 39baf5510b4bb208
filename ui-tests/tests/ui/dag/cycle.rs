mod tasks;

use duraflow::durable_dag;
use tasks::Double;

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        a = Double <- c;
        b = Double <- a;
        c = Double <- b;
        out = Double <- a;
    }
    let _ = dag.get(out);
}
