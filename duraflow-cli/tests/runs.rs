//! `duraflow runs`: the run journal of real stores, written by real runs.

use dagx::{task, DagRunner, Task};
use duraflow::{Context, DurableDag, FileStore, RedbStore};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

struct Load(i32);

#[task]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

struct Check;

#[task]
impl Check {
    async fn run(x: &i32) -> Result<i32, String> {
        Err(format!("{x} is too small"))
    }
}

/// Runs a small DAG twice against the store at `path`: it executes, then restores.
fn two_runs(open: impl Fn() -> Context) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for _ in 0..2 {
        let ctx = Arc::new(open());
        rt.block_on(async {
            let dag = DagRunner::new();
            let d = DurableDag::new(&dag, ctx);
            let load = d.add("load-1", Load(1));
            d.add("check", Check).depends_on(&load);
            d.add("load-2", Load(2));
            d.run(|f| {
                tokio::spawn(f);
            })
            .await
            .unwrap();
        });
    }
}

fn duraflow(args: &[&str], store: &Path) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_duraflow"))
        .arg(args[0])
        .arg(store)
        .args(&args[1..])
        .output()
        .expect("run the duraflow binary");
    (
        output.status.code().expect("exited"),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn json(args: &[&str], store: &Path) -> Vec<Value> {
    let (code, stdout, stderr) = duraflow(args, store);
    assert_eq!(code, 0, "{stderr}");
    match serde_json::from_str(&stdout).expect("JSON output") {
        Value::Array(rows) => rows,
        other => panic!("expected an array, got {other}"),
    }
}

fn check_store(store: &Path) {
    let runs = json(&["runs", "--json"], store);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(
        (runs[0]["executed"].as_u64(), runs[0]["restored"].as_u64()),
        (Some(3), Some(0))
    );
    // The task whose output is an `Err` is not stored: it runs again and fails again.
    assert_eq!(
        (runs[1]["executed"].as_u64(), runs[1]["restored"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(runs[1]["failed"].as_u64(), Some(1));

    let (code, table, _) = duraflow(&["runs"], store);
    assert_eq!(code, 0);
    let first_id = runs[0]["id"].as_str().unwrap();
    assert!(table.lines().next().unwrap().starts_with("ID"), "{table}");
    assert!(table.contains(first_id), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");

    let restored = json(&["runs", "last", "--outcome", "restored", "--json"], store);
    let mut keys: Vec<&str> = restored
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    keys.sort();
    assert_eq!(keys, ["load-1", "load-2"]);

    let first = json(&["runs", first_id, "--json"], store);
    let check = first
        .iter()
        .find(|t| t["key"] == "check")
        .expect("check is listed");
    assert_eq!(check["outcome"], "failed");
    assert!(
        check["error"].as_str().unwrap().contains("1 is too small"),
        "{check}"
    );
    assert_eq!(
        first.iter().filter(|t| t["reason"] == "no record").count(),
        3
    );

    let (code, table, _) = duraflow(&["runs", "last"], store);
    assert_eq!(code, 0);
    assert!(
        table.contains("restored") && table.contains("1 is too small"),
        "{table}"
    );

    let page = store.with_extension("html");
    let page_arg = page.to_str().unwrap();
    let (code, stdout, stderr) = duraflow(&["report", first_id, "-o", page_arg], store);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(first_id), "{stdout}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"));
    assert!(html.contains("load-1") && html.contains("1 is too small"));

    let (code, _, stderr) = duraflow(&["runs", "no-such-run"], store);
    assert_eq!(code, 2);
    assert!(stderr.contains("no run `no-such-run`"), "{stderr}");
}

#[test]
fn runs_lists_the_journal_of_a_file_store_and_shows_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("files");
    two_runs(|| Context::new(FileStore::new(&dir).unwrap()));
    check_store(&dir);
}

#[test]
fn runs_lists_the_journal_of_a_redb_store_and_shows_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("store.redb");
    two_runs(|| Context::new(RedbStore::open(&file).unwrap()));
    check_store(&file);
}
