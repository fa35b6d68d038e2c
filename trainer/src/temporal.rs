//! `trainer eval --frames`: how much a model flickers on video, without optical flow. On
//! consecutive frames (a folder in name order, or a video file decoded by the `ffmpeg` CLI)
//! it measures the frame-difference ratio and the noise sensitivity of
//! [`faststyle::quality::temporal_figures`], per style of a multi-style model, and writes
//! `temporal.json` and `strip.png` (the first [`STRIP_FRAMES`] frames: input above, each
//! style's output below) to the report folder.

use crate::eval::pick_styles;
use anyhow::{bail, Context, Result};
use faststyle::image_io::{self, ImageListing};
use faststyle::quality::{temporal_figures, Temporal, NOISE_SIGMA};
use faststyle::sheet::contact_sheet;
use faststyle::{Checkpoint, DeviceChoice};
use image::RgbImage;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Kind, Tensor};

/// Consecutive frames shown in `strip.png`.
pub const STRIP_FRAMES: usize = 4;

/// What `trainer eval --frames` measures.
#[derive(Debug, Clone)]
pub struct FramesOptions {
    /// The checkpoint.
    pub model: PathBuf,
    /// A folder of frames (name order) or a video file.
    pub frames: PathBuf,
    /// Frames are scaled so that their longer side is at most this, pixels.
    pub max_side: u32,
    /// At most this many frames, from the first.
    pub limit: usize,
    /// Seed of the fixed perturbation.
    pub seed: u64,
    /// Styles of a multi-style model, by name or index; empty: all.
    pub styles: Vec<String>,
    /// Where the model runs.
    pub device: DeviceChoice,
    /// Report folder.
    pub out: PathBuf,
}

/// One style's temporal figures (a line of `temporal.json`).
#[derive(Debug, Clone, Serialize)]
pub struct TemporalReport {
    /// The checkpoint.
    pub model: PathBuf,
    /// The style of a multi-style model (`None` for a single-style one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    /// The frames' source.
    pub frames_from: PathBuf,
    /// `[width, height]` the frames were measured at, pixels.
    pub size: [u32; 2],
    /// Standard deviation of the perturbation, 0–255 grey levels.
    pub noise_sigma: f64,
    /// The figures.
    #[serde(flatten)]
    pub figures: Temporal,
}

/// Measures `opts.model` on `opts.frames` (see the module docs).
///
/// # Errors
/// The model or the frames cannot be read (fewer than two frames, frames of different sizes,
/// a video without ffmpeg), or a style that the model does not have; each names its file.
pub fn eval_frames(opts: &FramesOptions) -> Result<Vec<TemporalReport>> {
    let device = opts.device.resolve()?;
    let ck = Checkpoint::load(&opts.model, device)?;
    let names = ck.meta.style_names();
    let frames = load_frames(&opts.frames, opts.max_side, opts.limit)?;
    let (w, h) = frames[0].dimensions();
    if let Some(odd) = frames.iter().position(|f| f.dimensions() != (w, h)) {
        bail!(
            "{}: frame {odd} is {:?}, the first is {w}×{h}: frames must share one size",
            opts.frames.display(),
            frames[odd].dimensions()
        );
    }
    let tensors: Vec<Tensor> = frames.iter().map(|f| image_io::image_to_tensor(f, device)).collect();
    tch::manual_seed(opts.seed as i64);
    let noise = Tensor::randn([1, 3, h as i64, w as i64], (Kind::Float, device)) * NOISE_SIGMA;
    let picked = if names.len() == 1 { vec![0] } else { pick_styles(&opts.styles, &names)? };
    let mut reports = Vec::new();
    let mut strip = vec![frames.iter().take(STRIP_FRAMES).cloned().collect::<Vec<_>>()];
    for k in picked {
        let weights = faststyle::style_weights(&[(k, 1.0)], ck.net.num_styles(), device)?;
        let mut stylize = |x: &Tensor| tch::no_grad(|| ck.net.forward_fast_styled(x, &weights));
        let figures = temporal_figures(&tensors, &noise, &mut stylize)?;
        let row: Vec<RgbImage> = tensors
            .iter()
            .take(STRIP_FRAMES)
            .map(|x| image_io::tensor_to_image(&stylize(x)))
            .collect::<faststyle::Result<_>>()?;
        strip.push(row);
        let style = (names.len() > 1).then(|| names[k].clone());
        eprintln!(
            "{}{} frames at {w}×{h}: frame-difference ratio ×{:.2} (input {:.2}, output {:.2} grey levels per frame), \
             noise sensitivity {:.2} (σ {NOISE_SIGMA})",
            style.as_ref().map(|s| format!("{s}: ")).unwrap_or_default(),
            figures.frames,
            figures.frame_difference_ratio,
            figures.input_difference,
            figures.output_difference,
            figures.noise_sensitivity
        );
        reports.push(TemporalReport {
            model: opts.model.clone(),
            style,
            frames_from: opts.frames.clone(),
            size: [w, h],
            noise_sigma: NOISE_SIGMA,
            figures,
        });
    }
    std::fs::create_dir_all(&opts.out).with_context(|| format!("creating {}", opts.out.display()))?;
    let json = serde_json::to_string_pretty(&reports)?;
    faststyle::fsutil::write_bytes_atomic(&opts.out.join("temporal.json"), json.as_bytes())?;
    image_io::write_image(&opts.out.join("strip.png"), &contact_sheet(&strip))?;
    eprintln!("wrote {} and {}", opts.out.join("temporal.json").display(), opts.out.join("strip.png").display());
    Ok(reports)
}

/// The first `limit` frames of a folder (name order; unreadable files reported and skipped)
/// or of a video file (decoded by `ffmpeg` into a temporary folder), each scaled so that its
/// longer side is at most `max_side`.
///
/// # Errors
/// Fewer than two frames, or the video cannot be decoded (ffmpeg missing or failing), naming
/// the path.
pub fn load_frames(path: &Path, max_side: u32, limit: usize) -> Result<Vec<RgbImage>> {
    let decoded = match path.is_file() {
        true => Some(decode_video(path, limit)?),
        false => None,
    };
    let dir = decoded.as_ref().map(|d| d.path()).unwrap_or(path);
    let ImageListing { mut files, unreadable } = image_io::list_images(dir)?;
    for (p, why) in &unreadable {
        eprintln!("skipping {}: {why}", p.display());
    }
    files.truncate(limit);
    let mut frames = Vec::with_capacity(files.len());
    for f in &files {
        match image_io::read_rgb(f) {
            Ok(img) => {
                let (w, h) = image_io::fit_within(img.width(), img.height(), max_side);
                frames.push(if (w, h) == img.dimensions() { img } else { image_io::resize(&img, w, h) });
            }
            Err(e) => eprintln!("skipping {}: {e}", f.display()),
        }
    }
    if frames.len() < 2 {
        bail!("{}: {} readable frame(s); temporal figures need at least 2", path.display(), frames.len());
    }
    Ok(frames)
}

/// The first `limit` frames of a video as PNGs in a temporary folder, by the `ffmpeg` CLI.
fn decode_video(path: &Path, limit: usize) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir().context("creating a temporary folder for the frames")?;
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-frames:v", &limit.to_string()])
        .arg(dir.path().join("frame_%06d.png"))
        .output()
        .with_context(|| {
            format!("{}: decoding a video needs the ffmpeg CLI (apt-get install ffmpeg)", path.display())
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("{}: ffmpeg could not decode it: {}", path.display(), stderr.lines().last().unwrap_or("no message"));
    }
    Ok(dir)
}
