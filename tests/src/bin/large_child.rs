//! The process the large-record crash test SIGKILLs while it writes one large record.
//!
//! Usage: `large_child file|redb STORE_PATH KEY MIB FILL`: stores a `Vec<u8>` of `MIB` MiB,
//! every byte `FILL`, under `KEY` with `Context::save` (which returns once it is durable).
//! Prints `writing` before the save and `saved` after it; exits 3 when the store cannot be
//! opened (the error on stderr).

use duraflow::{Context, FileStore, RedbStore};
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, store, key, mib, fill] = args.as_slice() else {
        eprintln!("usage: large_child file|redb STORE_PATH KEY MIB FILL");
        std::process::exit(2);
    };
    let opened = match kind.as_str() {
        "file" => FileStore::new(store).map(Context::new),
        "redb" => RedbStore::open(store).map(Context::new),
        other => panic!("unknown store kind {other}"),
    };
    let ctx = opened.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(3);
    });
    let mib: usize = mib.parse().expect("MIB is a number");
    let fill: u8 = fill.parse().expect("FILL is a byte");
    let value = vec![fill; mib << 20];
    println!("writing");
    std::io::stdout().flush().expect("stdout");
    ctx.save(key, &value).expect("the record is saved");
    println!("saved");
}
