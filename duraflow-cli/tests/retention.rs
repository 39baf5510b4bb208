//! `ls` and `rm` by prefix and glob, `du`, `gc` by retention policy, `show` of text and
//! compressed payloads, and `--json`: real stores written with the duraflow API, inspected
//! by the built binary.

use duraflow::codec::{self, Stamp};
use duraflow::{Context, FileStore, RedbStore, Storage};
use duraflow_tests::sweep_store::written_at;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

const DAY_MS: u64 = 86_400_000;

/// Runs `duraflow COMMAND STORE EXTRA...`: exit code, stdout, stderr.
fn run(command: &str, store: &Path, extra: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_duraflow"))
        .arg(command)
        .arg(store)
        .args(extra)
        .output()
        .expect("run the duraflow binary");
    (
        output.status.code().expect("exited"),
        String::from_utf8(output.stdout).expect("UTF-8"),
        String::from_utf8(output.stderr).expect("UTF-8"),
    )
}

fn json(command: &str, store: &Path, extra: &[&str]) -> Value {
    let mut args = extra.to_vec();
    args.push("--json");
    let (code, stdout, stderr) = run(command, store, &args);
    assert_eq!(code, 0, "{command}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{command}: {e}: {stdout}"))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    File,
    Redb,
}

impl Kind {
    fn context(self, path: &Path) -> Context {
        match self {
            Kind::File => Context::new(FileStore::new(path).unwrap()),
            Kind::Redb => Context::new(RedbStore::open(path).unwrap()),
        }
    }
}

/// A closed store of each kind with `load-1`, `load-2` (i32), `mul-2` (i32), `img/a`
/// (bytes), written `days` ago each, and `note` (a String, written now).
fn stores(tmp: &TempDir, days: [u64; 4]) -> Vec<(Kind, PathBuf)> {
    let now = now_ms();
    [(Kind::File, "files"), (Kind::Redb, "store.redb")]
        .into_iter()
        .map(|(kind, name)| {
            let path = tmp.path().join(name);
            let ctx = kind.context(&path);
            for (key, age) in ["load-1", "load-2", "mul-2", "img/a"].into_iter().zip(days) {
                let record = match key {
                    "img/a" => codec::encode(key, &vec![0xffu8; 300], Stamp::default()),
                    _ => codec::encode(key, &7i32, Stamp::default()),
                };
                let record = written_at(record.unwrap(), now - age * DAY_MS);
                ctx.db.put(key, record).unwrap();
            }
            ctx.save("note", &"hello, store".to_owned()).unwrap();
            (kind, path)
        })
        .collect()
}

fn keys(listing: &Value) -> Vec<&str> {
    listing
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["key"].as_str().unwrap())
        .collect()
}

#[test]
fn ls_takes_a_prefix_or_a_glob() {
    let tmp = TempDir::new().unwrap();
    for (kind, store) in stores(&tmp, [0; 4]) {
        assert_eq!(keys(&json("ls", &store, &["load-"])), ["load-1", "load-2"]);
        assert_eq!(keys(&json("ls", &store, &["*-2"])), ["load-2", "mul-2"]);
        assert_eq!(keys(&json("ls", &store, &["img/*"])), ["img/a"]);
        let all = json("ls", &store, &[]);
        assert_eq!(all.as_array().unwrap().len(), 5, "{kind:?}");
        let note = &all.as_array().unwrap()[4];
        assert_eq!(note["type"], "alloc::string::String", "{kind:?}");
        assert_eq!(note["task_version"], 0);
        let (code, text, _) = run("ls", &store, &["mul"]);
        assert_eq!(code, 0);
        assert_eq!(
            text.lines().count(),
            2,
            "{kind:?}: header and one row\n{text}"
        );
    }
}

#[test]
fn rm_removes_many_keys_by_name_glob_and_prefix_with_a_dry_run_first() {
    let tmp = TempDir::new().unwrap();
    for (kind, store) in stores(&tmp, [0; 4]) {
        let (code, dry, _) = run("rm", &store, &["load-*", "note", "--dry-run"]);
        assert_eq!(code, 0, "{kind:?}");
        assert!(dry.contains("would remove load-1 (") && dry.contains("would remove 3 records"));
        assert_eq!(
            json("ls", &store, &[]).as_array().unwrap().len(),
            5,
            "{kind:?}"
        );

        let (code, out, err) = run("rm", &store, &["load-*", "note", "--prefix", "img/"]);
        assert_eq!(code, 0, "{kind:?}: {err}");
        assert!(out.contains("removed 4 records"), "{out}");
        assert_eq!(keys(&json("ls", &store, &[])), ["mul-2"], "{kind:?}");
        // The journal's keys are never reached by a glob that does not name them.
        let (code, _, err) = run("rm", &store, &["*", "missing"]);
        assert_eq!(code, 1, "{kind:?}: a key without a record is a problem");
        assert!(err.contains("no record under key `missing`"), "{err}");
        assert_eq!(keys(&json("ls", &store, &[])), Vec::<&str>::new());
        let (code, _, err) = run("rm", &store, &["nothing-*"]);
        assert_eq!(code, 1);
        assert!(err.contains("no key matches `nothing-*`"), "{err}");
    }
}

#[test]
fn du_groups_by_prefix_with_oldest_and_newest_use() {
    let tmp = TempDir::new().unwrap();
    for (kind, store) in stores(&tmp, [10, 3, 5, 1]) {
        let du = json("du", &store, &[]);
        let groups = du["groups"].as_array().unwrap();
        let prefixes: Vec<&str> = groups
            .iter()
            .map(|g| g["prefix"].as_str().unwrap())
            .collect();
        assert_eq!(prefixes, ["img", "load", "mul", "note"], "{kind:?}");
        let load = &groups[1];
        assert_eq!(load["records"], 2);
        let day = |g: &Value, field: &str| (now_ms() - g[field].as_u64().unwrap()) / DAY_MS;
        assert_eq!(
            (day(load, "oldest_use_ms"), day(load, "newest_use_ms")),
            (10, 3)
        );
        let listed: u64 = json("ls", &store, &[])
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["size"].as_u64().unwrap())
            .sum();
        assert_eq!(du["total"]["bytes"], listed, "{kind:?}");
        assert_eq!(du["total"]["records"], 5);
        // Another separator: `img/a` is its own group, `load-1` too.
        let by_slash = json("du", &store, &["--separator", "/"]);
        assert_eq!(by_slash["groups"].as_array().unwrap().len(), 5, "{kind:?}");
        let (code, table, _) = run("du", &store, &[]);
        assert_eq!(code, 0);
        assert!(table.starts_with("PREFIX"), "{table}");
        assert!(table
            .lines()
            .any(|l| l.starts_with("load ") && l.contains("10d ago")));
    }
}

#[test]
fn gc_sweeps_by_age_size_and_expiry_and_a_dry_run_lists_it_first() {
    let tmp = TempDir::new().unwrap();
    for (kind, store) in stores(&tmp, [40, 35, 2, 1]) {
        let dry = json("gc", &store, &["--unused-for", "30d", "--dry-run"]);
        let removed: Vec<&str> = dry["removed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap())
            .collect();
        assert_eq!(removed, ["load-1", "load-2"], "{kind:?}");
        assert_eq!(dry["removed"][0]["why"], "unused");
        assert!(dry["bytes"].as_u64().unwrap() > 0);
        assert_eq!(
            json("ls", &store, &[]).as_array().unwrap().len(),
            5,
            "dry run"
        );

        let (code, out, err) = run("gc", &store, &["--unused-for", "30d"]);
        assert_eq!(code, 0, "{kind:?}: {err}");
        assert!(out.contains("removed 2 records"), "{out}");
        assert_eq!(keys(&json("ls", &store, &[])), ["img/a", "mul-2", "note"]);

        // Least recently used first: `mul-2` (2 days) goes before `img/a` (1 day).
        let note = json("ls", &store, &["note"])[0]["size"].as_u64().unwrap();
        let img = json("ls", &store, &["img/"])[0]["size"].as_u64().unwrap();
        let cap = (note + img).to_string();
        let swept = json("gc", &store, &["--max-size", &cap]);
        assert_eq!(swept["removed"][0]["key"], "mul-2", "{kind:?}");
        assert_eq!(swept["removed"][0]["why"], "over the size cap");
        let (code, _, err) = run("gc", &store, &["--max-size", "lots"]);
        assert_eq!(code, 2);
        assert!(err.contains("10GiB"), "{err}");

        // No run gave a ttl to any of them: nothing is expired.
        assert_eq!(json("gc", &store, &["--expired"])["records"], 0);
    }
}

#[test]
fn show_prints_a_string_as_text_and_decompresses_first() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("files");
    let long = "all work and no play; ".repeat(40);
    let ctx = Context::new(FileStore::new(&path).unwrap().with_compression(3));
    ctx.save("long", &long).unwrap();
    ctx.save("bytes", &vec![0xffu8, 0, 1]).unwrap();
    ctx.save("number", &104i32).unwrap();
    let (code, out, _) = run("show", &path, &["long"]);
    assert_eq!(code, 0);
    assert!(out.contains("compressed:         zstd"), "{out}");
    assert!(out.contains(&format!("payload (text, {} bytes):\n{long}\n", long.len())));
    let shown = json("show", &path, &["long"]);
    assert_eq!(shown["payload_text"], long.as_str());
    assert_eq!(shown["compressed"], true);
    // Not a string: a hex dump, whatever the bytes happen to be.
    for key in ["bytes", "number"] {
        let (_, out, _) = run("show", &path, &[key]);
        assert!(out.contains("payload:\n00000000  "), "{key}: {out}");
        assert!(json("show", &path, &[key])["payload_hex"].is_string());
    }
    let (_, hex, _) = run("show", &path, &["long", "--hex"]);
    assert!(hex.contains("payload:\n00000000  "), "{hex}");
    assert!(ctx.db.get("long").unwrap().is_some());
}
