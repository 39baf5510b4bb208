//! A local store in front of `PostgresStore` (`CachedStore`): workers claim their tasks in
//! PostgreSQL, as without the cache.
//!
//! The server comes from `DURAFLOW_PG_URL`, as for `tests/tests/postgres.rs` (run with
//! `scripts/test`).

use duraflow::{CachedStore, Claim, DuraflowError, MemoryStore, PostgresStore, Storage};
use duraflow_tests::pg_workers::{namespace, server};
use std::sync::Arc;
use std::time::Duration;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A local cache in front of PostgreSQL claims where the workers meet: in the shared store.
#[test]
fn a_cache_in_front_claims_in_the_shared_store() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let ns = namespace("cached");
    let cached = |url: &str| -> Result<CachedStore<MemoryStore, PostgresStore>, DuraflowError> {
        Ok(CachedStore::new(
            MemoryStore::new(),
            PostgresStore::connect_with(url, &ns)?,
        ))
    };
    let (a, b) = (Arc::new(cached(&url)?), Arc::new(cached(&url)?));
    assert!(a.coordinates());

    assert_eq!(a.claim("task", None)?, Claim::Run);
    let waiting = {
        let b = Arc::clone(&b);
        std::thread::spawn(move || b.claim("task", None))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !waiting.is_finished(),
        "b must wait while a holds the claim"
    );
    a.put("task", b"done by a".to_vec())?;
    a.flush().map_err(|failed| failed.source)?;
    let claim = waiting.join().expect("b's claim returns")?;
    assert_eq!(claim, Claim::Restore(b"done by a".to_vec()));
    assert_eq!(
        b.local().get("task")?.as_deref(),
        Some(&b"done by a"[..]),
        "the restored record is cached"
    );

    assert_eq!(a.claim("failed", None)?, Claim::Run);
    a.release("failed")?;
    assert_eq!(b.claim("failed", None)?, Claim::Run);
    Ok(())
}
