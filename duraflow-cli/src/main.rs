//! `duraflow`: inspect a duraflow store from the command line.
//!
//! `duraflow <COMMAND> <STORE> [ARGS]`, where STORE is a `FileStore` directory or a
//! `RedbStore` file. Exit status: 0 ok, 1 the command found problems, 2 usage or store error.

mod commands;
mod error;
mod format;
mod store;

use clap::{Args, Parser, Subcommand};
use commands::Outcome;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Inspect a duraflow store: list, show, remove and verify records, clean up temp files.
#[derive(Parser)]
#[command(
    name = "duraflow",
    version,
    override_usage = "duraflow <COMMAND> <STORE> [ARGS]",
    after_help = "STORE is a FileStore directory (it holds a `.duraflow-store` marker) or a \
                  RedbStore database file. No command ever creates a store.\n\n\
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
    /// List every record: key, size in bytes, stored type, task version, age
    Ls {
        #[command(flatten)]
        store: StoreArg,
    },
    /// Print the header fields of a record and a hex dump of its payload
    Show {
        #[command(flatten)]
        store: StoreArg,
        /// Key of the record
        key: String,
        /// Dump the whole payload, not only its first 256 bytes
        #[arg(long)]
        all: bool,
    },
    /// Remove a record, so the task producing it runs again on the next run
    Rm {
        #[command(flatten)]
        store: StoreArg,
        /// Key of the record
        key: String,
    },
    /// Check every record; list the bad ones and exit with 1 if there are any
    Verify {
        #[command(flatten)]
        store: StoreArg,
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
    /// Remove temp files left by crashed writers (FileStore; a RedbStore has none)
    Gc {
        #[command(flatten)]
        store: StoreArg,
        /// Also remove temp files of processes still running (their write then fails)
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let result = match &cli.command {
        Command::Ls { store } => commands::ls::run(&store.path, &mut out),
        Command::Show { store, key, all } => commands::show::run(&store.path, key, *all, &mut out),
        Command::Rm { store, key } => commands::rm::run(&store.path, key, &mut out),
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
        Command::Gc { store, force } => commands::gc::run(&store.path, *force, &mut out),
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
