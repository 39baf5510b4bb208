//! Large records in `PostgresStore`: sizes from 0 bytes to a few MiB round-trip fresh and
//! resumed; a record over PostgreSQL's limit is refused naming the key, the size and the
//! limit; a batch of records larger than one upsert statement takes is stored whole.
//!
//! The server comes from `DURAFLOW_PG_URL`, as for `tests/tests/postgres.rs` (run with
//! `scripts/test`). The records of exactly the limit: the `#[ignore]`d soak test at the end
//! (see RELIABILITY.md for its command).

use duraflow::{Context, DuraflowError, Found, PostgresStore, Storage};
use duraflow_tests::large::{assert_outputs, pattern, run_blobs, sizes, Spec};
use duraflow_tests::pg_workers::{namespace, server};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_every_size_round_trip_fresh_and_resumed() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let ns = namespace("large_sizes");
    let blobs = sizes();
    let runs = Arc::new(AtomicUsize::new(0));
    let ctx = Arc::new(Context::new(PostgresStore::connect_with(&url, &ns)?));
    let (report, outputs) = run_blobs(&ctx, &blobs, &runs, false).await?;
    assert_eq!((report.executed, report.restored), (blobs.len(), 0));
    assert_outputs(&blobs, &outputs, "fresh");

    let ctx = Arc::new(Context::new(PostgresStore::connect_with(&url, &ns)?));
    let (report, outputs) = run_blobs(&ctx, &blobs, &runs, false).await?;
    assert_eq!((report.executed, report.restored), (0, blobs.len()));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        blobs.len(),
        "nothing ran again"
    );
    assert_outputs(&blobs, &outputs, "resumed");
    Ok(())
}

#[test]
fn a_record_over_the_limit_is_refused_naming_the_key_the_size_and_the_limit() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let store = PostgresStore::connect_with(&url, &namespace("large_refused"))?;
    let limit = PostgresStore::MAX_RECORD as usize;
    // Zeroed by the allocator and never touched: no GiB of memory is used.
    let error = store.put("too/big", vec![0; limit + 1]).unwrap_err();
    let text = error.to_string();
    for part in [
        "\"too/big\"".to_owned(),
        (limit + 1).to_string(),
        limit.to_string(),
        "FileStore or RedbStore".to_owned(),
    ] {
        assert!(text.contains(&part), "{part:?} in {text}");
    }
    // Nothing was queued, and the store goes on.
    store.put("small", b"record".to_vec())?;
    store.flush().map_err(|failed| failed.source)?;
    let found = store.get_many(&["too/big", "small"], u64::MAX)?;
    assert_eq!(found, [Found::Absent, Found::Record(b"record".to_vec())]);
    Ok(())
}

#[test]
fn saving_a_value_over_the_limit_is_a_persist_error_naming_the_key() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let ctx = Context::new(PostgresStore::connect_with(&url, &namespace("large_save"))?);
    // Its record (header, length and checksum added) is just over the limit.
    let value = vec![0u8; PostgresStore::MAX_RECORD as usize];
    match ctx.save("huge", &value) {
        Err(DuraflowError::Persist { key, source }) => {
            assert_eq!(key, "huge");
            assert!(source.to_string().contains("split the output"), "{source}");
        }
        other => panic!("expected Persist, got {other:?}"),
    }
    assert_eq!(ctx.try_get::<Vec<u8>>("huge")?, None);
    Ok(())
}

#[test]
fn records_queued_together_beyond_one_statement_s_size_are_stored_whole() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let ns = namespace("large_batch");
    let store = PostgresStore::connect_with(&url, &ns)?;
    // 30 MiB of records queued at once (one upsert statement sends up to 16 MiB), then one
    // longer than a statement's share by itself.
    let mut records: Vec<Spec> = (0..10)
        .map(|i| (format!("part-{i}"), 3 << 20, i as u8))
        .collect();
    records.push(("whole".to_owned(), 20 << 20, 99));
    for (key, len, seed) in &records {
        store.put(key, pattern(*len, *seed))?;
    }
    store.flush().map_err(|failed| failed.source)?;
    drop(store);

    let store = PostgresStore::connect_with(&url, &ns)?;
    let keys: Vec<&str> = records.iter().map(|(key, _, _)| key.as_str()).collect();
    let found = store.get_many(&keys, u64::MAX)?;
    for ((key, len, seed), found) in records.iter().zip(found) {
        assert!(
            found == Found::Record(pattern(*len, *seed)),
            "{key}: not the record stored"
        );
    }
    Ok(())
}

/// A record of exactly the limit round-trips: PostgreSQL takes it in one value, one message
/// and one row.
#[test]
#[ignore = "soak: about 5 GiB of memory in this process and the server; see RELIABILITY.md"]
fn a_record_of_exactly_the_limit_round_trips() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let ns = namespace("large_limit");
    let len = PostgresStore::MAX_RECORD as usize;
    let store = PostgresStore::connect_with(&url, &ns)?;
    store.put("limit", pattern(len, 3))?;
    store.flush().map_err(|failed| failed.source)?;
    drop(store);
    let store = PostgresStore::connect_with(&url, &ns)?;
    let record = store.get("limit")?.expect("the record");
    assert!(record.len() == len && record == pattern(len, 3));
    Ok(())
}
