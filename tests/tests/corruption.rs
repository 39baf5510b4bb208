//! Damaged records are never returned as values: `try_get` says why, `get` gives `None`, a
//! run executes the task again, says why, and replaces the record.

mod common;

use common::{spawn, Counted, Runs};
use dagx::{task, DagRunner, Task};
use duraflow::{Context, DurableDag, DuraflowError, FileStore, MemoryStore, Miss, Storage};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

const KEY: &str = "answer";
const VALUE: i32 = 42;

/// A `FileStore` holding the record of `KEY` (written by a run) and of `"other"`.
struct Fixture {
    _tmp: tempfile::TempDir,
    ctx: Arc<Context>,
    record: PathBuf,
    other_record: PathBuf,
    runs: Runs,
}

impl Fixture {
    async fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new(tmp.path()).unwrap();
        let record = store.path_of(KEY);
        let other_record = store.path_of("other");
        let ctx = Arc::new(Context::new(store));
        ctx.save("other", &7i32).unwrap();
        let fixture = Self {
            _tmp: tmp,
            ctx,
            record,
            other_record,
            runs: Runs::new(),
        };
        let report = fixture.run().await;
        assert_eq!((report.executed, fixture.runs.count()), (1, 1));
        fixture
    }

    /// Runs a DAG of the one task under `KEY`.
    async fn run(&self) -> duraflow::RunReport {
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, self.ctx.clone());
        let answer = d.add(
            KEY,
            Counted {
                value: VALUE,
                runs: self.runs.clone(),
            },
        );
        let report = d.run(spawn).await.unwrap();
        assert_eq!(dag.get(answer).unwrap(), VALUE);
        report
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.record).unwrap()
    }

    fn overwrite(&self, bytes: &[u8]) {
        std::fs::write(&self.record, bytes).unwrap();
    }

    fn assert_refused(&self, what: &str) -> String {
        assert_eq!(self.ctx.get::<i32>(KEY), None, "{what}: get");
        match self.ctx.try_get::<i32>(KEY) {
            Err(DuraflowError::Corrupt { key, reason }) => {
                assert_eq!(key, KEY, "{what}");
                reason
            }
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        }
    }

    /// The damaged record makes the next run execute the task, say why, and replace the
    /// record; the run after that restores it.
    async fn assert_repaired_by_the_next_run(&self, what: &str) {
        let report = self.run().await;
        assert_eq!(self.runs.count(), 2, "{what}: the task runs again");
        assert_eq!((report.executed, report.restored), (1, 0), "{what}");
        assert_eq!(report.runs[0].key, KEY);
        assert!(
            matches!(report.runs[0].reason, Miss::Corrupt(_)),
            "{what}: reason {:?}",
            report.runs[0].reason
        );
        assert_eq!(self.ctx.try_get::<i32>(KEY).unwrap(), Some(VALUE), "{what}");

        let report = self.run().await;
        assert_eq!(
            self.runs.count(),
            2,
            "{what}: the replaced record is restored"
        );
        assert_eq!((report.executed, report.restored), (0, 1), "{what}");
    }
}

/// `at` counted from the start, or from the end when negative.
fn position(len: usize, at: isize) -> usize {
    if at < 0 {
        len - at.unsigned_abs()
    } else {
        at.unsigned_abs()
    }
}

async fn damaged_record_is_refused_then_replaced(what: &str, damage: impl FnOnce(&Fixture)) {
    let fixture = Fixture::new().await;
    damage(&fixture);
    fixture.assert_refused(what);
    fixture.assert_repaired_by_the_next_run(what).await;
}

#[tokio::test]
async fn a_flipped_byte_anywhere_is_refused() {
    let fixture = Fixture::new().await;
    let good = fixture.bytes();
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        fixture.overwrite(&bad);
        fixture.assert_refused(&format!("bit 0 of byte {at} flipped"));
        bad[at] = !good[at];
        fixture.overwrite(&bad);
        fixture.assert_refused(&format!("byte {at} inverted"));
    }
    fixture.overwrite(&good);
    assert_eq!(
        fixture.ctx.get::<i32>(KEY),
        Some(VALUE),
        "the original still reads"
    );
}

#[tokio::test]
async fn a_flipped_byte_is_repaired_by_the_next_run() {
    // One byte of each field of the record of the `i32` 42 under "answer" (the byte table of
    // duraflow::codec): magic, format, task and schema versions, schema and input
    // fingerprints, write time, the three lengths, type name `i32`, shape `i32`, key, payload
    // length, payload, checksum (negative: from the end).
    for at in [
        0, 4, 5, 9, 13, 28, 29, 45, 53, 55, 57, 61, 64, 67, 73, -5, -4, -1,
    ] {
        damaged_record_is_refused_then_replaced(&format!("byte {at} flipped"), |f| {
            let mut bytes = f.bytes();
            let at = position(bytes.len(), at);
            bytes[at] ^= 0x80;
            f.overwrite(&bytes);
        })
        .await;
    }
}

#[tokio::test]
async fn a_truncated_record_is_refused_and_replaced() {
    // inside the magic, after the format byte, inside the fixed head, after it, then the end
    for keep in [0, 1, 4, 5, 30, 61, 67, -5, -1] {
        damaged_record_is_refused_then_replaced(&format!("truncated to {keep}"), |f| {
            let bytes = f.bytes();
            let keep = position(bytes.len(), keep);
            f.overwrite(&bytes[..keep]);
        })
        .await;
    }
}

#[tokio::test]
async fn every_truncation_is_refused() {
    let fixture = Fixture::new().await;
    let good = fixture.bytes();
    for keep in 0..good.len() {
        fixture.overwrite(&good[..keep]);
        let reason = fixture.assert_refused(&format!("truncated to {keep}"));
        assert!(!reason.is_empty());
    }
}

#[tokio::test]
async fn a_zero_filled_record_is_refused_and_replaced() {
    damaged_record_is_refused_then_replaced("zero-filled", |f| {
        let len = f.bytes().len();
        f.overwrite(&vec![0; len]);
    })
    .await;
}

#[tokio::test]
async fn appended_bytes_are_refused_and_replaced() {
    for extra in [&[0u8][..], b"\n", &[0xff; 100]] {
        damaged_record_is_refused_then_replaced(&format!("{} bytes appended", extra.len()), |f| {
            let mut bytes = f.bytes();
            bytes.extend_from_slice(extra);
            f.overwrite(&bytes);
        })
        .await;
    }
}

#[tokio::test]
async fn text_in_place_of_a_record_is_refused_and_replaced() {
    damaged_record_is_refused_then_replaced("text", |f| {
        f.overwrite(b"{\"answer\": 42}\n");
    })
    .await;
}

#[tokio::test]
async fn another_keys_record_copied_over_is_refused_and_replaced() {
    let fixture = Fixture::new().await;
    std::fs::copy(&fixture.other_record, &fixture.record).unwrap();
    let reason = fixture.assert_refused("copied from \"other\"");
    assert!(
        reason.contains("other"),
        "the reason names the record's own key: {reason}"
    );
    fixture
        .assert_repaired_by_the_next_run("copied from \"other\"")
        .await;
    assert_eq!(
        fixture.ctx.get::<i32>("other"),
        Some(7),
        "the source is untouched"
    );
}

#[tokio::test]
async fn another_keys_record_of_another_type_copied_over_is_refused() {
    let fixture = Fixture::new().await;
    fixture.ctx.save("text", &"seven".to_owned()).unwrap();
    let text_record = fixture.record.with_file_name("text");
    assert!(text_record.is_file(), "{text_record:?}");
    std::fs::copy(&text_record, &fixture.record).unwrap();
    fixture.assert_refused("a String record copied over");
    fixture
        .assert_repaired_by_the_next_run("a String record copied over")
        .await;
}

#[tokio::test]
async fn a_damaged_record_in_a_memory_store_is_replaced_too() {
    let store = Arc::new(MemoryStore::new());
    let ctx = Arc::new(Context {
        db: store.clone(),
        completed_count: Default::default(),
    });
    store.put(KEY, b"DFLW garbage".to_vec()).unwrap();
    assert!(matches!(
        ctx.try_get::<i32>(KEY),
        Err(DuraflowError::Corrupt { .. })
    ));

    let runs = Runs::new();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    d.add(
        KEY,
        Counted {
            value: VALUE,
            runs: runs.clone(),
        },
    );
    let report = d.run(spawn).await.unwrap();
    assert_eq!(runs.count(), 1);
    assert!(matches!(report.runs[0].reason, Miss::Corrupt(_)));
    assert_eq!(ctx.get::<i32>(KEY), Some(VALUE));
}

// --- type and shape changes ---------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meters {
    value: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Feet {
    value: i32,
}

#[test]
fn get_of_another_type_is_none_even_when_the_bytes_would_decode() {
    let ctx = Context::new(MemoryStore::new());
    ctx.save("int", &5i32).unwrap();
    ctx.save("text", &"abc".to_owned()).unwrap();
    ctx.save("meters", &Meters { value: 3 }).unwrap();
    ctx.save("maybe", &Some(4i32)).unwrap();

    // postcard would read each of these payloads as the other type
    assert_eq!(ctx.get::<u32>("int"), None);
    assert_eq!(ctx.get::<i64>("int"), None);
    assert_eq!(ctx.get::<Vec<u8>>("text"), None);
    assert_eq!(ctx.get::<Feet>("meters"), None);
    assert_eq!(ctx.get::<i32>("meters"), None);
    assert_eq!(ctx.get::<i32>("maybe"), None);

    assert_eq!(ctx.get::<i32>("int"), Some(5));
    assert_eq!(ctx.get::<String>("text").as_deref(), Some("abc"));
    assert_eq!(ctx.get::<Meters>("meters"), Some(Meters { value: 3 }));
    assert_eq!(ctx.get::<Option<i32>>("maybe"), Some(Some(4)));
}

#[test]
fn try_get_of_another_shape_names_the_key_and_both_shapes() {
    let ctx = Context::new(MemoryStore::new());
    ctx.save("greeting", &"hi".to_owned()).unwrap();
    let error = ctx.try_get::<i32>("greeting").unwrap_err();
    match &error {
        DuraflowError::SchemaMismatch {
            key,
            stored,
            expected,
        } => {
            assert_eq!(key, "greeting");
            assert_eq!(stored, "str");
            assert_eq!(expected, "i32");
        }
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }
    let message = error.to_string();
    for part in ["greeting", "`str`", "`i32`"] {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }

    ctx.save("meters", &Meters { value: 1 }).unwrap();
    let message = ctx.try_get::<Feet>("meters").unwrap_err().to_string();
    assert!(
        message.contains("Meters { value: i32 }") && message.contains("Feet { value: i32 }"),
        "{message}"
    );
}

/// Untagged enums: the tracer cannot describe them, so their records are checked by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Reading {
    Number(i32),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Label {
    Short(u8),
    Long(String),
}

#[test]
fn try_get_of_another_untraced_type_names_the_key_and_both_types() {
    let ctx = Context::new(MemoryStore::new());
    ctx.save("reading", &Reading::Number(3)).unwrap();
    let error = ctx.try_get::<Label>("reading").unwrap_err();
    match &error {
        DuraflowError::TypeMismatch {
            key,
            stored,
            expected,
        } => {
            assert_eq!(key, "reading");
            assert_eq!(stored, std::any::type_name::<Reading>());
            assert_eq!(expected, std::any::type_name::<Label>());
        }
        other => panic!("expected TypeMismatch, got {other:?}"),
    }
    let message = error.to_string();
    for part in ["reading", "Reading", "Label"] {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
}

struct Text;
#[task]
impl Text {
    async fn run(&self) -> String {
        "forty-two".to_owned()
    }
}

#[tokio::test]
async fn a_record_of_another_shape_makes_the_task_run_again() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    ctx.save(KEY, &VALUE).unwrap();

    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let text = d.add(KEY, Text);
    let report = d.run(spawn).await.unwrap();
    assert_eq!(dag.get(text).unwrap(), "forty-two");
    assert_eq!(
        report.runs[0].reason,
        Miss::SchemaChanged {
            stored: "i32".to_owned(),
            expected: "str".to_owned(),
        }
    );
    assert_eq!(ctx.get::<String>(KEY).as_deref(), Some("forty-two"));
    assert_eq!(ctx.get::<i32>(KEY), None, "the record was replaced");
}

struct MakeLabel;
#[task]
impl MakeLabel {
    async fn run(&self) -> Label {
        Label::Long("forty-two".to_owned())
    }
}

#[tokio::test]
async fn a_record_of_another_untraced_type_makes_the_task_run_again() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    ctx.save(KEY, &Reading::Text("old".to_owned())).unwrap();

    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let label = d.add(KEY, MakeLabel);
    let report = d.run(spawn).await.unwrap();
    assert_eq!(dag.get(label).unwrap(), Label::Long("forty-two".to_owned()));
    assert_eq!(
        report.runs[0].reason,
        Miss::TypeChanged {
            stored: std::any::type_name::<Reading>().to_owned(),
            expected: std::any::type_name::<Label>().to_owned(),
        }
    );
    // the record now holds a `Label`: read as a `Reading`, the names are the other way round
    assert!(matches!(
        ctx.try_get::<Reading>(KEY),
        Err(DuraflowError::TypeMismatch { stored, .. }) if stored == std::any::type_name::<Label>()
    ));
}

/// A record of the first format has no shape to compare: it is a schema change (the task
/// runs again and replaces it), not corruption.
#[tokio::test]
async fn a_record_of_the_first_format_is_replaced_as_a_schema_change() {
    let fixture = Fixture::new().await;
    let mut old = fixture.bytes();
    old[4] = 1;
    fixture.overwrite(&old);
    assert_eq!(fixture.ctx.get::<i32>(KEY), None);
    match fixture.ctx.try_get::<i32>(KEY) {
        Err(DuraflowError::SchemaMismatch {
            key,
            stored,
            expected,
        }) => {
            assert_eq!(key, KEY);
            assert!(stored.contains("record format 1"), "{stored}");
            assert_eq!(expected, "i32");
        }
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }

    let report = fixture.run().await;
    assert_eq!(fixture.runs.count(), 2, "the task runs again");
    assert!(
        matches!(&report.runs[0].reason, Miss::SchemaChanged { stored, .. } if stored.contains("record format 1")),
        "{:?}",
        report.runs[0].reason
    );
    let report = fixture.run().await;
    assert_eq!((report.executed, report.restored), (0, 1), "replaced");
}

#[tokio::test]
async fn a_record_of_another_task_version_makes_the_task_run_again() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let runs = Runs::new();
    let run = |version: u32, value: i32| {
        let ctx = ctx.clone();
        let runs = runs.clone();
        async move {
            let dag = DagRunner::new();
            let d = DurableDag::new(&dag, ctx);
            let h = d.add_versioned(KEY, version, Counted { value, runs });
            let report = d.run(spawn).await.unwrap();
            (report, dag.get(h).unwrap())
        }
    };
    run(0, 1).await;
    let (report, value) = run(1, 2).await;
    assert_eq!(value, 2);
    assert_eq!(
        report.runs[0].reason,
        Miss::VersionChanged {
            stored: 0,
            expected: 1
        }
    );
    let (report, value) = run(1, 3).await;
    assert_eq!((report.restored, value), (1, 2));
    assert_eq!(runs.count(), 2);
}
