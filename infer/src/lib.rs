//! `infer`: apply a faststyle checkpoint to images, frame folders and videos.
//!
//! The binary parses [`Cli`] and calls [`run`]; everything else is here. Modules, each
//! using only those listed before it (and the `faststyle` library):
//!
//! | module | what it holds |
//! |---|---|
//! | `safety` | never overwrite an input or an existing output unless asked |
//! | `python` | the venv's Python, for import/export helpers |
//! | [`styles`] | `--style`: picking and blending the styles of a multi-style checkpoint |
//! | `tile` | overlapping tiles blended without seams, for large images |
//! | [`pipeline`] | decode → batched compute → encode over a frame source and sink |
//! | [`stylize`] | a loaded checkpoint ([`Stylizer`]); files and folders through the pipeline |
//! | `video` | video files through ffmpeg pipes, the same pipeline |
//! | `interop` | TorchScript export and PyTorch reference import |
//! | `cli` | command-line arguments |

// Public: what the benches and tests use; the rest is reached through `run`.
pub(crate) mod cli;
pub(crate) mod interop;
pub mod pipeline;
pub(crate) mod python;
pub(crate) mod safety;
pub mod styles;
pub mod stylize;
pub(crate) mod tile;
pub(crate) mod video;

pub use cli::{Cli, Command, StylizeArgs};
pub use stylize::{output_path_for, stylize_folder, Builtin, FolderReport, Stylizer};

use anyhow::{bail, Context, Result};
use faststyle::checkpoint::{self, CheckpointMeta};
use faststyle::tensor_file::TensorFile;
use faststyle::DeviceChoice;
use safety::ExistingOutputs;
use std::path::{Path, PathBuf};

/// Runs the command line.
///
/// # Errors
/// Any failure, naming the file concerned. For a folder, per-file failures are reported as
/// they happen and the run fails at the end if any file failed.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Devices) => {
            println!("{}", serde_json::to_string(&faststyle::device::DeviceReport::probe())?);
            Ok(())
        }
        Some(Command::Inspect { model }) => inspect(&model),
        Some(Command::Sheet { model, input, output, max_size, columns, device }) => {
            let st = match &model {
                Some(m) => Stylizer::load(Some(m), device)?,
                None => Stylizer::load_builtin(Builtin::Pack, device)?,
            };
            let n = style_sheet(st, &input, &output, max_size, columns as usize)?;
            println!("wrote {} (the photo and {n} style(s))", output.display());
            Ok(())
        }
        Some(Command::Styles { model }) => {
            let meta = match &model {
                Some(m) => CheckpointMeta::read(m)?,
                None => Builtin::Pack.meta()?,
            };
            for (i, name) in meta.style_names().iter().enumerate() {
                match meta.styles.get(i) {
                    Some(s) => println!("{i}\t{name}\t{} ({}×{})", s.image, s.size[0], s.size[1]),
                    None => println!("{i}\t{name}\t{}", meta.style_image),
                }
            }
            Ok(())
        }
        Some(Command::Convert { model, output, dtype }) => {
            let ck = faststyle::Checkpoint::load(&model, tch::Device::Cpu)?;
            checkpoint::save(&output, &ck.vs, &ck.meta, dtype)?;
            let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
            println!("wrote {} ({dtype:?}, {:.2} MB)", output.display(), size as f64 / 1e6);
            Ok(())
        }
        Some(Command::Demo { input, output, model, device }) => demo(input, output, model, device),
        Some(Command::Export { model, format, output, overwrite }) => {
            let (format, what) = match format.as_str() {
                "onnx" => (interop::ExportFormat::Onnx, "ONNX opset 17, checked in onnxruntime"),
                _ => (interop::ExportFormat::TorchScript, "TorchScript for torch.jit.load"),
            };
            let diff = interop::export(&model, &output, format, overwrite)?;
            let (h, w) = interop::EXPORT_CHECK_SIZE;
            println!(
                "wrote {} ({what}; matches faststyle on a {w}×{h} input to {diff:.1e} relative)",
                output.display()
            );
            Ok(())
        }
        Some(Command::Import { reference, output, style_name, overwrite }) => {
            let r = interop::import_reference(&reference, &output, style_name.as_deref(), overwrite)?;
            let dropped = match r.dropped.len() {
                0 => String::new(),
                n => format!("; dropped {n} legacy key(s): {}", r.dropped.join(", ")),
            };
            println!(
                "wrote {} ({} tensors, TransformerNet {:?} with {} residual blocks{dropped})",
                output.display(),
                r.kept,
                r.model.channels,
                r.model.residual_blocks
            );
            Ok(())
        }
        None => stylize(&cli.stylize),
    }
}

/// Size of the rendered demo scene, pixels.
pub const DEMO_SCENE_SIZE: (u32, u32) = (768, 512);
/// Seed of the rendered demo scene.
pub const DEMO_SCENE_SEED: u64 = 2016;

fn demo(input: Option<PathBuf>, output: Option<PathBuf>, model: Option<PathBuf>, device: DeviceChoice) -> Result<()> {
    let out_dir = Path::new("out/demo");
    let input = match input {
        Some(p) => p,
        None => {
            std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
            let scene = out_dir.join("scene.png");
            let (w, h) = DEMO_SCENE_SIZE;
            faststyle::image_io::write_image(&scene, &faststyle::synthetic::render_scene(w, h, DEMO_SCENE_SEED))?;
            eprintln!("rendered a test scene: {}", scene.display());
            scene
        }
    };
    let output = output.unwrap_or_else(|| {
        let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
        out_dir.join(format!("{stem}_starry_night.jpg"))
    });
    let st = Stylizer::load(model.as_deref(), device)?;
    let start = std::time::Instant::now();
    let (w, h) = st.stylize_file(&input, &output, None)?;
    let name = model.as_ref().map(|m| m.display().to_string()).unwrap_or_else(|| stylize::DEFAULT_MODEL_NAME.into());
    println!("stylized {} with {name} in {:.2} s", input.display(), start.elapsed().as_secs_f64());
    println!("result: {} ({w}×{h})", output.display());
    // Every style of the model (the built-in pack's without --model) on the same picture.
    let sheet = output.with_file_name(format!(
        "{}_styles.png",
        input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into())
    ));
    let styles = match model {
        Some(_) => st,
        None => Stylizer::load_builtin(Builtin::Pack, device)?,
    };
    let n = style_sheet(styles, &input, &sheet, 512, 4)?;
    println!("sheet: {} (the picture and {n} style(s))", sheet.display());
    Ok(())
}

/// The checkpoint of `--model` (or the built-in one) on `--device`, with the controls, tiling
/// and precision the flags ask for.
fn stylizer(args: &StylizeArgs) -> Result<Stylizer> {
    // Without --model, a style the built-in Starry Night does not have comes from the
    // built-in style pack (decided from the metadata, so only one network is loaded).
    let mut st = match (&args.model, &args.style) {
        (None, Some(spec)) if spec.resolve(&Builtin::StarryNight.meta()?.style_names()).is_err() => {
            Stylizer::load_builtin(Builtin::Pack, args.device)?
        }
        (model, _) => Stylizer::load(model.as_deref(), args.device)?,
    };
    st.controls = args.controls();
    st.tile = args.tile_config();
    st.style_scale = args.style_scale;
    if let Some(spec) = &args.style {
        let picks = spec.resolve(&st.checkpoint.meta.style_names())?;
        st.style = Some(faststyle::style_weights(&picks, st.checkpoint.net.num_styles(), st.device)?);
    }
    st.set_precision(args.precision_kind(st.device));
    Ok(st)
}

/// Applies `--threads` (libtorch intra-op) and `--io-threads` (the rayon pool that decodes and
/// encodes).
fn set_threads(args: &StylizeArgs) -> Result<()> {
    if let Some(n) = args.threads {
        tch::set_num_threads(n as i32);
    }
    if let Some(n) = args.io_threads {
        rayon::ThreadPoolBuilder::new().num_threads(n as usize).build_global().context("setting --io-threads")?;
    }
    Ok(())
}

fn stylize(args: &StylizeArgs) -> Result<()> {
    let (Some(input), Some(output)) = (&args.input, &args.output) else {
        bail!("--input and --output are required");
    };
    set_threads(args)?;
    let meta = std::fs::metadata(input).with_context(|| format!("{}", input.display()))?;
    let existing = ExistingOutputs::from_flags(args.overwrite, args.skip_existing);
    safety::check_output_is_not_input(input, output, meta.is_dir(), args.overwrite)?;
    let (from_video, to_video) = (video::is_video(input), video::is_video(output));
    // Flags that only one kind of job uses are refused elsewhere, never dropped.
    if args.fps.is_some() && !(meta.is_dir() && to_video) {
        bail!("--fps sets the frame rate of a video made from a folder of frames; this job makes none");
    }
    if args.shard.is_some() && (!(meta.is_dir() || from_video) || to_video) {
        bail!(
            "--shard splits a folder or a video into frame files: it needs a folder or video --input and a folder \
             --output (join the shards' frames afterwards with `infer --input FRAMES/ --output out.mp4`)"
        );
    }
    // A folder or a video becomes a folder of frames (or a video): under an image file's name
    // that folder would be created as `out.jpg` without a word.
    if (meta.is_dir() || from_video)
        && !to_video
        && !output.is_dir()
        && faststyle::image_io::has_image_extension(output)
    {
        bail!(
            "{}: --input is a {}, which makes many images, so --output must be a folder (or a video file, e.g. \
             out.mp4), not an image file name",
            output.display(),
            if meta.is_dir() { "folder" } else { "video" }
        );
    }
    if meta.is_dir() && to_video {
        return folder_to_video(args, input, output, existing);
    }
    if meta.is_dir() {
        return folder_to_folder(args, input, output, existing);
    }
    if from_video && to_video {
        if existing.keep_existing_file(output)? {
            return Ok(());
        }
        let r = video::stylize_video(&stylizer(args)?, input, output, args.batch as usize, args.max_size)?;
        print_video_report(output, &r);
        return Ok(());
    }
    if from_video {
        return video_to_folder(args, input, output);
    }
    if to_video {
        bail!("{}: a single image makes no video; give a folder of frames as --input", input.display());
    }
    if existing.keep_existing_file(output)? {
        return Ok(());
    }
    let st = stylizer(args)?;
    let (w, h) = st.stylize_file(input, output, args.max_size)?;
    eprintln!("wrote {} ({w}×{h})", output.display());
    Ok(())
}

fn print_video_report(output: &Path, r: &video::VideoReport) {
    eprintln!(
        "wrote {} ({} frames at {} fps{}) in {:.1} s ({:.2} frames/s); {}",
        output.display(),
        r.frames,
        r.fps,
        if r.audio { ", audio copied" } else { "" },
        r.seconds,
        r.frames as f64 / r.seconds.max(1e-9),
        r.stages.summary(r.frames),
    );
}

/// A folder of images into a folder (names and layout kept), or the `--shard` of it.
fn folder_to_folder(args: &StylizeArgs, input: &Path, output: &Path, existing: ExistingOutputs) -> Result<()> {
    let st = stylizer(args)?;
    let opts = pipeline::PipelineOptions { batch: args.batch as usize, max_size: args.max_size, ..Default::default() };
    let report = stylize_folder(&st, input, output, &opts, existing, args.shard)?;
    let fps = report.done as f64 / report.seconds.max(1e-9);
    let kept = match report.skipped_existing {
        0 => String::new(),
        n => format!("; kept {n} existing output(s)"),
    };
    eprintln!(
        "stylized {} image(s) into {} in {:.1} s ({fps:.2} frames/s){kept}; {}",
        report.done,
        output.display(),
        report.seconds,
        report.stages.summary(report.done),
    );
    if !report.failed.is_empty() {
        let total = report.failed.len() + report.done + report.skipped_existing;
        bail!("{} of {total} file(s) could not be stylized (listed above)", report.failed.len());
    }
    Ok(())
}

/// A folder of frames (sorted names) into one video at `--fps`.
fn folder_to_video(args: &StylizeArgs, input: &Path, output: &Path, existing: ExistingOutputs) -> Result<()> {
    if existing.keep_existing_file(output)? {
        return Ok(());
    }
    let faststyle::image_io::ImageListing { files, unreadable } = faststyle::image_io::list_images(input)?;
    if let Some((p, why)) = unreadable.first() {
        bail!("{}: {why}; a video needs every frame", p.display());
    }
    let st = stylizer(args)?;
    let fps = args.fps.unwrap_or(DEFAULT_FPS);
    let r = video::frames_to_video(&st, &files, output, fps, args.batch as usize, args.max_size)
        .with_context(|| format!("stylizing the frames of {}", input.display()))?;
    print_video_report(output, &r);
    Ok(())
}

/// Frame rate of a video made from frames when `--fps` is not given.
pub const DEFAULT_FPS: u32 = 25;

/// A video into a folder of numbered frames (all, or the `--shard`'s contiguous range).
fn video_to_folder(args: &StylizeArgs, input: &Path, output: &Path) -> Result<()> {
    if args.skip_existing {
        bail!("--skip-existing applies to image folders; for a video's frames, pass --overwrite or a new folder");
    }
    let total = video::count_frames(input)?;
    let range = args.shard.map(|s| s.range(total)).unwrap_or(0..total);
    if !args.overwrite {
        if let Some(n) = range.clone().find(|n| output.join(video::frame_name(n + 1)).exists()) {
            bail!(
                "{}: exists; pass --overwrite to replace the frames",
                output.join(video::frame_name(n + 1)).display()
            );
        }
    }
    std::fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
    faststyle::fsutil::remove_stale_temp_files(output, true);
    let st = stylizer(args)?;
    let (r, failed) = video::video_to_frames(&st, input, output, range.clone(), args.batch as usize, args.max_size)?;
    eprintln!(
        "wrote frames {}..{} of {total} into {} in {:.1} s ({:.2} frames/s)",
        range.start + 1,
        range.end,
        output.display(),
        r.seconds,
        r.frames as f64 / r.seconds.max(1e-9)
    );
    if failed > 0 {
        bail!("{failed} frame(s) could not be written (listed above)");
    }
    Ok(())
}

/// Writes `output`: the photo at `input` (fitted to `max_size`) and then each of the
/// stylizer's styles on it, captioned with the style names, `columns` to a row. Returns the
/// number of styles.
///
/// # Errors
/// Unreadable input, unsupported output extension, a failed forward pass or write (each names
/// its file).
fn style_sheet(mut st: Stylizer, input: &Path, output: &Path, max_size: u32, columns: usize) -> Result<usize> {
    faststyle::image_io::OutputFormat::from_path(output)?;
    let photo = faststyle::image_io::read_rgb_fitted(input, Some(max_size))?;
    let names = st.checkpoint.meta.style_names();
    let mut cells =
        vec![(input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), photo.clone())];
    for (i, name) in names.iter().enumerate() {
        st.style = Some(faststyle::style_weights(&[(i, 1.0)], names.len(), st.device)?);
        cells.push((format!("{i} {name}"), st.stylize(&photo)?));
    }
    faststyle::image_io::write_image(output, &faststyle::sheet::captioned_sheet(&cells, columns))?;
    Ok(names.len())
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
    let dtype =
        file.names().first().and_then(|n| file.tensor(n).ok()).map(|t| format!("{:?}", t.kind())).unwrap_or_default();
    println!("file:              {} ({:.2} MB)", model.display(), size as f64 / 1e6);
    println!("format version:    {}", meta.format_version);
    println!("written by:        faststyle {}", meta.faststyle_version);
    println!("style image:       {}", meta.style_image);
    println!("step:              {}", meta.step);
    if !meta.averaged_steps.is_empty() {
        let steps: Vec<String> = meta.averaged_steps.iter().map(u64::to_string).collect();
        println!("averaged:          the mean of the weights at steps {}", steps.join(", "));
    }
    println!("model:             {}", serde_json::to_string(&meta.model)?);
    println!("parameters:        {params} in {} tensors, stored as {dtype}", file.names().len());
    println!(
        "cost:              {:.1} kFLOP per pixel (convolutions, as infer runs them)",
        meta.model.flops_per_pixel() / 1e3
    );
    println!("loss network:      {}", serde_json::to_string(&meta.loss_network)?);
    println!("training config:   {}", serde_json::to_string_pretty(&meta.train_config)?);
    Ok(())
}
