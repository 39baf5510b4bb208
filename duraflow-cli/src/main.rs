//! `duraflow`: inspect a duraflow store from the command line.
//!
//! `duraflow <COMMAND> <STORE> [ARGS]`, where STORE is a `FileStore` directory or a
//! `RedbStore` file. Exit status: 0 ok, 1 the command found problems, 2 usage or store error.

mod commands;
mod error;
mod format;
mod keys;
mod store;

use clap::{Args, Parser, Subcommand};
use commands::Outcome;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Inspect a duraflow store: list, show, remove, verify and sweep records, show disk use,
/// clean up temp files.
#[derive(Parser)]
#[command(
    name = "duraflow",
    version,
    override_usage = "duraflow <COMMAND> <STORE> [ARGS]",
    after_help = "STORE is a FileStore directory (it holds a `.duraflow-store` marker) or a \
                  RedbStore database file. No command ever creates a store. The commands that \
                  only read (ls, show, du, verify, runs, report, and rm and gc with \
                  --dry-run) also work while a running process holds a RedbStore.\n\n\
                  Exit status: 0 ok; 1 the command found problems (bad records, unknown key); \
                  2 usage error, or the store cannot be opened or read."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The path of the store, shared by every command.
#[derive(Args)]
struct StoreArg {
    /// FileStore directory or RedbStore file
    #[arg(value_name = "STORE")]
    path: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// List records: key, size in bytes, stored type, task version, age
    Ls {
        #[command(flatten)]
        store: StoreArg,
        /// Only the keys that start with this, or that this glob matches (`*`, `?`, `[..]`)
        pattern: Option<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Print the header fields of a record and its payload: as text when it is a string,
    /// else as a hex dump
    Show {
        #[command(flatten)]
        store: StoreArg,
        /// Key of the record
        key: String,
        /// Dump the whole payload, not only its first 256 bytes
        #[arg(long)]
        all: bool,
        /// A hex dump even of a payload that is text
        #[arg(long)]
        hex: bool,
        /// Print JSON instead of lines
        #[arg(long)]
        json: bool,
    },
    /// Remove records, so the tasks producing them run again on the next run
    Rm {
        #[command(flatten)]
        store: StoreArg,
        /// Keys of the records, or globs (`*`, `?`, `[..]`) of keys
        #[arg(required_unless_present = "prefix")]
        keys: Vec<String>,
        /// Also every record whose key starts with this
        #[arg(long, value_name = "PREFIX")]
        prefix: Vec<String>,
        /// Only list what would be removed
        #[arg(long)]
        dry_run: bool,
    },
    /// Check every record; list the bad ones and exit with 1 if there are any
    Verify {
        #[command(flatten)]
        store: StoreArg,
    },
    /// Records, bytes, and oldest and newest use, by key prefix
    Du {
        #[command(flatten)]
        store: StoreArg,
        /// A key's prefix ends at the first of these characters
        #[arg(long, default_value = "-/", value_name = "CHARS")]
        separator: String,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// List the runs of the store's journal, or (with RUN: an id or `last`) one run's tasks
    Runs {
        #[command(flatten)]
        store: StoreArg,
        /// The run to show: its id, or `last`
        run: Option<String>,
        /// Only the tasks with this outcome
        #[arg(long, value_parser = ["executed", "restored", "failed", "skipped"])]
        outcome: Option<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Write one run of the journal as a self-contained HTML timeline page
    Report {
        #[command(flatten)]
        store: StoreArg,
        /// The run: its id, or `last`
        #[arg(default_value = "last")]
        run: String,
        /// The HTML file to write
        #[arg(short, long, value_name = "FILE.html")]
        output: PathBuf,
    },
    /// Remove records by a retention policy (unused for a while, beyond a size cap least
    /// recently used first, expired), and temp files left by crashed writers
    Gc {
        #[command(flatten)]
        store: StoreArg,
        /// Also remove temp files of processes still running (their write then fails)
        #[arg(long)]
        force: bool,
        /// Remove records no run has used for this long (`30d`, `12h`)
        #[arg(long, value_name = "AGE", value_parser = duraflow::parse_duration)]
        unused_for: Option<std::time::Duration>,
        /// Remove the least recently used records until the rest take at most this much
        /// (`10GiB`, `500MB`)
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
        /// Remove records older than their task's ttl
        #[arg(long)]
        expired: bool,
        /// Only list what would be removed, with sizes
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of lines
        #[arg(long)]
        json: bool,
    },
}

/// A size such as `10GiB`, `500MB` or `4096`, in bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    text.parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|reason| format!("{reason}: write e.g. 10GiB or 500MB"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let result = match &cli.command {
        Command::Ls {
            store,
            pattern,
            json,
        } => commands::ls::run(&store.path, pattern.as_deref(), *json, &mut out),
        Command::Show {
            store,
            key,
            all,
            hex,
            json,
        } => {
            let options = commands::show::Options {
                all: *all,
                hex: *hex,
                json: *json,
            };
            commands::show::run(&store.path, key, &options, &mut out)
        }
        Command::Rm {
            store,
            keys,
            prefix,
            dry_run,
        } => commands::rm::run(&store.path, keys, prefix, *dry_run, &mut out),
        Command::Du {
            store,
            separator,
            json,
        } => commands::du::run(&store.path, separator, *json, &mut out),
        Command::Verify { store } => commands::verify::run(&store.path, &mut out),
        Command::Runs {
            store,
            run,
            outcome,
            json,
        } => {
            let options = commands::runs::Options {
                run: run.as_deref(),
                outcome: outcome.as_deref(),
                json: *json,
            };
            commands::runs::run(&store.path, &options, &mut out)
        }
        Command::Report { store, run, output } => {
            commands::report::run(&store.path, run, output, &mut out)
        }
        Command::Gc {
            store,
            force,
            unused_for,
            max_size,
            expired,
            dry_run,
            json,
        } => {
            let options = commands::gc::Options {
                force: *force,
                unused_for: *unused_for,
                max_size: *max_size,
                expired: *expired,
                dry_run: *dry_run,
                json: *json,
            };
            commands::gc::run(&store.path, &options, &mut out)
        }
    };
    let result = result.and_then(|outcome| out.flush().map(|()| outcome).map_err(Into::into));
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Problems) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
