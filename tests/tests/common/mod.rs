//! Tasks and helpers shared by the integration tests: written the way a user would.
#![allow(dead_code)]

use dagx::{task, Task};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Returns its field.
pub struct Load(pub i32);

#[task]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

/// Multiplies its input by its field.
pub struct Mul(pub i32);

#[task]
impl Mul {
    async fn run(&self, x: &i32) -> i32 {
        x * self.0
    }
}

/// Adds its two inputs.
pub struct Add;

#[task]
impl Add {
    async fn run(a: &i32, b: &i32) -> i32 {
        a + b
    }
}

/// Counts how often tasks sharing it actually ran.
#[derive(Clone, Default)]
pub struct Runs(Arc<AtomicUsize>);

impl Runs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    pub fn hit(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Returns `value`, counting its executions.
pub struct Counted {
    pub value: i32,
    pub runs: Runs,
}

#[task]
impl Counted {
    async fn run(&self) -> i32 {
        self.runs.hit();
        self.value
    }
}

/// Adds `add` to its input, counting its executions.
pub struct CountedAdd {
    pub add: i32,
    pub runs: Runs,
}

#[task]
impl CountedAdd {
    async fn run(&self, x: &i32) -> i32 {
        self.runs.hit();
        x + self.add
    }
}

/// Panics with `message` when it is set, else returns `value`; counts its executions.
pub struct MaybePanic {
    pub value: i32,
    pub panic_with: Option<&'static str>,
    pub runs: Runs,
}

#[task]
impl MaybePanic {
    async fn run(&self) -> i32 {
        self.runs.hit();
        if let Some(message) = self.panic_with {
            panic!("{message}");
        }
        self.value
    }
}

/// The spawner every test passes to `run`.
pub fn spawn(f: futures::future::BoxFuture<'static, ()>) {
    tokio::spawn(f);
}

/// Every file below `dir`, recursively (directories are not listed).
pub fn files_below(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_below(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Names of the temp files (`.tmp-...`) in `dir`.
pub fn temp_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".tmp-"))
        .collect();
    names.sort();
    names
}

/// Name of the file that marks a directory as a `FileStore`.
pub const MARKER: &str = ".duraflow-store";

/// The files of the `FileStore` in `dir` that hold records: every file below it but the
/// store's marker (temp files are listed, so a test sees them).
pub fn record_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    files_below(dir)
        .into_iter()
        .filter(|path| path.file_name() != Some(std::ffi::OsStr::new(MARKER)))
        .collect()
}

/// Keys that a naive key → file name mapping would merge, escape from, or choke on.
pub fn tricky_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "a.b",
        "a_b",
        "a/b",
        "a\\b",
        "a-b",
        "a b",
        "ab",
        "..",
        ".",
        "...",
        "/",
        "./x",
        "../x",
        "../../etc/passwd",
        "/abs",
        "Key",
        "key",
        "KEY",
        "kEy",
        "_2e",
        "_5f",
        "~",
        "-",
        "_",
        ".tmp-1-0",
        "con",
        "nul",
        "a:b",
        "a*b?",
        "ключ",
        "日本語/キー",
        "🎉",
        "e\u{301}",
        "\u{e9}",
        "tab\there",
        "new\nline",
    ]
    .iter()
    .map(|k| k.to_string())
    .collect();
    keys.push("x".repeat(5_000));
    keys.push(format!("{}y", "x".repeat(4_999)));
    keys.push("X".repeat(5_000));
    keys.push("é".repeat(2_500)); // 5,000 bytes of two-byte characters
    keys.push(format!("{}/..", "a".repeat(4_997)));
    keys
}
