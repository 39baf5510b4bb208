//! The `tracing` feature: a `duraflow.task` span per task, with its key, its outcome and its
//! time, closed when the task is done.

use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::{Context, DurableDag, MemoryStore};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::format::FmtSpan;

struct Load(i32);
#[task]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

struct Boom;
#[task]
impl Boom {
    async fn run(_x: &i32) -> i32 {
        panic!("boom")
    }
}

/// Everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_task_has_a_span_with_its_key_outcome_and_time() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_span_events(FmtSpan::CLOSE)
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let ctx = Arc::new(Context::new(MemoryStore::new()));
    for _ in 0..2 {
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, ctx.clone());
        let load: TaskHandle<i32> = d.add("load", Load(1)).into();
        d.add("boom", Boom).depends_on(load);
        d.run(|f| {
            tokio::spawn(f);
        })
        .await
        .expect_err("boom panics");
    }

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let closes: Vec<&str> = text.lines().filter(|l| l.contains("close")).collect();
    let of = |key: &str, outcome: &str| {
        closes
            .iter()
            .filter(|l| {
                l.contains("duraflow.task")
                    && l.contains(&format!("key={key}"))
                    && l.contains(&format!("outcome=\"{outcome}\""))
                    && l.contains("elapsed_us=")
            })
            .count()
    };
    assert_eq!(of("load", "ok"), 2, "{text}");
    assert_eq!(of("boom", "failed"), 2, "{text}");
    assert!(text.contains("executed"), "an executed event: {text}");
    assert!(
        text.contains("restored from the store"),
        "a restored event: {text}"
    );
}
