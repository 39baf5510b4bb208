//! Large outputs: `N` tasks each returning an `S` MiB `Vec<u8>` (default 20 × 50 MiB, 1 GiB
//! in all), each read by a small raw dagx task (one word of every 4 KiB page).
//!
//! Every case runs in a process of its own (this binary again, with `--case NAME`), so the
//! peak resident memory it reports (`VmHWM` of `/proc/self/status`) is that case's alone:
//!
//! * `raw-dagx`: the DAG without duraflow, the baseline of time and memory;
//! * `file-write`, `file-read`: the same bytes written to one file and synced once (each
//!   task's buffer made outside the timing), then read back from it, into one buffer a task;
//! * `raw-dagx-read`: the DAG without duraflow, each output read back from that file: what
//!   a resumed run costs around its reads (dagx 0.3.1's `#[task]` clones every input out of
//!   its `Arc`, so each reader copies its output);
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
//! Wall times are the median of the rounds, and each time ratio the median of the rounds'
//! ratios (a round's runs share the load other processes put on the machine); peak RSS is
//! the highest of the rounds, disk bytes those after the last round.
//!
//! Ratios and their targets (`✗` marks a miss): fresh and changed wall time to raw dagx plus
//! `file-write` (≤ 1.3x); resumed wall time to `file-read` (≤ 2x); peak RSS to raw dagx's
//! (≤ 1.25x); store bytes on disk (allocated blocks, large-record files included) to payload
//! bytes (≤ 1.15x). The zstd rows hold other data: their time and disk ratios have no target.
//!
//! * `cargo bench -p duraflow --bench large` (a Markdown table on stdout)
//! * sizes and rounds: `-- --n 20 --mib 50 --rounds 3`, or `DURAFLOW_LARGE_N`,
//!   `DURAFLOW_LARGE_MIB`, `DURAFLOW_LARGE_ROUNDS`; the stores' folder: `--dir PATH`
//! * every case once on 2 × 1 MiB (a smoke check): `-- --test`

mod large_cases;

use large_cases::{run_case, Config, Measure};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The cases of one round, in order: the baselines first, each store's fresh run before
/// the runs that reopen its store.
const CASES: [&str; 15] = [
    "raw-dagx",
    "file-write",
    "file-read",
    "raw-dagx-read",
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
        "raw-dagx-read",
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

/// What a case reads or writes in a round's folder: its store's folder, or the plain file.
fn files_of(case: &str) -> &str {
    match case {
        "file-write" | "file-read" | "raw-dagx-read" => "plain.bin",
        case => ["-fresh", "-resumed", "-changed"]
            .iter()
            .find_map(|mode| case.strip_suffix(mode))
            .unwrap_or(case),
    }
}

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

/// The middle value.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A ratio as `1.23x`, with `✗` when over `target`.
fn mark(ratio: f64, target: Option<f64>) -> String {
    let over = target.is_some_and(|t| ratio > t);
    format!("{ratio:.2}x{}", if over { " ✗" } else { "" })
}

fn table(rounds: &Rounds, config: &Config) -> String {
    let walls =
        |row: &str| -> Vec<f64> { rounds[row].iter().map(|m| m.wall.as_secs_f64()).collect() };
    // Each round's time over the same round's baseline, the median of those: the load of
    // other processes drifts slowly, so the runs of one round share it.
    let per_round = |row: &str, base: &[&str]| {
        let bases = base
            .iter()
            .map(|b| walls(b))
            .fold(vec![0.0; rounds[row].len()], |sum, b| {
                sum.iter().zip(b).map(|(s, b)| s + b).collect()
            });
        median(walls(row).iter().zip(bases).map(|(w, b)| w / b).collect())
    };
    let peak = |row: &str| rounds[row].iter().map(|m| m.peak_rss).max().unwrap_or(0) as f64;
    let mib = |bytes: f64| format!("{:.0}", bytes / f64::from(1 << 20));
    let mut out = String::from(
        "| case | wall s | compared with | wall ratio | peak RSS MiB | RSS / raw dagx \
         | on disk MiB | disk / payload |\n|---|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for case in CASES.iter().flat_map(|case| match *case {
        "memory" => vec!["memory-fresh", "memory-resumed"],
        case => vec![case],
    }) {
        let baseline = matches!(case, "raw-dagx" | "file-write" | "file-read");
        // The time and disk targets are for incompressible data: none for the zstd rows.
        let target = |t: f64| (!case.contains("zstd")).then_some(t);
        let (base, wall_ratio) = match case {
            _ if baseline => ("–", "–".to_owned()),
            "raw-dagx-read" => ("file-read", mark(per_round(case, &["file-read"]), None)),
            case if case.ends_with("-resumed") => (
                "file-read",
                mark(per_round(case, &["file-read"]), target(2.0)),
            ),
            case => (
                "raw dagx + file-write",
                mark(per_round(case, &["raw-dagx", "file-write"]), target(1.3)),
            ),
        };
        let rss_ratio = match baseline {
            false => mark(peak(case) / peak("raw-dagx"), Some(1.25)),
            true => "–".to_owned(),
        };
        let payload = config.payload() as f64;
        let (disk_mib, disk_ratio) = match rounds[case].last().and_then(|m| m.disk) {
            Some(d) if case != "file-write" => {
                (mib(d as f64), mark(d as f64 / payload, target(1.15)))
            }
            Some(d) => (mib(d as f64), "–".to_owned()),
            None => ("–".to_owned(), "–".to_owned()),
        };
        out.push_str(&format!(
            "| {case} | {:.2} | {base} | {wall_ratio} | {} | {rss_ratio} | {disk_mib} \
             | {disk_ratio} |\n",
            median(walls(case)),
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
        for (i, case) in CASES.iter().enumerate() {
            for (row, measure) in spawn_case(case, &config) {
                eprintln!("round {round}: {row} {:.2} s", measure.wall.as_secs_f64());
                measures.entry(row).or_default().push(measure);
            }
            // What no later case reads is removed at once: the bench needs room on disk for
            // about two copies of the payload, not one a store.
            let used = files_of(case);
            if !CASES[i + 1..].iter().any(|later| files_of(later) == used) {
                let _ = std::fs::remove_dir_all(config.dir.join(used));
                let _ = std::fs::remove_file(config.dir.join(used));
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
        "{n} tasks × {mib} MiB ({} MiB of payload), {rounds} round(s)\n",
        config.payload() >> 20
    );
    print!("{}", table(&measures, &config));
}
