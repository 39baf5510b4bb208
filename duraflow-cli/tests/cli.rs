//! End to end: real stores written with the duraflow API, inspected by the built binary.

use duraflow::codec;
use duraflow::{Context, FileStore, RedbStore};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// What a run of the binary printed and returned.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn duraflow<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = Command::new(env!("CARGO_BIN_EXE_duraflow"))
        .args(args)
        .output()
        .expect("run the duraflow binary");
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// Runs `duraflow COMMAND STORE EXTRA...`.
fn run(command: &str, store: &Path, extra: &[&str]) -> Run {
    let mut args = vec![OsStr::new(command), store.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    duraflow(args)
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    File,
    Redb,
}

const KINDS: [Kind; 2] = [Kind::File, Kind::Redb];

impl Kind {
    fn path(self, tmp: &TempDir) -> PathBuf {
        match self {
            Kind::File => tmp.path().join("files"),
            Kind::Redb => tmp.path().join("store.redb"),
        }
    }

    fn context(self, path: &Path) -> Context {
        match self {
            Kind::File => Context::new(FileStore::new(path).unwrap()),
            Kind::Redb => Context::new(RedbStore::open(path).unwrap()),
        }
    }
}

const GREETING: &str = "hello";

/// A store holding `load-5` (i32), `greeting` (String) and `a.b` (Vec<u8>); the context is
/// dropped, so the redb file is no longer locked.
fn sample_store(kind: Kind, tmp: &TempDir) -> PathBuf {
    let path = kind.path(tmp);
    let ctx = kind.context(&path);
    ctx.save("load-5", &5i32).unwrap();
    ctx.save("greeting", &GREETING.to_owned()).unwrap();
    ctx.save("a.b", &vec![1u8, 2, 3]).unwrap();
    path
}

/// The FileStore file of `key` in `dir`.
fn file_of(dir: &Path, key: &str) -> PathBuf {
    FileStore::open_existing(dir).unwrap().path_of(key)
}

fn flip_payload_byte(file: &Path) {
    let mut bytes = fs::read(file).unwrap();
    let at = bytes.len() - 5; // last payload byte, before the CRC
    bytes[at] ^= 0xff;
    fs::write(file, bytes).unwrap();
}

/// Size of the record `Context::save` writes for `value` under `key`.
macro_rules! encoded_len {
    ($key:expr, $value:expr) => {
        codec::encode($key, $value, codec::Stamp::default())
            .unwrap()
            .len()
    };
}

#[test]
fn ls_lists_every_key_sorted_with_size_type_version_and_age() {
    for kind in KINDS {
        let tmp = TempDir::new().unwrap();
        let store = sample_store(kind, &tmp);
        let out = run("ls", &store, &[]);
        assert_eq!(out.code, 0, "{kind:?}: {}", out.stderr);
        let lines: Vec<Vec<&str>> = out
            .stdout
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines[0],
            ["KEY", "SIZE", "TYPE", "VERSION", "AGE"],
            "{kind:?}"
        );
        let expected = [
            (
                "a.b",
                encoded_len!("a.b", &vec![1u8, 2, 3]),
                "alloc::vec::Vec<u8>",
            ),
            (
                "greeting",
                encoded_len!("greeting", &GREETING.to_owned()),
                "alloc::string::String",
            ),
            ("load-5", encoded_len!("load-5", &5i32), "i32"),
        ];
        assert_eq!(lines.len(), 1 + expected.len(), "{kind:?}: {}", out.stdout);
        for (line, (key, size, ty)) in lines[1..].iter().zip(expected) {
            assert_eq!(line[..4], [key, &size.to_string(), ty, "0"], "{kind:?}");
            assert!(
                line[4].ends_with('s'),
                "{kind:?}: a fresh record's age: {}",
                line[4]
            );
        }
    }
}

#[test]
fn ls_of_an_empty_store_says_so() {
    let tmp = TempDir::new().unwrap();
    let path = Kind::Redb.path(&tmp);
    drop(Kind::Redb.context(&path));
    let out = run("ls", &path, &[]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    assert!(out.stderr.contains("no records"), "{}", out.stderr);
}

#[test]
fn show_prints_the_header_and_a_hex_dump_of_the_payload() {
    for kind in KINDS {
        let tmp = TempDir::new().unwrap();
        let store = sample_store(kind, &tmp);
        let out = run("show", &store, &["greeting", "--hex"]);
        assert_eq!(out.code, 0, "{kind:?}: {}", out.stderr);
        let size = encoded_len!("greeting", &GREETING.to_owned());
        let record = codec::encode("greeting", &GREETING.to_owned(), Default::default()).unwrap();
        let fingerprint = codec::parse(&record).unwrap().schema_fingerprint;
        let fingerprint: String = fingerprint.iter().map(|b| format!("{b:02x}")).collect();
        for line in [
            "key:                greeting".to_owned(),
            format!("format version:     {}", codec::FORMAT_VERSION),
            "task version:       0".to_owned(),
            "type name:          alloc::string::String".to_owned(),
            "schema version:     0".to_owned(),
            format!("schema fingerprint: {fingerprint}"),
            "input fingerprint:  none".to_owned(),
            format!("record size:        {size} bytes"),
            "payload size:       6 bytes".to_owned(),
            "00000000  05 68 65 6c 6c 6f".to_owned(),
        ] {
            assert!(
                out.stdout.contains(&line),
                "{kind:?}: no {line:?} in\n{}",
                out.stdout
            );
        }
        assert!(out.stdout.contains("|.hello|"), "{}", out.stdout);
        let written = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("written at:         "))
            .expect("a written-at line");
        // e.g. 2026-04-01T12:34:56.789Z (0s ago)
        assert_eq!(&written[4..5], "-", "{written}");
        assert_eq!(&written[10..11], "T", "{written}");
        assert!(
            written.contains("Z (") && written.ends_with(" ago)"),
            "{written}"
        );
    }
}

#[test]
fn show_cuts_long_payloads_unless_all() {
    let tmp = TempDir::new().unwrap();
    let path = Kind::File.path(&tmp);
    Kind::File
        .context(&path)
        .save("big", &vec![0xabu8; 1000])
        .unwrap();
    let payload_len: usize = 2 + 1000; // varint length, then the bytes
    let cut = run("show", &path, &["big"]);
    assert_eq!(cut.code, 0, "{}", cut.stderr);
    assert!(cut
        .stdout
        .contains(&format!("... {} more bytes", payload_len - 256)));
    assert_eq!(
        cut.stdout.lines().filter(|l| l.contains(" ab ab ")).count(),
        16
    );
    let all = run("show", &path, &["big", "--all"]);
    assert!(!all.stdout.contains("more bytes"), "{}", all.stdout);
    assert_eq!(
        all.stdout.lines().filter(|l| l.contains(" ab ab ")).count(),
        payload_len.div_ceil(16)
    );
}

#[test]
fn show_and_rm_of_an_unknown_key_exit_1_naming_the_key() {
    for kind in KINDS {
        let tmp = TempDir::new().unwrap();
        let store = sample_store(kind, &tmp);
        for command in ["show", "rm"] {
            let out = run(command, &store, &["missing-key"]);
            assert_eq!(out.code, 1, "{kind:?} {command}");
            assert!(
                out.stderr.contains("no record under key `missing-key`"),
                "{kind:?} {command}: {}",
                out.stderr
            );
        }
    }
}

#[test]
fn an_invalid_key_is_a_usage_error() {
    let tmp = TempDir::new().unwrap();
    let store = sample_store(Kind::File, &tmp);
    let out = run("show", &store, &[""]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("invalid key"), "{}", out.stderr);
}

#[test]
fn rm_removes_the_record() {
    for kind in KINDS {
        let tmp = TempDir::new().unwrap();
        let store = sample_store(kind, &tmp);
        let out = run("rm", &store, &["greeting"]);
        assert_eq!(out.code, 0, "{kind:?}: {}", out.stderr);
        assert!(out.stdout.contains("removed greeting"), "{}", out.stdout);
        let listed = run("ls", &store, &[]).stdout;
        assert!(!listed.contains("greeting"), "{kind:?}: {listed}");
        assert!(listed.contains("load-5"), "{kind:?}: {listed}");
        let ctx = kind.context(&store);
        assert_eq!(ctx.get::<String>("greeting"), None, "{kind:?}");
        assert_eq!(ctx.get::<i32>("load-5"), Some(5), "{kind:?}");
    }
}

#[test]
fn verify_accepts_a_good_store() {
    for kind in KINDS {
        let tmp = TempDir::new().unwrap();
        let store = sample_store(kind, &tmp);
        let out = run("verify", &store, &[]);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "ok 3 records\n"),
            "{kind:?}"
        );
    }
}

#[test]
fn verify_and_ls_report_a_corrupted_record() {
    let tmp = TempDir::new().unwrap();
    let store = sample_store(Kind::File, &tmp);
    flip_payload_byte(&file_of(&store, "greeting"));
    let out = run("verify", &store, &[]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("bad greeting: checksum mismatch"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("1 of 3 records bad"), "{}", out.stdout);
    assert!(!out.stdout.contains("load-5"), "{}", out.stdout);
    let listed = run("ls", &store, &[]);
    assert_eq!(listed.code, 0);
    let line = listed
        .stdout
        .lines()
        .find(|l| l.starts_with("greeting"))
        .unwrap();
    assert!(line.ends_with("<corrupt: checksum mismatch>"), "{line}");
    let shown = run("show", &store, &["greeting"]);
    assert_eq!(shown.code, 1);
    assert!(
        shown.stderr.contains("checksum mismatch"),
        "{}",
        shown.stderr
    );
    assert!(
        shown.stdout.contains("00000000  44 46 4c 57"),
        "raw dump: {}",
        shown.stdout
    );
}

#[test]
fn verify_reports_a_record_stored_under_another_key() {
    let tmp = TempDir::new().unwrap();
    let store = sample_store(Kind::File, &tmp);
    fs::copy(file_of(&store, "load-5"), file_of(&store, "copied")).unwrap();
    let out = run("verify", &store, &[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains("bad copied: the record belongs to key \"load-5\""),
        "{}",
        out.stdout
    );
}

#[test]
fn verify_finds_files_the_store_does_not_list() {
    let tmp = TempDir::new().unwrap();
    let store = sample_store(Kind::File, &tmp);
    let long_key = "x".repeat(300); // stored under a hashed file name
    Kind::File.context(&store).save(&long_key, &1u8).unwrap();
    assert_eq!(run("verify", &store, &[]).stdout, "ok 4 records\n");
    let hashed = file_of(&store, &long_key);
    flip_payload_byte(&hashed);
    fs::write(store.join("README"), "notes ".repeat(20)).unwrap(); // longer than a header
    let out = run("verify", &store, &[]);
    assert_eq!(out.code, 1);
    let name = hashed.file_name().unwrap().to_str().unwrap();
    assert!(
        out.stdout
            .contains(&format!("bad <file {name}>: checksum mismatch")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("bad <file README>: not a duraflow record"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("2 of 5 records bad"), "{}", out.stdout);
}

#[test]
fn gc_removes_stray_temp_files_and_keeps_those_of_live_processes() {
    let tmp = TempDir::new().unwrap();
    let store = sample_store(Kind::File, &tmp);
    let stray = store.join(".tmp-999999999-0");
    let live = store.join(format!(".tmp-{}-0", std::process::id()));
    fs::write(&stray, "half a record").unwrap();
    fs::write(&live, "being written").unwrap();
    let out = run("gc", &store, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("removed 1 stray temp file\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("kept 1 temp file"), "{}", out.stdout);
    assert!(!stray.exists());
    assert!(live.exists());
    let forced = run("gc", &store, &["--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced.stdout.contains("removed 1 stray temp file\n"),
        "{}",
        forced.stdout
    );
    assert!(!live.exists());
    assert!(store.join(".duraflow-store").exists(), "the marker stays");
    assert_eq!(run("verify", &store, &[]).stdout, "ok 3 records\n");
}

#[test]
fn gc_of_a_redb_store_has_nothing_to_collect() {
    let tmp = TempDir::new().unwrap();
    let store = sample_store(Kind::Redb, &tmp);
    let out = run("gc", &store, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("nothing to collect"), "{}", out.stdout);
}

#[test]
fn a_path_that_is_not_a_store_exits_2_and_stays_untouched() {
    let tmp = TempDir::new().unwrap();
    let empty_dir = tmp.path().join("empty");
    fs::create_dir(&empty_dir).unwrap();
    let text = tmp.path().join("notes.txt");
    fs::write(&text, "not a database\n").unwrap();
    let missing = tmp.path().join("missing");
    for path in [&empty_dir, &text, &missing] {
        for (command, extra) in [
            ("ls", &[][..]),
            ("show", &["k"][..]),
            ("rm", &["k"][..]),
            ("verify", &[][..]),
            ("gc", &[][..]),
        ] {
            let out = run(command, path, extra);
            assert_eq!(out.code, 2, "{command} {}", path.display());
            assert!(
                out.stderr.contains("is not a duraflow store"),
                "{command} {}: {}",
                path.display(),
                out.stderr
            );
        }
    }
    assert_eq!(
        fs::read_dir(&empty_dir).unwrap().count(),
        0,
        "no marker written"
    );
    assert_eq!(fs::read_to_string(&text).unwrap(), "not a database\n");
    assert!(!missing.exists(), "no store created");
}

#[test]
fn a_redb_store_held_by_a_running_process_is_read_but_not_written() {
    let tmp = TempDir::new().unwrap();
    let store = sample_store(Kind::Redb, &tmp);
    let holder = Context::new(RedbStore::open(&store).unwrap());
    holder.save("while-held", &9i32).unwrap();
    for (command, extra) in [
        ("ls", &[][..]),
        ("show", &["while-held"][..]),
        ("du", &[][..]),
        ("verify", &[][..]),
        ("gc", &["--max-size", "0", "--dry-run"][..]),
        ("rm", &["greeting", "--dry-run"][..]),
    ] {
        let out = run(command, &store, extra);
        assert_eq!(out.code, 0, "{command}: {}", out.stderr);
    }
    assert!(run("ls", &store, &[]).stdout.contains("while-held"));
    for (command, extra) in [("rm", &["greeting"][..]), ("gc", &["--max-size", "0"][..])] {
        let out = run(command, &store, extra);
        assert_eq!(out.code, 2, "{command}");
        assert!(
            out.stderr.contains("is in use"),
            "{command}: {}",
            out.stderr
        );
    }
    assert_eq!(holder.get::<String>("greeting").as_deref(), Some(GREETING));
    drop(holder);
    assert_eq!(run("rm", &store, &["greeting"]).code, 0);
}

#[test]
fn usage_errors_exit_2_and_help_names_the_commands() {
    assert_eq!(duraflow(Vec::<&str>::new()).code, 2);
    assert_eq!(duraflow(["ls"]).code, 2);
    let help = duraflow(["--help"]);
    assert_eq!(help.code, 0);
    for word in ["ls", "show", "rm", "verify", "gc", "STORE", "Exit status"] {
        assert!(help.stdout.contains(word), "{word}: {}", help.stdout);
    }
}
