//! A duplicate key panics at the line that added the second task, whichever front-end added
//! it: the builder, a `durable_dag!` node with a template key or with an explicit key.

mod common;

use dagx::DagRunner;
use duraflow::{durable, durable_dag, Context, DurableDag, MemoryStore};
use std::panic::{self, Location};
use std::sync::{Arc, Mutex};

struct Load(i32);

#[durable(key = "load-{0}")]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

/// Where the panic of `add` happened and its message. The panic hook is process-wide, so the
/// cases run one after another inside one test.
fn panic_of(add: impl FnOnce(&DurableDag<'_>)) -> (u32, String) {
    let seen: Arc<Mutex<Option<(String, u32)>>> = Arc::default();
    let hook_seen = Arc::clone(&seen);
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let location = info.location().expect("a panic location");
        *hook_seen.lock().unwrap() = Some((location.file().to_owned(), location.line()));
    }));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())));
    let outcome = panic::catch_unwind(panic::AssertUnwindSafe(|| add(&d)));
    panic::set_hook(previous);
    let payload = outcome.expect_err("a duplicate key panics");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    let (file, line) = seen.lock().unwrap().take().expect("the hook saw the panic");
    assert_eq!(file, Location::caller().file(), "{message}");
    (line, message)
}

#[test]
fn a_duplicate_key_panics_at_the_line_that_added_it() {
    let (line, message) = panic_of(|d| {
        d.add("twice", common::Load(1));
        d.add("twice", common::Load(2)); // the builder
    });
    assert_eq!(line, line!() - 2);
    assert!(message.contains("duplicate key \"twice\""), "{message}");

    let (line, message) = panic_of(|d| {
        durable_dag! {
            dag: d;
            first = Load(1);
            second = Load(1); // a template key
        }
        let _ = (first, second);
    });
    assert_eq!(line, line!() - 4);
    assert!(message.contains("duplicate key \"load-1\""), "{message}");

    let (line, message) = panic_of(|d| {
        durable_dag! {
            dag: d;
            first = Load(1);
            second @ "load-1" = Load(2); // an explicit key
        }
        let _ = (first, second);
    });
    assert_eq!(line, line!() - 4);
    assert!(message.contains("duplicate key \"load-1\""), "{message}");
}
