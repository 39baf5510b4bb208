//! A process killed while its `RedbStore` holds records not yet durable: saves one record through
//! `Context::save` (which flushes), queues another without flushing, says `ready`, waits.
//!
//! Usage: `window_child STORE_PATH`.

use duraflow::{codec, Context, RedbStore};
use std::io::Write;
use std::time::Duration;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: window_child STORE_PATH");
    let store = RedbStore::open(&path)
        .expect("open RedbStore")
        .sync_window(Some(Duration::from_secs(60)));
    let ctx = Context::new(store);
    ctx.save("flushed", &1u32).expect("save flushes");
    let record = codec::encode("unflushed", &2u32, codec::Stamp::default()).expect("encode");
    ctx.db.put("unflushed", record).expect("queued");
    // The record waits in the queue: the window is a minute.
    std::thread::sleep(Duration::from_millis(200));
    println!("ready");
    std::io::stdout().flush().expect("stdout");
    std::thread::sleep(Duration::from_secs(60));
}
