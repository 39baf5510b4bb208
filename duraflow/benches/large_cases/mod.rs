//! One case of the large-output bench, run in a process of its own: the DAG, the stores,
//! and what is measured (wall time, peak RSS, the store's bytes on disk).

use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::{Context, DurableDag, FileStore, MemoryStore, RedbStore};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Seeds of the data of fresh runs; changed runs add this to them.
const CHANGED_SEED: u64 = 1 << 32;

/// Makes one output: `len` pseudo-random bytes, incompressible or with 4 random bits a byte.
struct Produce {
    seed: u64,
    len: usize,
    compressible: bool,
}

#[task]
impl Produce {
    async fn run(&self) -> Vec<u8> {
        generate(self.seed, self.len, self.compressible)
    }
}

/// The small task reading an output.
struct Fold;

#[task]
impl Fold {
    #[allow(clippy::ptr_arg)] // dagx passes the output type by reference
    async fn run(data: &Vec<u8>) -> u64 {
        fold(data)
    }
}

/// Reads one output back from the plain file: a resumed run of raw dagx, as it were.
struct ReadBack {
    path: PathBuf,
    at: u64,
    len: usize,
}

#[task]
impl ReadBack {
    async fn run(&self) -> Vec<u8> {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(&self.path).expect("plain file, from file-write");
        let mut data = vec![0; self.len];
        file.read_exact_at(&mut data, self.at).expect("read");
        data
    }
}

/// SplitMix64 words: several GB/s, and no two tasks' data alike.
fn generate(seed: u64, len: usize, compressible: bool) -> Vec<u8> {
    let mut data = vec![0u8; len];
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut words = data.chunks_exact_mut(8);
    for word in &mut words {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = state;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        if compressible {
            x = (x & 0x0f0f_0f0f_0f0f_0f0f) | 0x6060_6060_6060_6060;
        }
        word.copy_from_slice(&x.to_le_bytes());
    }
    let tail = words.into_remainder();
    let len = tail.len();
    tail.copy_from_slice(&state.to_le_bytes()[..len]);
    data
}

/// One word of every 4 KiB page, and the length: the reader touches all of an output's
/// memory at little cost of its own, so the runs' times are the outputs' making and storing.
fn fold(data: &[u8]) -> u64 {
    let words = data.chunks(4096).map(|page| {
        let word = &page[..page.len().min(8)];
        word.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b))
    });
    words.fold(data.len() as u64, |acc, word| acc.rotate_left(5) ^ word)
}

/// The sizes and the folder every case of one round works in.
#[derive(Clone, Debug)]
pub struct Config {
    /// Tasks.
    pub n: u64,
    /// MiB of each task's output.
    pub mib: u64,
    /// Where the stores and the plain file are.
    pub dir: PathBuf,
}

impl Config {
    fn len(&self) -> usize {
        usize::try_from(self.mib << 20).expect("S MiB fits in memory")
    }

    /// Bytes of all outputs together.
    pub fn payload(&self) -> u64 {
        self.n * (self.mib << 20)
    }
}

/// What one case measured.
#[derive(Clone, Debug, Default)]
pub struct Measure {
    /// Wall time of the timed part.
    pub wall: Duration,
    /// Peak resident memory of the case's process, in bytes.
    pub peak_rss: u64,
    /// Bytes the store takes on disk after the case, if it has one.
    pub disk: Option<u64>,
    /// The fold of every output: equal across the cases that hold the same data.
    pub check: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Memory,
    Redb,
    File,
}

/// A duraflow case: which store, compressing or not, and which run.
#[derive(Clone, Copy)]
struct StoreCase {
    kind: Kind,
    zstd: bool,
    changed: bool,
}

impl StoreCase {
    fn parse(name: &str) -> Option<(Self, &str)> {
        // `memory` runs fresh and resumed in one process: its store lives in it.
        let (store, mode) = name.rsplit_once('-').unwrap_or((name, "fresh"));
        let (kind, zstd) = match store {
            "memory" => (Kind::Memory, false),
            "redb" => (Kind::Redb, false),
            "file" => (Kind::File, false),
            "redb-zstd" => (Kind::Redb, true),
            "file-zstd" => (Kind::File, true),
            _ => return None,
        };
        let changed = mode == "changed";
        Some((
            Self {
                kind,
                zstd,
                changed,
            },
            store,
        ))
    }

    /// Where the store lives (the redb file is `store.redb` in it, its blobs beside it).
    fn dir(&self, config: &Config, store: &str) -> PathBuf {
        config.dir.join(store)
    }

    fn open(&self, dir: &Path) -> Context {
        let level = self.zstd.then_some(3);
        match (self.kind, level) {
            (Kind::Memory, _) => Context::new(MemoryStore::new()),
            (Kind::Redb, None) => Context::new(RedbStore::open(dir.join("store.redb")).unwrap()),
            (Kind::Redb, Some(level)) => Context::new(
                RedbStore::open(dir.join("store.redb"))
                    .unwrap()
                    .with_compression(level),
            ),
            (Kind::File, None) => Context::new(FileStore::new(dir).unwrap()),
            (Kind::File, Some(level)) => {
                Context::new(FileStore::new(dir).unwrap().with_compression(level))
            }
        }
    }
}

/// Runs the DAG, durable when `ctx` is given; returns the fold of every output and how many
/// tasks duraflow restored.
async fn run_dag(config: &Config, ctx: Option<Arc<Context>>, seed: u64, zstd: bool) -> (u64, u64) {
    let dag = DagRunner::new();
    let produce = |i: u64| Produce {
        seed: seed + i,
        len: config.len(),
        compressible: zstd,
    };
    let folds: Vec<TaskHandle<u64>> = match ctx {
        None => (0..config.n)
            .map(|i| {
                let output: TaskHandle<Vec<u8>> = dag.add_task(produce(i)).into();
                dag.add_task(Fold).depends_on(output)
            })
            .collect(),
        Some(ctx) => {
            let d = DurableDag::new(&dag, ctx);
            let d = if seed >= CHANGED_SEED {
                d.refresh_all()
            } else {
                d
            };
            let folds = (0..config.n)
                .map(|i| {
                    let key = format!("output-{i}");
                    let output: TaskHandle<Vec<u8>> = d.add(&key, produce(i)).into();
                    dag.add_task(Fold).depends_on(output)
                })
                .collect();
            let report = d.run(|f| drop(tokio::spawn(f))).await.expect("run");
            return (folded(&dag, folds), report.restored as u64);
        }
    };
    dag.run(|f| drop(tokio::spawn(f))).await.expect("run");
    (folded(&dag, folds), 0)
}

/// Runs the DAG with every output read back from the plain file; returns the fold of every
/// output.
async fn run_read_back(config: &Config, plain: &Path) -> u64 {
    let dag = DagRunner::new();
    let folds = (0..config.n)
        .map(|i| {
            let read = ReadBack {
                path: plain.to_path_buf(),
                at: i * config.len() as u64,
                len: config.len(),
            };
            let output: TaskHandle<Vec<u8>> = dag.add_task(read).into();
            dag.add_task(Fold).depends_on(output)
        })
        .collect();
    dag.run(|f| drop(tokio::spawn(f))).await.expect("run");
    folded(&dag, folds)
}

fn folded(dag: &DagRunner, folds: Vec<TaskHandle<u64>>) -> u64 {
    folds
        .into_iter()
        .map(|h| dag.get(h).expect("every fold ran"))
        .fold(0, |acc, f| acc.rotate_left(7) ^ f)
}

/// Peak resident memory of this process, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok());
    kib.unwrap_or(0) * 1024
}

/// Makes the peak resident memory the current one (Linux 4.0 and later).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Bytes allocated on disk to the files under `path`.
fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.blocks() * 512;
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| disk_usage(&entry.path()))
        .sum()
}

/// Runs one case in this process and prints its measures, one `RESULT` line a row.
pub fn run_case(name: &str, config: &Config) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let plain = config.dir.join("plain.bin");
    let result = |row: &str, m: Measure| {
        let disk = m.disk.map_or("-".to_owned(), |d| d.to_string());
        let wall = m.wall.as_nanos();
        println!("RESULT\t{row}\t{wall}\t{}\t{disk}\t{}", m.peak_rss, m.check);
    };
    match name {
        "raw-dagx" => {
            let started = Instant::now();
            let (check, _) = runtime.block_on(run_dag(config, None, 0, false));
            let wall = started.elapsed();
            result(name, measure(wall, None, check));
        }
        "file-write" => {
            let mut file = std::fs::File::create(&plain).expect("plain file");
            let mut wall = Duration::ZERO;
            for i in 0..config.n {
                let data = generate(i, config.len(), false);
                let started = Instant::now();
                file.write_all(&data).expect("write");
                wall += started.elapsed();
            }
            let started = Instant::now();
            file.sync_all().expect("fsync");
            wall += started.elapsed();
            result(name, measure(wall, Some(disk_usage(&plain)), 0));
        }
        "raw-dagx-read" => {
            let started = Instant::now();
            let check = runtime.block_on(run_read_back(config, &plain));
            result(name, measure(started.elapsed(), None, check));
        }
        "file-read" => {
            let started = Instant::now();
            let mut file = std::fs::File::open(&plain).expect("plain file, from file-write");
            let buffers: Vec<Vec<u8>> = (0..config.n)
                .map(|_| {
                    let mut data = Vec::with_capacity(config.len());
                    (&mut file)
                        .take(config.len() as u64)
                        .read_to_end(&mut data)
                        .expect("read");
                    data
                })
                .collect();
            let wall = started.elapsed();
            let peak = peak_rss();
            let check = buffers
                .iter()
                .map(|data| fold(data))
                .fold(0u64, |acc, f| acc.rotate_left(7) ^ f);
            result(
                name,
                Measure {
                    wall,
                    peak_rss: peak,
                    disk: None,
                    check,
                },
            );
        }
        _ => {
            let (case, store) = StoreCase::parse(name).unwrap_or_else(|| panic!("case {name}"));
            let dir = case.dir(config, store);
            let seed = if case.changed { CHANGED_SEED } else { 0 };
            let runs = if case.kind == Kind::Memory { 2 } else { 1 };
            let started = Instant::now();
            let ctx = Arc::new(case.open(&dir));
            for run in 0..runs {
                if run > 0 {
                    reset_peak_rss();
                }
                let begun = if run == 0 { started } else { Instant::now() };
                let dag = run_dag(config, Some(ctx.clone()), seed, case.zstd);
                let (check, restored) = runtime.block_on(dag);
                let wall = begun.elapsed();
                let row = match (case.kind, run) {
                    (Kind::Memory, 0) => "memory-fresh".to_owned(),
                    (Kind::Memory, _) => "memory-resumed".to_owned(),
                    _ => name.to_owned(),
                };
                let resumed = row.ends_with("-resumed");
                assert_eq!(restored, if resumed { config.n } else { 0 }, "{row}");
                let disk = (case.kind != Kind::Memory).then(|| disk_usage(&dir));
                result(&row, measure(wall, disk, check));
            }
        }
    }
}

fn measure(wall: Duration, disk: Option<u64>, check: u64) -> Measure {
    Measure {
        wall,
        peak_rss: peak_rss(),
        disk,
        check,
    }
}
