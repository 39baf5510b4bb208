//! Large outputs: `N` tasks each returning an `S` MiB `Vec<u8>` (default 20 × 50 MiB, 1 GiB
//! in all), each read by a small raw dagx task (one word of every 4 KiB page).
//!
//! Every case runs in a process of its own (this binary again, with `--case NAME`), so the
//! peak resident memory it reports (`VmHWM` of `/proc/self/status`) is that case's alone:
//!
//! * `raw-dagx`: the DAG without duraflow, the baseline of time and memory;
//! * `file-write`, `file-read`: the same bytes written to one file and synced once (each
//!   task's buffer made outside the timing), then read back from it, into one buffer a task;
//! * `memory`, `redb`, `file`: duraflow's `MemoryStore`, `RedbStore` and `FileStore`, run
//!   `fresh` (empty store), `resumed` (a new process on the store the fresh run left, every
//!   task restored), and `changed` (every task run again with new data, replacing every
//!   record: the store's disk footprint after it shows whether old space accumulates);
//! * `redb-zstd`, `file-zstd`: compressible data (4 random bits a byte) with
//!   `with_compression(3)`, fresh and resumed.
//!
//! A duraflow run is timed from opening the store to `DurableDag::run` returning (so every
//! record is durable). `MemoryStore` runs fresh and resumed in one process (the peak is reset
//! in between through `/proc/self/clear_refs`). The page cache is left warm throughout: the
//! resumed runs and `file-read` read what was just written.
//!
//! Ratios, as issue 19 states its targets: fresh (and changed) wall time to raw dagx plus
//! `file-write`; resumed wall time to `file-read`; peak RSS to raw dagx's; store bytes on
//! disk (allocated blocks, blob files included) to payload bytes.
//!
//! * `cargo bench -p duraflow --bench large` (a Markdown table on stdout)
//! * sizes and rounds: `-- --n 20 --mib 50 --rounds 3`, or `DURAFLOW_LARGE_N`,
//!   `DURAFLOW_LARGE_MIB`, `DURAFLOW_LARGE_ROUNDS`; the stores' folder: `--dir PATH`
//! * every case once on 2 × 1 MiB (a smoke check): `-- --test`

use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::{Context, DurableDag, FileStore, MemoryStore, RedbStore};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
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
struct Config {
    n: u64,
    mib: u64,
    dir: PathBuf,
}

impl Config {
    fn len(&self) -> usize {
        usize::try_from(self.mib << 20).expect("S MiB fits in memory")
    }

    fn payload(&self) -> u64 {
        self.n * (self.mib << 20)
    }
}

/// What one case measured.
#[derive(Clone, Debug, Default)]
struct Measure {
    wall: Duration,
    peak_rss: u64,
    /// Bytes the store takes on disk after the case, if it has one.
    disk: Option<u64>,
    /// The fold of every output: equal across the cases that hold the same data.
    check: u64,
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
fn run_case(name: &str, config: &Config) {
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

/// The cases of one round, in order: the baselines first, each store's fresh run before
/// the runs that reopen its store.
const CASES: [&str; 14] = [
    "raw-dagx",
    "file-write",
    "file-read",
    "memory",
    "redb-fresh",
    "redb-resumed",
    "redb-changed",
    "file-fresh",
    "file-resumed",
    "file-changed",
    "redb-zstd-fresh",
    "redb-zstd-resumed",
    "file-zstd-fresh",
    "file-zstd-resumed",
];

/// Rows whose outputs are the same data (fresh seeds, incompressible), so whose checks must
/// agree; the changed and the compressed rows agree among themselves.
const SAME_DATA: [&[&str]; 3] = [
    &[
        "raw-dagx",
        "file-read",
        "memory-fresh",
        "memory-resumed",
        "redb-fresh",
        "redb-resumed",
        "file-fresh",
        "file-resumed",
    ],
    &["redb-changed", "file-changed"],
    &[
        "redb-zstd-fresh",
        "redb-zstd-resumed",
        "file-zstd-fresh",
        "file-zstd-resumed",
    ],
];

/// Runs `case` in a new process of this binary; returns its rows.
fn spawn_case(case: &str, config: &Config) -> Vec<(String, Measure)> {
    let exe = std::env::current_exe().expect("the bench binary");
    let output = Command::new(exe)
        .args(["--case", case, "--n", &config.n.to_string()])
        .args(["--mib", &config.mib.to_string()])
        .arg("--dir")
        .arg(&config.dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("the case's process starts");
    assert!(output.status.success(), "case {case}: {}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("RESULT\t"))
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let number = |i: usize| fields[i].parse::<u64>().ok();
            let measure = Measure {
                wall: Duration::from_nanos(number(1).expect("wall")),
                peak_rss: number(2).expect("peak"),
                disk: number(3),
                check: number(4).expect("check"),
            };
            (fields[0].to_owned(), measure)
        })
        .collect()
}

/// Every round's measures of each row.
type Rounds = BTreeMap<String, Vec<Measure>>;

fn median(measures: &[Measure]) -> Duration {
    let mut walls: Vec<Duration> = measures.iter().map(|m| m.wall).collect();
    walls.sort();
    walls[walls.len() / 2]
}

/// `value / base` as `1.23x`, with `✗` when over `target`.
fn ratio(value: f64, base: f64, target: Option<f64>) -> String {
    let r = value / base;
    let over = target.is_some_and(|t| r > t);
    format!("{r:.2}x{}", if over { " ✗" } else { "" })
}

fn table(rounds: &Rounds, config: &Config) -> String {
    let wall = |row: &str| median(&rounds[row]).as_secs_f64();
    let peak = |row: &str| rounds[row].iter().map(|m| m.peak_rss).max().unwrap_or(0) as f64;
    let mib = |bytes: f64| format!("{:.0}", bytes / f64::from(1 << 20));
    let fresh_base = wall("raw-dagx") + wall("file-write");
    let mut out = String::from(
        "| case | wall s | compared with | wall ratio | peak RSS MiB | RSS / raw dagx \
         | on disk MiB | disk / payload |\n|---|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for case in CASES.iter().flat_map(|case| match *case {
        "memory" => vec!["memory-fresh", "memory-resumed"],
        case => vec![case],
    }) {
        let durable = !matches!(case, "raw-dagx" | "file-write" | "file-read");
        // The time and disk targets are for incompressible data: none for the zstd rows.
        let target = |t: f64| (!case.contains("zstd")).then_some(t);
        let (base, wall_ratio) = match case {
            _ if !durable => ("–", "–".to_owned()),
            case if case.ends_with("-resumed") => (
                "file-read",
                ratio(wall(case), wall("file-read"), target(2.0)),
            ),
            case => (
                "raw dagx + file-write",
                ratio(wall(case), fresh_base, target(1.3)),
            ),
        };
        let rss_ratio = match durable {
            true => ratio(peak(case), peak("raw-dagx"), Some(1.25)),
            false => "–".to_owned(),
        };
        let payload = config.payload() as f64;
        let (disk_mib, disk_ratio) = match rounds[case].last().and_then(|m| m.disk) {
            Some(d) if case != "file-write" => {
                (mib(d as f64), ratio(d as f64, payload, target(1.15)))
            }
            Some(d) => (mib(d as f64), "–".to_owned()),
            None => ("–".to_owned(), "–".to_owned()),
        };
        out.push_str(&format!(
            "| {case} | {:.2} | {base} | {wall_ratio} | {} | {rss_ratio} | {disk_mib} \
             | {disk_ratio} |\n",
            wall(case),
            mib(peak(case)),
        ));
    }
    out
}

fn check_same_data(rounds: &Rounds) {
    for group in SAME_DATA {
        let checks: Vec<(&str, u64)> = group
            .iter()
            .flat_map(|row| rounds[*row].iter().map(move |m| (*row, m.check)))
            .collect();
        assert!(
            checks.iter().all(|(_, check)| *check == checks[0].1),
            "outputs differ: {checks:?}"
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mut n = env("DURAFLOW_LARGE_N", 20);
    let mut mib = env("DURAFLOW_LARGE_MIB", 50);
    let mut rounds = env("DURAFLOW_LARGE_ROUNDS", 1);
    let mut dir = None;
    let mut case = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--case" => case = Some(value()),
            "--dir" => dir = Some(PathBuf::from(value())),
            "--n" => n = value().parse().expect("--n N"),
            "--mib" => mib = value().parse().expect("--mib S"),
            "--rounds" => rounds = value().parse().expect("--rounds R"),
            "--test" => (n, mib, rounds) = (2, 1, 1),
            _ => {} // cargo's `--bench`, filters
        }
    }
    if let Some(case) = case {
        let config = Config {
            n,
            mib,
            dir: dir.expect("--dir"),
        };
        return run_case(&case, &config);
    }
    let base = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("duraflow-large-{}", std::process::id()))
    });
    let mut measures = Rounds::new();
    for round in 0..rounds.max(1) {
        let config = Config {
            n,
            mib,
            dir: base.join(format!("round-{round}")),
        };
        std::fs::create_dir_all(&config.dir).expect("bench folder");
        for case in CASES {
            eprintln!("round {round}: {case}");
            for (row, measure) in spawn_case(case, &config) {
                measures.entry(row).or_default().push(measure);
            }
        }
        std::fs::remove_dir_all(&config.dir).expect("bench folder removed");
    }
    check_same_data(&measures);
    let config = Config {
        n,
        mib,
        dir: base.clone(),
    };
    let _ = std::fs::remove_dir(&base);
    println!(
        "{n} tasks × {mib} MiB ({} MiB of payload), median of {rounds} round(s)\n",
        config.payload() >> 20
    );
    print!("{}", table(&measures, &config));
}
