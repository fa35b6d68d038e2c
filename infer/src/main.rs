//! `infer`: stylize images and frame folders. All logic is in the library.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before the first tensor: freed tensor memory is reused, not page-faulted in again
    // (FASTSTYLE_MALLOC=default opts out).
    let configured = faststyle::malloc::configure_from_env(true).map_err(anyhow::Error::from);
    match configured.and_then(|_| faststyle_infer::run(faststyle_infer::Cli::parse())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
