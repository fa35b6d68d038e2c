//! `trainer`: train a fast style-transfer network. All logic is in the library.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = faststyle_trainer::TrainArgs::parse();
    match faststyle_trainer::run(&args) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
