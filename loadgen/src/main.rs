//! krypton-load: a closed-loop KMIP load generator.
//!
//! Opens C mutual-TLS connections to a KMIP server — krypton-gateway, krypton-core, the PyKMIP
//! server, any other — and on each runs one workload back to back for a duration: the next
//! request leaves when the previous answer came. Prints operations per second and latency
//! percentiles, as text or (`--json`) one JSON object. Exit status: 0 if every operation
//! succeeded, 1 if the run completed with failed operations, 2 if it could not run at all.

mod args;
mod error;
mod report;
mod run;
mod workload;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("krypton-load: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run::run(&args)) {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
            }
            if report.failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("krypton-load: {}", error::Chain(&error));
            ExitCode::from(2)
        }
    }
}
