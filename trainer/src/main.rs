//! `trainer`: train a fast style-transfer network. All logic is in the library.

use clap::Parser;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Exit status after SIGINT/SIGTERM: 128 + SIGINT, as shells report an interrupted command.
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = faststyle_trainer::Cli::parse();
    // Before the first tensor: freed tensor memory is reused, not page-faulted in again
    // (FASTSTYLE_MALLOC=default opts out); not by `optimize`, whose big runs are bounded by
    // memory, unless FASTSTYLE_MALLOC=reuse.
    let optimize = matches!(cli.command, Some(faststyle_trainer::Command::Optimize(_)));
    let configured = faststyle::malloc::configure_from_env(!optimize).map_err(anyhow::Error::from);
    // Training (also fine-tuning and distilling): the first SIGINT/SIGTERM asks it to stop after the current step and save; a
    // second one exits at once (checkpoints are written atomically, so nothing is corrupted).
    // The other subcommands keep the default: a signal ends them at once (their outputs are
    // written atomically too).
    use faststyle_trainer::Command::{Distill, Finetune};
    let training = matches!(cli.command, None | Some(Finetune(_) | Distill(_)));
    let stop = training.then(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond interrupt: exiting now");
                std::process::exit(EXIT_INTERRUPTED as i32);
            }
            eprintln!("\ninterrupt: finishing the current step and saving a checkpoint (interrupt again to quit now)");
        });
        stop
    });
    match configured.and_then(|_| faststyle_trainer::run(&cli, stop)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) if e.is::<faststyle_trainer::Interrupted>() => {
            eprintln!("{e:#}");
            ExitCode::from(EXIT_INTERRUPTED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
