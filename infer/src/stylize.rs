//! Applying a checkpoint: one forward pass of the TransformerNet per image, without
//! gradients, on an image file or a folder of frames.

use crate::pipeline::{self, Job, PipelineOptions, StageTimes};
use crate::safety::ExistingOutputs;
use crate::tile::{self, TileConfig};
use anyhow::{Context, Result};
use faststyle::image_io::{self, OutputFormat};
use faststyle::tensor_file::TensorFile;
use faststyle::{Checkpoint, DeviceChoice};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use tch::{Device, Kind};
use walkdir::WalkDir;

/// A loaded checkpoint ready to stylize images.
#[derive(Debug)]
pub struct Stylizer {
    /// The checkpoint (its net is frozen).
    pub checkpoint: Checkpoint,
    /// Where the net runs.
    pub device: Device,
    /// Strength and colour preservation applied to every output (default: none).
    pub controls: faststyle::Controls,
    /// Stylize images larger than a tile in blended overlapping tiles (default: whole).
    pub tile: Option<TileConfig>,
    /// Dtype the network runs in (set with [`Stylizer::set_precision`]; default f32).
    pub precision: Kind,
}

/// The checkpoint built into the binary: Starry Night, trained by this project's trainer on
/// ../shared/data with `configs/starry_night.json` (see the README), stored as F16.
pub const DEFAULT_MODEL: &[u8] = include_bytes!("../../models/starry_night.safetensors");

/// The name the built-in checkpoint goes by in messages.
pub const DEFAULT_MODEL_NAME: &str = "<built-in starry_night>";

impl Stylizer {
    /// Loads a checkpoint file onto the chosen device; `None` loads the built-in
    /// [`DEFAULT_MODEL`].
    ///
    /// # Errors
    /// The device cannot be used, or the checkpoint is unreadable or invalid (the error names
    /// the file and the problem; see [`Checkpoint::load`]).
    pub fn load(model: Option<&Path>, device: DeviceChoice) -> Result<Self> {
        let device = device.resolve()?;
        let checkpoint = match model {
            Some(path) => Checkpoint::load(path, device)?,
            None => {
                Checkpoint::from_file(&TensorFile::from_bytes(DEFAULT_MODEL_NAME, DEFAULT_MODEL.to_vec())?, device)?
            }
        };
        if let Device::Cuda(_) = device {
            // Frame sizes repeat in folders and videos: let cuDNN pick the fastest algorithms.
            tch::Cuda::cudnn_set_benchmark(true);
        }
        Ok(Stylizer {
            checkpoint,
            device,
            controls: faststyle::Controls::default(),
            tile: None,
            precision: Kind::Float,
        })
    }

    /// Runs the network in `kind` (`Float`, `Half` or `BFloat16`) from now on; inputs are
    /// converted to it and outputs back to f32 before the controls are applied.
    pub fn set_precision(&mut self, kind: Kind) {
        self.checkpoint.vs.set_kind(kind);
        self.precision = kind;
    }

    /// Stylizes one 8-bit RGB image; the result has the same size. Runs under `no_grad`,
    /// then applies [`Stylizer::controls`] (strength, colour preservation).
    ///
    /// # Errors
    /// A libtorch failure (for example out of memory).
    pub fn stylize(&self, img: &RgbImage) -> Result<RgbImage> {
        Ok(self.stylize_batch(&[img])?.remove(0))
    }

    /// Stylizes equally sized 8-bit RGB images in one forward pass (`[B, 3, H, W]`), then
    /// applies [`Stylizer::controls`]. Runs under `no_grad`.
    ///
    /// # Errors
    /// Images of different sizes; a libtorch failure (for example out of memory).
    pub fn stylize_batch(&self, imgs: &[&RgbImage]) -> Result<Vec<RgbImage>> {
        let Some(first) = imgs.first() else { return Ok(Vec::new()) };
        let (w, h) = first.dimensions();
        if let Some(cfg) = self.tile.filter(|c| w > c.size || h > c.size) {
            return imgs
                .iter()
                .map(|img| tile::stylize_tiled(img, cfg, |t| self.stylize_whole(&[t]).map(|mut v| v.remove(0))))
                .collect();
        }
        self.stylize_whole(imgs)
    }

    /// [`Stylizer::stylize_batch`] without tiling.
    fn stylize_whole(&self, imgs: &[&RgbImage]) -> Result<Vec<RgbImage>> {
        let Some(first) = imgs.first() else { return Ok(Vec::new()) };
        let (w, h) = first.dimensions();
        if imgs.iter().any(|i| i.dimensions() != (w, h)) {
            anyhow::bail!("a batch needs images of one size");
        }
        let mut bytes = Vec::with_capacity(imgs.len() * (w * h * 3) as usize);
        for img in imgs {
            bytes.extend_from_slice(img.as_raw());
        }
        let x = image_io::hwc_bytes_to_batch(&bytes, imgs.len(), h, w, self.device);
        let y = tch::no_grad(|| {
            let y = self.checkpoint.net.forward_fast(&x.to_kind(self.precision)).to_kind(Kind::Float);
            self.controls.apply(&x, &y)
        });
        (0..imgs.len() as i64).map(|i| Ok(image_io::tensor_to_image(&y.get(i))?)).collect()
    }

    /// Reads `input`, scales it to fit `max_size` on its longer side if given, stylizes it
    /// and writes `output` atomically (format by extension). Returns the output size.
    ///
    /// # Errors
    /// Unreadable or undecodable input, unsupported output extension, or a failed write;
    /// each names its file.
    pub fn stylize_file(&self, input: &Path, output: &Path, max_size: Option<u32>) -> Result<(u32, u32)> {
        OutputFormat::from_path(output)?;
        let img = read_fitted(input, max_size)?;
        let out = self.stylize(&img)?;
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            faststyle::fsutil::remove_stale_temp_files(dir, false);
        }
        image_io::write_image(output, &out)?;
        Ok(out.dimensions())
    }
}

/// Reads an image as RGB8, scaled down (keeping the aspect ratio) so its longer side is at
/// most `max_size` when given.
///
/// # Errors
/// The file cannot be read or decoded (see [`image_io::read_rgb`]).
pub fn read_fitted(input: &Path, max_size: Option<u32>) -> faststyle::Result<RgbImage> {
    let img = image_io::read_rgb(input)?;
    Ok(match max_size {
        Some(m) => {
            let (w, h) = image_io::fit_within(img.width(), img.height(), m);
            if (w, h) == img.dimensions() {
                img
            } else {
                image_io::resize(&img, w, h)
            }
        }
        None => img,
    })
}

/// The output path of a frame: its path relative to the input folder, under the output
/// folder. JPEG and PNG keep their name; other formats (TIFF, WebP, BMP, GIF), which we do
/// not encode, get a `.png` extension.
pub fn output_path_for(input_root: &Path, file: &Path, output_root: &Path) -> PathBuf {
    let rel = file.strip_prefix(input_root).unwrap_or(file);
    let out = output_root.join(rel);
    match OutputFormat::from_path(&out) {
        Ok(_) => out,
        Err(_) => out.with_extension("png"),
    }
}

/// The progress bar of folders and videos (frames done of `len`, frames/s, ETA) on a
/// terminal; hidden otherwise.
pub fn frame_bar(len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} frames [{elapsed_precise} < {eta_precise}] {per_sec}")
            .expect("static template"),
    );
    bar
}

/// Result of stylizing a folder.
#[derive(Debug, Default)]
pub struct FolderReport {
    /// Images written.
    pub done: usize,
    /// Files that failed, with the reason (each was reported as it happened).
    pub failed: Vec<(PathBuf, String)>,
    /// Inputs whose output existed and was kept (`--skip-existing`).
    pub skipped_existing: usize,
    /// Wall-clock seconds, set-up excluded.
    pub seconds: f64,
    /// Busy seconds of the decode, compute and encode stages.
    pub stages: StageTimes,
}

/// Stylizes every image under `input` (recursively) into `output`, keeping names and the
/// relative layout (see [`output_path_for`]). A file that cannot be read, decoded or written
/// is reported and skipped; the rest are done. Outputs that exist are handled as `existing`
/// says; two inputs that would write the same output (`a.tif` and `a.png` both → `a.png`)
/// are reported and the second skipped. Temporary files left by a killed earlier run are
/// removed first.
///
/// # Errors
/// When `input` cannot be walked at all, or outputs exist and `existing` is
/// [`ExistingOutputs::Refuse`] (checked before any work); per-file failures are in the report.
pub fn stylize_folder(
    st: &Stylizer,
    input: &Path,
    output: &Path,
    opts: &PipelineOptions,
    existing: ExistingOutputs,
) -> Result<FolderReport> {
    let mut files = Vec::new();
    let mut report = FolderReport::default();
    for entry in WalkDir::new(input).follow_links(true).sort_by_file_name() {
        match entry {
            Ok(e) if e.file_type().is_file() && image_io::has_image_extension(e.path()) => files.push(e.into_path()),
            Ok(_) => {}
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| input.to_path_buf());
                if path == input {
                    return Err(anyhow::anyhow!("{}: {e}", input.display()));
                }
                eprintln!("warning: skipped {}", faststyle::error::about(&path, &e.to_string()));
                report.failed.push((path, e.to_string()));
            }
        }
    }
    // Pair each input with its output; refuse, skip or keep existing outputs up front.
    let mut jobs: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(files.len());
    let mut claimed: HashMap<PathBuf, PathBuf> = HashMap::new();
    for file in files {
        let out = output_path_for(input, &file, output);
        if let Some(first) = claimed.get(&out) {
            let why = format!("its output {} is also the output of {}", out.display(), first.display());
            eprintln!("warning: skipped {}: {why}", file.display());
            report.failed.push((file, why));
            continue;
        }
        claimed.insert(out.clone(), file.clone());
        jobs.push((file, out));
    }
    let exists: Vec<&PathBuf> = jobs.iter().map(|j| &j.1).filter(|o| o.exists()).collect();
    match existing {
        ExistingOutputs::Refuse if !exists.is_empty() => anyhow::bail!(
            "{}: {} of {} outputs already exist (e.g. {}); pass --overwrite to replace them or --skip-existing to \
             keep them and do the rest",
            output.display(),
            exists.len(),
            jobs.len(),
            exists[0].display()
        ),
        ExistingOutputs::Skip => {
            let before = jobs.len();
            jobs.retain(|j| !j.1.exists());
            report.skipped_existing = before - jobs.len();
        }
        _ => {}
    }
    if output.is_dir() {
        faststyle::fsutil::remove_stale_temp_files(output, true);
    }
    let bar = frame_bar(Some(jobs.len() as u64));
    let jobs: Vec<Job> = jobs.into_iter().map(|(input, output)| Job { input, output }).collect();
    let on_done = |i: usize, r: Result<(), String>| {
        if let Err(why) = r {
            let msg = format!("warning: skipped {}", faststyle::error::about(&jobs[i].input, &why));
            if bar.is_hidden() {
                eprintln!("{msg}");
            } else {
                bar.println(msg);
            }
        }
        bar.inc(1);
    };
    let run = pipeline::run(st, &jobs, opts, &on_done);
    bar.finish_and_clear();
    report.done = run.done;
    report.failed.extend(run.failed);
    report.stages = run.stages;
    report.seconds = run.seconds;
    Ok(report)
}
