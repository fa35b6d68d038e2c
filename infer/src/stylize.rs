//! Applying a checkpoint: one forward pass of the TransformerNet per image, without
//! gradients, on an image file or, through the [`crate::pipeline`], a folder of frames.

use crate::pipeline::{self, FileSink, FileSource, Job, PipelineOptions, PipelineReport, StageTimes};
use crate::safety::ExistingOutputs;
use crate::tile::{self, TileConfig};
use anyhow::{Context, Result};
use faststyle::image_io::{self, ImageListing, OutputFormat};
use faststyle::progress::Console;
use faststyle::tensor_file::TensorFile;
use faststyle::{Checkpoint, DeviceChoice};
use image::RgbImage;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind};

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
    /// Run the network at this multiple of each image's size, then resize its output back
    /// (default 1). Below 1 the brush strokes come out larger relative to the image, above 1
    /// finer: the network paints strokes of a fixed size in pixels (about that of its
    /// 224–256 px training crops), so a 2048 px photo at scale 1 gets strokes an eighth of
    /// the painting's. Controls are applied at full size, against the original image.
    pub style_scale: f64,
    /// Style weights `[1, S]` of a multi-style net ([`faststyle::style_weights`]); `None`
    /// paints its first style.
    pub style: Option<tch::Tensor>,
    /// Dtype the network runs in: the weights are converted with it, so only
    /// [`Stylizer::set_precision`] changes it.
    precision: Kind,
}

/// The checkpoint built into the binary: Starry Night, trained by this project's trainer on
/// about 1000 natural photos with `configs/starry_night.json` (see the README), stored as F16.
pub const DEFAULT_MODEL: &[u8] = include_bytes!("../../models/starry_night.safetensors");

/// The name the built-in checkpoint goes by in messages.
pub const DEFAULT_MODEL_NAME: &str = "<built-in starry_night>";

/// The multi-style checkpoint built into the binary: the six paintings of
/// `configs/style_pack.json` in one network (conditional instance norm), trained by this
/// project's trainer (see the README), stored as F16. `infer --style NAME` without `--model`
/// uses it for every style the default does not have, `infer sheet` and `infer styles`
/// without a model show it.
pub const PACK_MODEL: &[u8] = include_bytes!("../../models/style_pack.safetensors");

/// The name the built-in style pack goes by in messages.
pub const PACK_MODEL_NAME: &str = "<built-in style pack>";

/// A checkpoint built into the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// [`DEFAULT_MODEL`]: Starry Night alone, the best-trained model.
    StarryNight,
    /// [`PACK_MODEL`]: six styles in one network.
    Pack,
}

impl Builtin {
    /// The name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::StarryNight => DEFAULT_MODEL_NAME,
            Builtin::Pack => PACK_MODEL_NAME,
        }
    }

    /// The checkpoint file's bytes.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Builtin::StarryNight => DEFAULT_MODEL,
            Builtin::Pack => PACK_MODEL,
        }
    }

    /// The checkpoint file (named by [`Builtin::name`] in errors).
    ///
    /// # Errors
    /// Not expected: the files are checked by the tests.
    pub fn file(self) -> faststyle::Result<TensorFile> {
        TensorFile::from_bytes(self.name(), self.bytes().to_vec())
    }

    /// The checkpoint's metadata, without building its network.
    ///
    /// # Errors
    /// Not expected: the files are checked by the tests.
    pub fn meta(self) -> faststyle::Result<faststyle::CheckpointMeta> {
        faststyle::CheckpointMeta::from_map(Path::new(self.name()), &self.file()?.metadata())
    }
}

impl Stylizer {
    /// Loads a checkpoint file onto the chosen device; `None` loads the built-in
    /// [`DEFAULT_MODEL`].
    ///
    /// # Errors
    /// The device cannot be used, or the checkpoint is unreadable or invalid (the error names
    /// the file and the problem; see [`Checkpoint::load`]).
    pub fn load(model: Option<&Path>, device: DeviceChoice) -> Result<Self> {
        match model {
            Some(path) => Self::with(|d| Checkpoint::load(path, d), device),
            None => Self::load_builtin(Builtin::StarryNight, device),
        }
    }

    /// Loads a checkpoint built into the binary onto the chosen device.
    ///
    /// # Errors
    /// The device cannot be used.
    pub fn load_builtin(which: Builtin, device: DeviceChoice) -> Result<Self> {
        Self::with(|d| Checkpoint::from_file(&which.file()?, d), device)
    }

    /// The stylizer of the checkpoint `load` gives on the resolved device.
    fn with(load: impl FnOnce(Device) -> faststyle::Result<Checkpoint>, device: DeviceChoice) -> Result<Self> {
        let device = device.resolve()?;
        let checkpoint = load(device)?;
        if let Device::Cuda(_) = device {
            // Frame sizes repeat in folders and videos: let cuDNN pick the fastest algorithms.
            tch::Cuda::cudnn_set_benchmark(true);
        }
        Ok(Stylizer {
            checkpoint,
            device,
            controls: faststyle::Controls::default(),
            tile: None,
            style_scale: 1.0,
            style: None,
            precision: Kind::Float,
        })
    }

    /// Runs the network in `kind` (`Float`, `Half` or `BFloat16`) from now on; inputs are
    /// converted to it and outputs back to f32 before the controls are applied.
    pub fn set_precision(&mut self, kind: Kind) {
        self.checkpoint.vs.set_kind(kind);
        self.precision = kind;
    }

    /// The dtype the network runs in (f32 unless [`Stylizer::set_precision`] changed it).
    pub fn precision(&self) -> Kind {
        self.precision
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
    /// applies [`Stylizer::controls`]. Runs under `no_grad`. With a [`Stylizer::style_scale`]
    /// other than 1 the network sees each image resized to `round(S·W)×round(S·H)`
    /// (antialiased bilinear), its output is resized back to `W×H`, and the controls then
    /// use the original image.
    ///
    /// # Errors
    /// Images of different sizes; a style scale that leaves a side under
    /// [`MIN_NETWORK_SIDE`] pixels; a libtorch failure (for example out of memory).
    pub fn stylize_batch(&self, imgs: &[&RgbImage]) -> Result<Vec<RgbImage>> {
        let Some(first) = imgs.first() else { return Ok(Vec::new()) };
        if self.style_scale == 1.0 {
            return self.stylize_tiled(imgs, self.controls);
        }
        let (w, h) = first.dimensions();
        let (sw, sh) = scaled_size(w, h, self.style_scale)?;
        let scaled: Vec<RgbImage> = imgs.iter().map(|img| image_io::resize(img, sw, sh)).collect();
        let raw = self.stylize_tiled(&scaled.iter().collect::<Vec<_>>(), faststyle::Controls::default())?;
        let back: Vec<RgbImage> = raw.iter().map(|img| image_io::resize(img, w, h)).collect();
        if self.controls == faststyle::Controls::default() {
            return Ok(back);
        }
        imgs.iter()
            .zip(&back)
            .map(|(content, styled)| {
                let (x, y) =
                    (image_io::image_to_tensor(content, self.device), image_io::image_to_tensor(styled, self.device));
                Ok(image_io::tensor_to_image(&self.controls.apply(&x, &y))?)
            })
            .collect()
    }

    /// The network (in tiles when [`Stylizer::tile`] asks) and then `controls`, at the
    /// images' own size.
    fn stylize_tiled(&self, imgs: &[&RgbImage], controls: faststyle::Controls) -> Result<Vec<RgbImage>> {
        let Some(first) = imgs.first() else { return Ok(Vec::new()) };
        let (w, h) = first.dimensions();
        if let Some(cfg) = self.tile.filter(|c| w > c.size || h > c.size) {
            return imgs
                .iter()
                .map(|img| {
                    tile::stylize_tiled(img, cfg, |t| self.stylize_whole(&[t], controls).map(|mut v| v.remove(0)))
                })
                .collect();
        }
        self.stylize_whole(imgs, controls)
    }

    /// One forward pass over the batch and `controls`, without tiling.
    fn stylize_whole(&self, imgs: &[&RgbImage], controls: faststyle::Controls) -> Result<Vec<RgbImage>> {
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
            let xk = x.to_kind(self.precision);
            let y = match &self.style {
                Some(w) => self.checkpoint.net.forward_fast_styled(&xk, w),
                None => self.checkpoint.net.forward_fast(&xk),
            };
            let y = y.to_kind(Kind::Float);
            controls.apply(&x, &y)
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
        let img = image_io::read_rgb_fitted(input, max_size)?;
        let out = self.stylize(&img)?;
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            faststyle::fsutil::remove_stale_temp_files(dir, false);
        }
        image_io::write_image(output, &out)?;
        Ok(out.dimensions())
    }
}

/// The smallest side, in pixels, [`Stylizer::style_scale`] may leave an image with: the
/// TransformerNet's 9×9 reflection-padded input conv needs more than 4 px, and its two
/// stride-2 convs turn anything smaller than 16 px into a few pixels of texture.
pub const MIN_NETWORK_SIDE: u32 = 16;

/// `W×H` scaled by `scale` and rounded.
///
/// # Errors
/// A side under [`MIN_NETWORK_SIDE`].
fn scaled_size(w: u32, h: u32, scale: f64) -> Result<(u32, u32)> {
    let (sw, sh) = ((w as f64 * scale).round() as u32, (h as f64 * scale).round() as u32);
    if sw.min(sh) < MIN_NETWORK_SIDE {
        anyhow::bail!(
            "--style-scale {scale} turns this {w}×{h} image into {sw}×{sh}; the network needs at least \
             {MIN_NETWORK_SIDE} px a side"
        );
    }
    Ok((sw, sh))
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

/// Share `index` of `count` of a job (`infer --shard K/N`, for Slurm job arrays and Kubernetes
/// Indexed Jobs): the contiguous part `⌊K·n/N⌋ .. ⌊(K+1)·n/N⌋` of `n` sorted items, so the N
/// shards partition the items exactly, in order, whatever `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K, from 0.
    pub index: u64,
    /// N ≥ 1.
    pub count: u64,
}

impl Shard {
    /// The items of this shard among `n`.
    pub fn range(&self, n: u64) -> std::ops::Range<u64> {
        let at = |k: u64| (k as u128 * n as u128 / self.count as u128) as u64;
        at(self.index)..at(self.index + 1)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `K/N` with `0 ≤ K < N`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s.split_once('/').ok_or_else(|| format!("{s:?} is not K/N (e.g. 0/4)"))?;
        let (index, count): (u64, u64) = match (k.trim().parse(), n.trim().parse()) {
            (Ok(k), Ok(n)) => (k, n),
            _ => return Err(format!("{s:?} is not K/N with whole numbers")),
        };
        if count == 0 || index >= count {
            return Err(format!("{s:?}: K must be in 0..N and N at least 1"));
        }
        Ok(Shard { index, count })
    }
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
/// When `input` cannot be read or holds no image (see [`image_io::list_images`]), or
/// outputs exist and `existing` is [`ExistingOutputs::Refuse`] (checked before any work);
/// per-file failures are in the report.
pub fn stylize_folder(
    st: &Stylizer,
    input: &Path,
    output: &Path,
    opts: &PipelineOptions,
    existing: ExistingOutputs,
    shard: Option<Shard>,
) -> Result<FolderReport> {
    let console = Console::hidden();
    let ImageListing { mut files, unreadable } = image_io::list_images(input)?;
    if let Some(shard) = shard {
        let r = shard.range(files.len() as u64);
        files = files[r.start as usize..r.end as usize].to_vec();
    }
    let mut report = FolderReport::default();
    for (path, why) in unreadable {
        console.skipped(&path, &why);
        report.failed.push((path, why));
    }
    // Pair each input with its output; refuse, skip or keep existing outputs up front.
    let mut jobs: Vec<Job> = Vec::with_capacity(files.len());
    let mut claimed: HashMap<PathBuf, PathBuf> = HashMap::new();
    for file in files {
        let out = output_path_for(input, &file, output);
        if let Some(first) = claimed.get(&out) {
            let why = format!("its output {} is also the output of {}", out.display(), first.display());
            console.skipped(&file, &why);
            report.failed.push((file, why));
            continue;
        }
        claimed.insert(out.clone(), file.clone());
        jobs.push(Job { input: file, output: out });
    }
    let exists: Vec<&PathBuf> = jobs.iter().map(|j| &j.output).filter(|o| o.exists()).collect();
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
            jobs.retain(|j| !j.output.exists());
            report.skipped_existing = before - jobs.len();
        }
        _ => {}
    }
    if output.is_dir() {
        faststyle::fsutil::remove_stale_temp_files(output, true);
    }
    let console = Console::frames(Some(jobs.len() as u64));
    let run = stylize_jobs(st, &jobs, opts, &|i, r| {
        if let Err(why) = r {
            console.skipped(&jobs[i].input, why);
        }
        console.bar().inc(1);
    })?;
    console.finish();
    report.done = run.done;
    report.failed.extend(run.failed.into_iter().map(|(i, why)| (jobs[i].input.clone(), why)));
    report.stages = run.stages;
    report.seconds = run.seconds;
    Ok(report)
}

/// Stylizes image files through the pipeline: each job's input, decoded (scaled to
/// `opts.max_size`), to its output; `on_done` hears of each job as it finishes.
///
/// # Errors
/// None per file (failures are in the report); a libtorch failure on a whole batch is
/// reported for each of its frames.
pub fn stylize_jobs(
    st: &Stylizer,
    jobs: &[Job],
    opts: &PipelineOptions,
    on_done: &pipeline::OnDone<'_>,
) -> Result<PipelineReport> {
    let mut source = FileSource::new(jobs, opts.max_size);
    pipeline::run(&mut source, &mut FileSink::new(jobs), opts, &mut |imgs| st.stylize_batch(imgs), on_done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_any_count_in_order() {
        for n in 0..40u64 {
            for count in 1..7u64 {
                let ranges: Vec<_> = (0..count).map(|index| Shard { index, count }.range(n)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[ranges.len() - 1].end, n);
                assert!(ranges.windows(2).all(|w| w[0].end == w[1].start), "{n} over {count}: {ranges:?}");
            }
        }
        assert_eq!("2/5".parse::<Shard>(), Ok(Shard { index: 2, count: 5 }));
        for bad in ["5/5", "1/0", "a/2", "3", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
