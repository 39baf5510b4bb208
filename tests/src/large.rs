//! Support for the large-record tests: byte buffers that tell themselves apart, a task that
//! returns one, and the sizes every store must round-trip.

use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::codec::{self, Stamp};
use duraflow::{Context, DurableDag, DuraflowError, RunReport};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Records of at least this many bytes are *large* (duraflow's `LARGE_RECORD`): a run's
/// prefetch leaves them to their task, and `RedbStore` keeps each in a file of its own.
pub const LARGE_RECORD: usize = 64 * 1024;

/// One blob of a run: its key, its length and the seed of its bytes.
pub type Spec = (String, usize, u8);

/// `len` bytes of `seed`, with every 4 KiB block numbered, so that a shifted, cut or mixed
/// buffer never equals another.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut bytes = vec![seed; len];
    for (block, at) in (0..len).step_by(4096).enumerate() {
        bytes[at] = seed ^ (block as u8).wrapping_add(1);
    }
    bytes
}

/// Whether `bytes` are `pattern(bytes.len(), seed)`, checked in place.
pub fn is_pattern(bytes: &[u8], seed: u8) -> bool {
    bytes.iter().enumerate().all(|(at, byte)| match at % 4096 {
        0 => *byte == seed ^ ((at / 4096) as u8).wrapping_add(1),
        _ => *byte == seed,
    })
}

/// Returns `pattern(len, seed)`, counting its executions in `runs`.
pub struct Blob {
    pub len: usize,
    pub seed: u8,
    pub runs: Arc<AtomicUsize>,
}

#[task]
impl Blob {
    async fn run(&self) -> Vec<u8> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        pattern(self.len, self.seed)
    }
}

/// Runs one `Blob` task per spec (all of them again with `refresh`); returns the report and
/// every output.
pub async fn run_blobs(
    ctx: &Arc<Context>,
    blobs: &[Spec],
    runs: &Arc<AtomicUsize>,
    refresh: bool,
) -> Result<(RunReport, Vec<Vec<u8>>), DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, Arc::clone(ctx));
    let d = if refresh { d.refresh_all() } else { d };
    let handles: Vec<TaskHandle<Vec<u8>>> = blobs
        .iter()
        .map(|(key, len, seed)| {
            let blob = Blob {
                len: *len,
                seed: *seed,
                runs: Arc::clone(runs),
            };
            d.add(key, blob).into()
        })
        .collect();
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await?;
    let outputs = handles.into_iter().map(|h| dag.get(h).unwrap()).collect();
    Ok((report, outputs))
}

/// Asserts that `outputs` are the blobs' patterns, naming the first that is not.
pub fn assert_outputs(blobs: &[Spec], outputs: &[Vec<u8>], what: &str) {
    for ((key, len, seed), output) in blobs.iter().zip(outputs) {
        assert!(
            output.len() == *len && is_pattern(output, *seed),
            "{what}: wrong value of {key} ({} bytes, {len} expected)",
            output.len()
        );
    }
}

/// The value length whose record under `key` is `record_len` bytes long.
fn value_len_for_record(key: &str, record_len: usize) -> usize {
    let encoded = |len: usize| codec::encode(key, &vec![0u8; len], Stamp::default()).unwrap();
    // Values near 64 KiB have a 3-byte length varint, as this probe's.
    let probe = 1 << 15;
    let len = record_len - (encoded(probe).len() - probe);
    assert_eq!(
        encoded(len).len(),
        record_len,
        "the record is {record_len} bytes"
    );
    len
}

/// Values of 0 and 1 byte, values whose records are one byte shorter than a large record,
/// exactly one, and one byte longer, and a few MiB.
pub fn sizes() -> Vec<Spec> {
    let mut blobs = vec![("empty".to_owned(), 0, 1), ("one".to_owned(), 1, 2)];
    for (name, record_len, seed) in [
        ("under", LARGE_RECORD - 1, 3),
        ("at", LARGE_RECORD, 4),
        ("over", LARGE_RECORD + 1, 5),
    ] {
        let key = format!("boundary-{name}");
        blobs.push((key.clone(), value_len_for_record(&key, record_len), seed));
    }
    blobs.push(("mebibytes".to_owned(), (3 << 20) + 7, 6));
    blobs
}
