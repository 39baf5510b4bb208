//! A batch of the write queue as PostgreSQL takes it. One value (`bytea`) and one protocol
//! message each hold at most 1 GiB: a record over [`MAX_RECORD`] is refused when it is
//! stored, with an error that says what to do instead, and a batch's records are upserted
//! in chunks of at most [`UPSERT_BYTES`] (a longer record alone), so that no statement of a
//! batch of large records builds a message over the limit.

use std::io;
use std::ops::Range;
use tokio_postgres::{Statement, Transaction};

/// One queued write of a batch: a record, or `None` for a removal.
pub(super) type Write = (String, Option<Vec<u8>>);

/// A batch split into the parameters of its statements.
pub(super) struct Split<'a> {
    /// The keys that get a record, in the batch's order.
    pub(super) put_keys: Vec<&'a str>,
    /// Their records.
    pub(super) records: Vec<&'a [u8]>,
    /// Ranges of `put_keys` and `records`: one upsert statement each.
    pub(super) chunks: Vec<Range<usize>>,
    /// The keys removed.
    pub(super) removed: Vec<&'a str>,
}

/// Splits `batch` into records (in chunks of at most [`UPSERT_BYTES`] of keys and records)
/// and removals.
pub(super) fn split(batch: &[Write]) -> Split<'_> {
    let (put_keys, records): (Vec<&str>, Vec<&[u8]>) = batch
        .iter()
        .filter_map(|(key, record)| Some((key.as_str(), record.as_deref()?)))
        .unzip();
    let sizes = put_keys.iter().zip(&records);
    let chunks = chunks(sizes.map(|(k, r)| (k.len() + r.len()) as u64), UPSERT_BYTES);
    let removed = batch
        .iter()
        .filter(|(_, record)| record.is_none())
        .map(|(key, _)| key.as_str())
        .collect();
    Split {
        put_keys,
        records,
        chunks,
        removed,
    }
}

/// The longest record stored: 1000 MiB. The rest of PostgreSQL's 1 GiB is headroom for the
/// key (at most 64 KiB), the message around the record, and the row that reads it back.
pub(super) const MAX_RECORD: u64 = 1000 << 20;

/// The bytes of keys and records one upsert statement sends, unless one record alone is
/// longer.
const UPSERT_BYTES: u64 = 16 << 20;

/// Upserts the records of `split` with the statement `upsert` (keys, records), one
/// statement a chunk, each its own message under PostgreSQL's limit.
pub(super) async fn upsert(
    transaction: &Transaction<'_>,
    upsert: &Statement,
    split: &Split<'_>,
) -> Result<(), tokio_postgres::Error> {
    for chunk in &split.chunks {
        let keys = &split.put_keys[chunk.clone()];
        let records = &split.records[chunk.clone()];
        transaction.execute(upsert, &[&keys, &records]).await?;
    }
    Ok(())
}

/// Refuses a record longer than [`MAX_RECORD`], naming the key, its length and the limit.
pub(super) fn check_record(key: &str, len: usize) -> io::Result<()> {
    let len = len as u64;
    if len <= MAX_RECORD {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "the record of {key:?} is {len} bytes ({:.1} MiB), over PostgresStore's limit of \
             {MAX_RECORD} bytes ({} MiB): PostgreSQL keeps at most 1 GiB in one value. Keep \
             outputs this large in a FileStore or RedbStore, or split the output across \
             several tasks",
            len as f64 / f64::from(1 << 20),
            MAX_RECORD >> 20,
        ),
    ))
}

/// Splits items of the given sizes into consecutive ranges, in order, each of at most
/// `budget` bytes, except that an item longer than `budget` is a range of its own.
fn chunks(sizes: impl IntoIterator<Item = u64>, budget: u64) -> Vec<Range<usize>> {
    let mut chunks = Vec::new();
    let (mut start, mut end, mut bytes) = (0, 0, 0u64);
    for size in sizes {
        if end > start && bytes.saturating_add(size) > budget {
            chunks.push(start..end);
            (start, bytes) = (end, 0);
        }
        bytes = bytes.saturating_add(size);
        end += 1;
    }
    if end > start {
        chunks.push(start..end);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn records_up_to_the_limit_are_taken_and_longer_ones_refused_naming_the_key() {
        check_record("k", 0).unwrap();
        check_record("k", MAX_RECORD as usize).unwrap();
        let error = check_record("big/output", MAX_RECORD as usize + 1).unwrap_err();
        let text = error.to_string();
        for part in [
            "\"big/output\"",
            &(MAX_RECORD + 1).to_string(),
            "1000 MiB",
            "FileStore",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
    }

    #[test]
    fn long_items_go_alone_and_short_ones_share_a_chunk() {
        assert_eq!(chunks([], 10), []);
        assert_eq!(chunks([3, 3, 4, 1], 10), [0..3, 3..4]);
        assert_eq!(chunks([25, 3, 30, 2, 2], 10), [0..1, 1..2, 2..3, 3..5]);
        assert_eq!(chunks([0, 0, 10, 0], 10), vec![0..4]);
    }

    proptest! {
        /// The chunks cover every item once, in order, and each stays within the budget
        /// unless it is one item.
        #[test]
        fn chunks_cover_every_item_within_the_budget(
            sizes in proptest::collection::vec(0u64..40, 0..60),
            budget in 1u64..50,
        ) {
            let chunks = chunks(sizes.iter().copied(), budget);
            let mut next = 0;
            for chunk in &chunks {
                prop_assert_eq!(chunk.start, next);
                prop_assert!(chunk.end > chunk.start);
                let bytes: u64 = sizes[chunk.clone()].iter().sum();
                prop_assert!(bytes <= budget || chunk.len() == 1);
                next = chunk.end;
            }
            prop_assert_eq!(next, sizes.len());
        }
    }
}
