//! `infer`: stylize images and frame folders. All logic is in the library.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    match faststyle_infer::run(faststyle_infer::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
