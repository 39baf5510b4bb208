//! The same type names compiled with two layouts: reordered fields, a changed integer type,
//! reordered enum variants, an added field. The program in tests/schema-fixture is built
//! twice, layout A (default) and layout B (feature `b`), and each build reads what the other
//! wrote into a `FileStore`: every record is a miss naming both shapes, and a run executes
//! every task again, while each build still reads its own records as values.
//!
//! postcard alone would hand layout B swapped prices, the other side and a reinterpreted
//! count from layout A's bytes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Per type: its name in the keys, its shape in layout A, its shape in layout B.
type Row = (&'static str, &'static str, &'static str);
const SHAPES: [Row; 4] = [
    (
        "price",
        "Price; Price { net: f64, gross: f64 }",
        "Price; Price { gross: f64, net: f64 }",
    ),
    ("count", "Count; Count(i32)", "Count; Count(u32)"),
    (
        "side",
        "Side; Side { Buy, Sell }",
        "Side; Side { Sell, Buy }",
    ),
    (
        "order",
        "Order; Order { id: u64 }",
        "Order; Order { id: u64, note: str }",
    ),
];

/// The values each build writes, as `Debug` prints them.
const VALUES_A: [&str; 4] = [
    "Price { net: 1.5, gross: 1.75 }",
    "Count(-3)",
    "Buy",
    "Order { id: 9 }",
];
const VALUES_B: [&str; 4] = [
    "Price { gross: 2.5, net: 2.25 }",
    "Count(7)",
    "Sell",
    "Order { id: 10, note: \"rush\" }",
];

/// One build of the fixture program.
#[derive(Clone, Copy)]
struct Build {
    exe: &'static Path,
    values: [&'static str; 4],
    /// Index of this build's shape in a [`SHAPES`] row.
    layout: usize,
}

impl Build {
    /// This build's shape in a row of [`SHAPES`].
    fn shape(&self, row: Row) -> &'static str {
        [row.1, row.2][self.layout]
    }

    /// Runs `schema-fixture VERB DIR` and returns its lines.
    fn call(&self, verb: &str, dir: &Path) -> BTreeSet<String> {
        let output = Command::new(self.exe)
            .arg(verb)
            .arg(dir)
            .output()
            .expect("the fixture starts");
        assert!(
            output.status.success(),
            "schema-fixture {verb}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn write(&self, dir: &Path) -> BTreeSet<String> {
        self.call("write", dir)
    }

    fn read(&self, dir: &Path) -> BTreeSet<String> {
        self.call("read", dir)
    }

    fn run(&self, dir: &Path) -> BTreeSet<String> {
        self.call("run", dir)
    }

    /// The lines of a run of this build in which each task ran for `reason` (`None`: each
    /// was restored).
    fn run_lines(&self, reason: impl Fn(Row) -> Option<String>) -> BTreeSet<String> {
        let mut lines = BTreeSet::new();
        let mut executed = 0;
        for (i, row @ (name, ..)) in SHAPES.into_iter().enumerate() {
            if let Some(reason) = reason(row) {
                lines.insert(format!("task-{name}\tran\t{reason}"));
                executed += 1;
            }
            lines.insert(format!("task-{name}\toutput\t{}", self.values[i]));
        }
        lines.insert(format!(
            "summary\texecuted\t{executed}\trestored\t{}",
            SHAPES.len() - executed
        ));
        lines
    }
}

fn builds() -> (Build, Build) {
    static EXES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    let (a, b) = EXES.get_or_init(|| {
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/schema-fixture");
        (
            build(&target, "a", &[]),
            build(&target, "b", &["--features", "b"]),
        )
    });
    (
        Build {
            exe: a,
            values: VALUES_A,
            layout: 0,
        },
        Build {
            exe: b,
            values: VALUES_B,
            layout: 1,
        },
    )
}

/// Builds the fixture into a target directory of its own, so it never waits on the build
/// lock of the `cargo test` running this, and copies the program out before the next build
/// of the other layout replaces it.
fn build(target: &Path, layout: &str, features: &[&str]) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "duraflow-schema-fixture"])
        .args(["--bin", "schema-fixture", "--target-dir"])
        .arg(target)
        .args(features)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo starts");
    assert!(status.success(), "building layout {layout} failed");
    let exe = format!("schema-fixture{}", std::env::consts::EXE_SUFFIX);
    let copy = target.join(format!("layout-{layout}"));
    std::fs::create_dir_all(&copy).unwrap();
    let copy = copy.join(exe.as_str());
    std::fs::copy(target.join("debug").join(exe.as_str()), &copy).unwrap();
    copy
}

/// The lines of reading every key when each holds a value of `build`.
fn values_of(build: Build) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for (i, (name, ..)) in SHAPES.into_iter().enumerate() {
        for prefix in ["saved", "task"] {
            lines.insert(format!("{prefix}-{name}\tvalue\t{}", build.values[i]));
        }
    }
    lines
}

/// The lines of `reader` reading keys with `prefixes` written by `writer`.
fn mismatches(writer: Build, reader: Build, prefixes: &[&str]) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for row in SHAPES {
        for prefix in prefixes {
            lines.insert(format!(
                "{prefix}-{}\tschema-mismatch\t{}\t{}",
                row.0,
                writer.shape(row),
                reader.shape(row)
            ));
        }
    }
    lines
}

/// `writer` writes, `reader` reads and runs: misses naming both shapes, then each task runs
/// again and replaces its record with one of `reader`'s layout.
fn read_by_the_other_layout(writer: Build, reader: Build) {
    let dir = tempfile::tempdir().unwrap();
    let fresh = writer.run_lines(|_| Some("no-record".to_owned()));
    let saved: BTreeSet<String> = SHAPES
        .iter()
        .map(|(name, ..)| format!("saved-{name}\tsaved"))
        .collect();
    assert_eq!(writer.write(dir.path()), &saved | &fresh, "a fresh store");

    assert_eq!(
        reader.read(dir.path()),
        mismatches(writer, reader, &["saved", "task"])
    );

    let schema_changed = |row| {
        Some(format!(
            "schema-changed\t{}\t{}",
            writer.shape(row),
            reader.shape(row)
        ))
    };
    assert_eq!(reader.run(dir.path()), reader.run_lines(schema_changed));
    assert_eq!(
        reader.run(dir.path()),
        reader.run_lines(|_| None),
        "the replaced records are restored"
    );
    let mut after_the_run = mismatches(writer, reader, &["saved"]);
    after_the_run.extend(
        values_of(reader)
            .into_iter()
            .filter(|line| line.starts_with("task-")),
    );
    assert_eq!(reader.read(dir.path()), after_the_run);
}

#[test]
fn records_of_layout_a_read_by_layout_b_are_schema_misses_naming_both_shapes() {
    let (a, b) = builds();
    read_by_the_other_layout(a, b);
}

#[test]
fn records_of_layout_b_read_by_layout_a_are_schema_misses_too() {
    let (a, b) = builds();
    read_by_the_other_layout(b, a);
}

/// The control: the records each build writes are values to that same build, so the misses
/// above come from the layouts, not from the program or the store.
#[test]
fn records_read_by_the_build_that_wrote_them_are_values() {
    let (a, b) = builds();
    for build in [a, b] {
        let dir = tempfile::tempdir().unwrap();
        build.write(dir.path());
        assert_eq!(build.read(dir.path()), values_of(build));
        assert_eq!(build.run(dir.path()), build.run_lines(|_| None));
    }
}
