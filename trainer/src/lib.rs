//! `trainer`: learns a Johnson et al. (2016) TransformerNet for one style image, or one
//! conditional TransformerNet for several (Dumoulin et al. 2017).
//!
//! The binary is a thin shell over [`run`]: parse the [`Cli`], then prepare a dataset cache,
//! plot a run, average checkpoints, or resolve and validate the [`TrainConfig`] and
//! [`train::train`].
//!
//! Modules, each using only those listed before it (and the `faststyle` library):
//!
//! | module | what it holds |
//! |---|---|
//! | [`crop`] | one training crop from one photo; the blank-crop check |
//! | [`cache`] | `trainer prepare`'s packed, memory-mapped crop cache |
//! | [`source`] | a folder or a cache as numbered items; the dataset fingerprint |
//! | [`dataset`] | train/validation split, the seeded stream, the background loader |
//! | `video` | the flow-free video losses (stability, synthetic-motion temporal) |
//! | `distill` | `trainer distill`: the teacher and its output-matching loss |
//! | `config` | the training config: recipe (what is learnt) and run settings |
//! | `adam` | Adam over the TransformerNet's parameters, with savable moments |
//! | `metrics` | run-folder file names and `metrics.jsonl` |
//! | `plot` | `loss.png` from the metrics |
//! | `previews` | stylized validation crops at each checkpoint |
//! | `objective` | the recipe's perceptual loss, built once for training, optimize and eval |
//! | `styles` | multi-style training: each image's style, `init_from`, fine-tuning one style |
//! | `train` | the training loop: a `Trainer` with `step`, `log`, `checkpoint`, `validate` |
//! | `optimize` | `trainer optimize`: Gatys et al.'s optimisation by L-BFGS or Adam |
//! | `eval` | `trainer eval`: a model's loss against Gatys@k, and its border figures |
//! | `temporal` | `trainer eval --frames`: flicker on video frames, flow-free |
//! | `cli` | command-line flags, laid over the config |

// Public: the modules the tests use (the data path); the rest is reached through the
// re-exports below.
pub(crate) mod adam;
pub mod cache;
pub(crate) mod cli;
pub(crate) mod config;
pub mod crop;
pub mod dataset;
pub(crate) mod distill;
pub(crate) mod eval;
pub(crate) mod metrics;
pub(crate) mod objective;
pub(crate) mod optimize;
pub(crate) mod plot;
pub(crate) mod previews;
pub mod source;
pub(crate) mod styles;
pub(crate) mod temporal;
pub(crate) mod train;
pub(crate) mod video;

pub use cli::{Cli, Command, TrainArgs};
pub use config::{Recipe, RunSettings, TrainConfig};
pub use metrics::MetricsLine;
pub use train::{train, Interrupted, TrainOptions, TrainSummary};

use anyhow::{bail, Context, Result};
use faststyle::progress::Console;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Runs the command line. `stop` is set by the binary's signal handler (SIGINT/SIGTERM) to
/// end training after the current step with a checkpoint.
///
/// # Errors
/// A config error naming the config file, or any failure of the subcommand; training stopped
/// by a signal returns [`Interrupted`].
pub fn run(cli: &Cli, stop: Option<Arc<AtomicBool>>) -> Result<Option<TrainSummary>> {
    match &cli.command {
        Some(Command::Prepare { dataset, image_size, output }) => {
            let start = std::time::Instant::now();
            let s = cache::prepare(dataset, *image_size, output, &Console::hidden().reporter())?;
            eprintln!(
                "wrote {} ({} crops of {image_size}×{image_size}, {:.1} MB, {} skipped) in {:.1} s",
                output.display(),
                s.written,
                s.bytes as f64 / 1e6,
                s.skipped,
                start.elapsed().as_secs_f64()
            );
            Ok(None)
        }
        Some(Command::Optimize(args)) => {
            let (cfg, opts) = args.resolve()?;
            optimize::optimize(&cfg, &opts)?;
            Ok(None)
        }
        Some(Command::Eval(args)) => {
            let (opts, overrides) = args.resolve();
            if let Some(opts) = opts {
                eval::eval(&opts, overrides)?;
            }
            if let Some(frames) = args.frames_options() {
                temporal::eval_frames(&frames)?;
            }
            Ok(None)
        }
        Some(Command::Finetune(args)) => {
            let cfg = styles::finetune_config(&args.request())?;
            cfg.validate(None)
                .with_context(|| format!("adding {} to {}", args.add_style.display(), args.from.display()))?;
            Ok(Some(train(&cfg, &TrainOptions { stop, ..Default::default() })?))
        }
        Some(Command::Distill(args)) => {
            Ok(Some(train(&args.resolve()?, &TrainOptions { stop, ..Default::default() })?))
        }
        Some(Command::Average { checkpoints, output }) => {
            let mean = faststyle::checkpoint::average(checkpoints)?;
            faststyle::checkpoint::save(output, &mean.vs, &mean.meta, faststyle::StoreDtype::F32)?;
            eprintln!(
                "wrote {}: the mean of {} checkpoints (steps {:?})",
                output.display(),
                checkpoints.len(),
                mean.meta.averaged_steps
            );
            Ok(None)
        }
        Some(Command::Plot { run_dir, output }) => {
            let p = plot::plot_run(run_dir, output.as_deref())?;
            eprintln!("wrote {}", p.display());
            Ok(None)
        }
        None => {
            let args = &cli.train;
            let (cfg, resume_from) = match &args.resume {
                None => (args.resolve()?, None),
                Some(run_dir) => resume_config(args, run_dir)?,
            };
            let opts = TrainOptions {
                resume_from,
                stop,
                force: args.force,
                #[cfg(feature = "fault-injection")]
                inject_nan_at_step: args.inject_nan_at_step,
            };
            Ok(Some(train(&cfg, &opts)?))
        }
    }
}

/// The config of a resumed run: the run's saved config (or `--config`), with the flags
/// applied; refused when that changes the recipe (what is learnt), unless `--force`. Also
/// finds the checkpoint to resume from.
fn resume_config(args: &TrainArgs, run_dir: &Path) -> Result<(TrainConfig, Option<PathBuf>)> {
    let saved_path = run_dir.join(metrics::CONFIG_FILE);
    let saved = TrainConfig::from_file(&saved_path)
        .with_context(|| format!("{} is not a run folder to resume", run_dir.display()))?;
    let base = match &args.config {
        Some(p) => TrainConfig::from_file(p)?,
        None => saved.clone(),
    };
    let mut cfg = args.resolve_over(base, args.config.as_deref().or(Some(&saved_path)))?;
    cfg.run.out_dir = Some(run_dir.to_path_buf());
    let changes = cfg.changes_from(&saved);
    if !changes.is_empty() && !args.force {
        bail!(
            "{}: resuming with a different config would not continue the same run; changed: {}. \
             Pass --force to resume anyway, or start a new run in another folder",
            run_dir.display(),
            changes.join("; ")
        );
    }
    let (checkpoint, _) = train::latest_checkpoint(run_dir)?;
    Ok((cfg, Some(checkpoint)))
}
