//! `schema-fixture write DIR`: saves this build's values and runs its tasks against the
//! `FileStore` in `DIR`. `schema-fixture read DIR`: reads every key back. `schema-fixture run
//! DIR`: runs the tasks again. Each prints the lines described in the library's docs.

use duraflow_schema_fixture::{open, read_all, run_all, save_all};
use std::path::Path;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [verb, dir] = args.as_slice() else {
        eprintln!("usage: schema-fixture write|read|run DIR");
        return ExitCode::from(2);
    };
    let lines = match open(Path::new(dir)) {
        Ok(ctx) => match verb.as_str() {
            "write" => match save_all(&ctx) {
                Ok(mut lines) => run_all(&ctx).await.map(|run| {
                    lines.extend(run);
                    lines
                }),
                Err(e) => Err(e),
            },
            "read" => Ok(read_all(&ctx)),
            "run" => run_all(&ctx).await,
            other => {
                eprintln!("unknown verb {other:?}: use write, read or run");
                return ExitCode::from(2);
            }
        },
        Err(e) => Err(e),
    };
    match lines {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
