//! `infer`: apply a faststyle checkpoint to images and frame folders.
//!
//! The binary parses [`Cli`] and calls [`run`]; everything else is here.

pub mod cli;
pub mod stylize;

pub use cli::{Cli, Command, StylizeArgs};
pub use stylize::{output_path_for, stylize_folder, FolderReport, Stylizer};

use anyhow::{bail, Context, Result};
use faststyle::checkpoint::{self, CheckpointMeta};
use faststyle::tensor_file::TensorFile;
use std::path::Path;

/// Runs the command line.
///
/// # Errors
/// Any failure, naming the file concerned. For a folder, per-file failures are reported as
/// they happen and the run fails at the end if any file failed.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Inspect { model }) => inspect(&model),
        Some(Command::Convert { model, output, dtype }) => {
            let ck = faststyle::Checkpoint::load(&model, tch::Device::Cpu)?;
            checkpoint::save(&output, &ck.vs, &ck.meta, dtype)?;
            let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
            println!("wrote {} ({dtype:?}, {:.2} MB)", output.display(), size as f64 / 1e6);
            Ok(())
        }
        None => stylize(&cli.stylize),
    }
}

fn stylize(args: &StylizeArgs) -> Result<()> {
    let (Some(model), Some(input), Some(output)) = (&args.model, &args.input, &args.output) else {
        bail!("--model, --input and --output are required");
    };
    let meta = std::fs::metadata(input).with_context(|| format!("{}", input.display()))?;
    let st = Stylizer::load(model, args.device)?;
    if meta.is_dir() {
        let report = stylize_folder(&st, input, output, args.max_size)?;
        let fps = report.done as f64 / report.seconds.max(1e-9);
        eprintln!(
            "stylized {} image(s) into {} in {:.1} s ({fps:.2} frames/s)",
            report.done,
            output.display(),
            report.seconds
        );
        if !report.failed.is_empty() {
            bail!("{} of {} file(s) could not be stylized (listed above)", report.failed.len(), report.failed.len() + report.done);
        }
    } else {
        let (w, h) = st.stylize_file(input, output, args.max_size)?;
        eprintln!("wrote {} ({w}×{h})", output.display());
    }
    Ok(())
}

/// Prints a checkpoint's metadata and tensor summary to stdout.
///
/// # Errors
/// The file is unreadable or not a faststyle checkpoint.
pub fn inspect(model: &Path) -> Result<()> {
    let file = TensorFile::open(model)?;
    let meta = CheckpointMeta::from_map(model, &file.metadata())?;
    let size = std::fs::metadata(model).map(|m| m.len()).unwrap_or(0);
    let ck = faststyle::Checkpoint::from_file(&file, tch::Device::Cpu)?;
    let params = faststyle::transformer::num_parameters(&ck.vs);
    let dtype = file.names().first().map(|n| format!("{:?}", file.tensor(n).map(|t| t.kind()))).unwrap_or_default();
    println!("file:              {} ({:.2} MB)", model.display(), size as f64 / 1e6);
    println!("format version:    {}", meta.format_version);
    println!("written by:        faststyle {}", meta.faststyle_version);
    println!("style image:       {}", meta.style_image);
    println!("step:              {}", meta.step);
    println!("model:             {}", serde_json::to_string(&meta.model)?);
    println!("parameters:        {params} in {} tensors, stored as {dtype}", file.names().len());
    println!("loss network:      {}", serde_json::to_string(&meta.loss_network)?);
    println!("training config:   {}", serde_json::to_string_pretty(&meta.train_config)?);
    Ok(())
}
