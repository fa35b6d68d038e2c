//! `trainer eval`: how good is a model? Johnson et al. (2016, §4.1 and Fig. 5) compare a
//! feed-forward network with Gatys' optimisation on the same loss: on held-out photos the
//! network's loss equals that of about 50–100 L-BFGS iterations from white noise. This
//! module measures exactly that, under the model's own training loss (rebuilt from the
//! checkpoint's `train_config`), on a folder of photos centre-cropped to one size:
//!
//! - per photo and on average, the model's weighted loss parts (content, style, TV, total)
//!   and Gatys' after each listed iteration count (L-BFGS from noise, [`crate::optimize`]);
//! - the ratio model / Gatys@k and the Gatys-equivalent iteration count (the k at which
//!   Gatys' total equals the model's, interpolated linearly in log-loss between listed ks);
//! - border artifacts of the model's output: the outer [`BORDER_BAND`] px band against the
//!   band just inside it, in detail energy (mean |Laplacian| of luma) and saturation;
//! - the style strength of the model's output on the fixed [`StyleYardstick`], and each style
//!   layer's share of the model's style loss.
//!
//! It prints a table and writes `report.json` and `sheet.png` (photo | model | Gatys@k per
//! row) to the report folder. A multi-style model is measured style by style, each under the
//! single-style loss of its style image ([`crate::config::Recipe::for_style`]: what a
//! single-style network of that style is trained and measured on, so the two compare
//! directly), one report folder per style (`<out>/<style>/`) and a per-style table
//! (`<out>/styles.json`).

use crate::config::TrainConfig;
use crate::metrics::describe_shares;
use crate::objective;
use crate::optimize::{self, Init, Schedule};
use anyhow::{bail, Context, Result};
use faststyle::image_io::{self, ImageListing};
use faststyle::progress::Console;
use faststyle::quality::{border_figures, period2_peak, Border, StyleYardstick, BORDER_BAND};
use faststyle::sheet::contact_sheet;
use faststyle::{Checkpoint, LossParts, LossValues, PerceptualLoss, Precision};
use image::RgbImage;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The checkpoint.
    pub model: PathBuf,
    /// Folder of photos (each centre-cropped to `size`).
    pub content: PathBuf,
    /// Side of the square crops, pixels.
    pub size: u32,
    /// Gatys iteration counts to compare with, ascending.
    pub gatys_iterations: Vec<usize>,
    /// Report folder (`report.json`, `sheet.png`).
    pub out: PathBuf,
    /// Evaluate at most this many photos (in name order).
    pub limit: Option<usize>,
    /// Seed of Gatys' starting noise.
    pub seed: u64,
    /// Folder of Gatys results kept between evaluations (see [`GatysCache`]); `None` runs
    /// Gatys every time.
    pub gatys_cache: Option<PathBuf>,
    /// Styles of a multi-style model to evaluate, by name or index; empty: all of them.
    pub styles: Vec<String>,
}

/// Gatys' loss after `iterations` L-BFGS iterations.
#[derive(Debug, Clone, Serialize)]
pub struct GatysPoint {
    /// Iterations.
    pub iterations: usize,
    /// Its weighted loss parts.
    pub loss: LossValues,
    /// Model total / this total.
    pub ratio: f64,
}

/// One photo's figures (or their mean).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The photo (or `mean`).
    pub image: String,
    /// The model's loss.
    pub model: LossValues,
    /// Gatys' at each listed count.
    pub gatys: Vec<GatysPoint>,
    /// Iterations at which Gatys' total equals the model's (interpolated), when within
    /// the listed range.
    pub gatys_equivalent_iterations: Option<f64>,
    /// `< k` or `> k` when the model lies outside the listed range.
    pub gatys_equivalent_note: Option<String>,
    /// Border artifacts of the model's output.
    pub border: Border,
    /// [`period2_peak`] of the model's output: about 1 without a checkerboard (photos,
    /// Gatys), above 1 with one.
    pub period2_peak: f64,
    /// Style strength of the model's output, `1 − S(output)/S(photo)` on the fixed
    /// [`StyleYardstick`].
    pub style_strength: f64,
    /// Each style layer's share of the model's style loss, `(layer, fraction)`.
    pub style_shares: Vec<(String, f64)>,
}

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The checkpoint.
    pub model: PathBuf,
    /// The style of a multi-style model this report measures (`None` for a single-style one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    /// The style image of its training config.
    pub style_image: Option<PathBuf>,
    /// Crop side, pixels.
    pub size: u32,
    /// The VGG layers of the style-strength yardstick.
    pub yardstick_layers: Vec<String>,
    /// Per photo, in name order.
    pub images: Vec<Row>,
    /// Means over the photos (ratios of means).
    pub mean: Row,
    /// Per Gatys count, `(k, median over the photos of model / Gatys@k)`: the figure one
    /// stalled Gatys run (L-BFGS without a line search sometimes stalls from noise; README)
    /// cannot move, unlike the ratio of means.
    pub median_ratios: Vec<(usize, f64)>,
}

/// The `k` at which a decreasing curve `(k, loss)` reaches `target`, linear in log-loss
/// between neighbouring points; `Err(note)` outside the curve's range.
fn equivalent_iterations(curve: &[(usize, f64)], target: f64) -> Result<f64, String> {
    let (first, last) = (curve[0], curve[curve.len() - 1]);
    if target > first.1 {
        return Err(format!("< {}", first.0));
    }
    if target < last.1 {
        return Err(format!("> {}", last.0));
    }
    for w in curve.windows(2) {
        let ((k0, l0), (k1, l1)) = (w[0], w[1]);
        if target <= l0 && target >= l1 {
            let f = if l0 == l1 { 0.0 } else { (l0.ln() - target.ln()) / (l0.ln() - l1.ln()) };
            return Ok(k0 as f64 + f * (k1 - k0) as f64);
        }
    }
    Err("not monotone".into())
}

/// Evaluates the model as `opts` says and writes the report; returns it. `overrides` (JSON
/// config fields) replace fields of the checkpoint's training config: paths that do not
/// resolve on this machine, and the device.
///
/// # Errors
/// A checkpoint without a usable `train_config`; a loss network or style image that cannot
/// be loaded (named); a folder without images; a report that cannot be written.
pub fn eval(opts: &EvalOptions, overrides: serde_json::Value) -> Result<Vec<Report>> {
    if opts.size == 0 || opts.gatys_iterations.is_empty() || opts.gatys_iterations.contains(&0) {
        bail!("--size and every --gatys-iterations count must be at least 1");
    }
    let ImageListing { mut files, unreadable } = image_io::list_images(&opts.content)?;
    let console = Console::hidden();
    for (p, why) in &unreadable {
        console.skipped(p, why);
    }
    files.truncate(opts.limit.unwrap_or(usize::MAX));
    let meta = faststyle::CheckpointMeta::read(&opts.model)?;
    let cfg: TrainConfig = serde_json::from_value(meta.train_config.clone())
        .map_err(|e| anyhow::anyhow!("{}: its train_config is not a training config: {e}", opts.model.display()))?;
    let cfg = cfg.with_overrides(overrides, None)?;
    let device = cfg.run.device.resolve()?;
    let ck = Checkpoint::load(&opts.model, device)?;
    let names = meta.style_names();
    if names.len() != cfg.recipe.style_paths().len().max(1) {
        bail!(
            "{}: the model holds {} style(s) but its training config lists {} style image(s)",
            opts.model.display(),
            names.len(),
            cfg.recipe.style_paths().len()
        );
    }
    if names.len() == 1 {
        return Ok(vec![eval_style(opts, &cfg, &ck, None, &files, &opts.out, &console)?]);
    }
    let picked = pick_styles(&opts.styles, &names)?;
    let mut reports = Vec::new();
    for k in picked {
        eprintln!("style {k} ({}):", names[k]);
        let style_cfg = TrainConfig { recipe: cfg.recipe.for_style(k), run: cfg.run.clone() };
        let out = opts.out.join(&names[k]);
        reports.push(eval_style(opts, &style_cfg, &ck, Some((k, &names[k])), &files, &out, &console)?);
    }
    eprintln!("{}", style_table(&reports));
    let json = serde_json::to_string_pretty(&reports.iter().map(StyleSummary::of).collect::<Vec<_>>())?;
    faststyle::fsutil::write_bytes_atomic(&opts.out.join("styles.json"), json.as_bytes())?;
    eprintln!("wrote {}", opts.out.join("styles.json").display());
    Ok(reports)
}

/// One style's line of `styles.json`, the per-style table of a multi-style model.
#[derive(Debug, Clone, Serialize)]
pub struct StyleSummary {
    /// The style's name.
    pub style: String,
    /// Its mean loss over the photos.
    pub model: LossValues,
    /// `(k, median model / Gatys@k)`.
    pub median_ratios: Vec<(usize, f64)>,
    /// Mean style strength.
    pub style_strength: f64,
    /// Mean border detail and saturation ratios.
    pub border: Border,
}

impl StyleSummary {
    fn of(r: &Report) -> Self {
        StyleSummary {
            style: r.style.clone().unwrap_or_default(),
            model: r.mean.model,
            median_ratios: r.median_ratios.clone(),
            style_strength: r.mean.style_strength,
            border: r.mean.border,
        }
    }
}

/// The styles named in `wanted` (names or indices; all when empty), as indices into `names`.
///
/// # Errors
/// A name the model does not have or an index out of range, listing the valid ones.
pub(crate) fn pick_styles(wanted: &[String], names: &[String]) -> Result<Vec<usize>> {
    if wanted.is_empty() {
        return Ok((0..names.len()).collect());
    }
    wanted
        .iter()
        .map(|w| {
            let found = match w.parse::<usize>() {
                Ok(i) => (i < names.len()).then_some(i),
                Err(_) => names.iter().position(|n| n == w),
            };
            found.with_context(|| {
                let list: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("{i} {n}")).collect();
                format!("--styles: the model has no style {w:?}; its styles are: {}", list.join(", "))
            })
        })
        .collect()
}

/// The per-style table of a multi-style model: one line per style.
fn style_table(reports: &[Report]) -> String {
    let mut lines =
        vec![format!("{:<20} {:>10} {:>9} {:>14}  median model/Gatys", "style", "loss", "strength", "border")];
    for r in reports {
        let medians: Vec<String> = r.median_ratios.iter().map(|(k, v)| format!("@{k} ×{v:.2}")).collect();
        lines.push(format!(
            "{:<20} {:>10.3e} {:>9.3} {:>6.2}/{:<6.2}  {}",
            r.style.as_deref().unwrap_or("-"),
            r.mean.model.total,
            r.mean.style_strength,
            r.mean.border.detail_ratio,
            r.mean.border.saturation_ratio,
            medians.join(", ")
        ));
    }
    lines.join("\n")
}

/// Evaluates one style of the model (`style`: its index and name in a multi-style model)
/// under `cfg`, the single-style recipe of that style, on `files`; writes the report and
/// sheet to `out`.
fn eval_style(
    opts: &EvalOptions,
    cfg: &TrainConfig,
    ck: &Checkpoint,
    style: Option<(usize, &String)>,
    files: &[PathBuf],
    out: &Path,
    console: &Console,
) -> Result<Report> {
    let device = cfg.run.device.resolve()?;
    cfg.validate_loss(None).with_context(|| format!("the loss of {}", opts.model.display()))?;
    let precision = cfg.run.loss_network_precision.resolve(device, Precision::Bf16);
    let objective = objective::recipe_loss(&cfg.recipe, precision, device)
        .with_context(|| format!("rebuilding the training loss of {}", opts.model.display()))?;
    let yardstick = yardstick(cfg, device)?;
    let style_layers: Vec<String> = cfg.recipe.style_layers.iter().map(|l| l.layer.clone()).collect();
    let weights = match style {
        Some((k, _)) => Some(faststyle::style_weights(&[(k, 1.0)], ck.net.num_styles(), device)?),
        None => None,
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // The cache folder with the digests its keys share (None: --no-gatys-cache).
    let cache_at = opts.gatys_cache.as_deref().map(|dir| CacheInputs::new(cfg).map(|i| (dir, i))).transpose()?;
    let mut rows = Vec::new();
    let mut sheet_rows = Vec::new();
    for file in files {
        let photo = match image_io::read_rgb(file) {
            Ok(img) => image_io::resize_center_crop(&img, opts.size),
            Err(e) => {
                console.skipped(file, &e.to_string());
                continue;
            }
        };
        let x = image_io::image_to_tensor(&photo, device);
        let y = tch::no_grad(|| match &weights {
            Some(w) => ck.net.forward_fast_styled(&x, w),
            None => ck.net.forward_fast(&x),
        });
        let targets = objective.content_targets(&x);
        let styled = image_io::tensor_to_image(&y)?;
        let model_parts = tch::no_grad(|| objective.compute_with_targets(&y, &targets));
        let model = model_parts.values();
        let shares = style_layers.iter().cloned().zip(model_parts.style_shares()).collect();
        let measured = Measured {
            border: border_figures(&styled, BORDER_BAND),
            period2_peak: period2_peak(&styled),
            style_strength: yardstick.strength(&y, &x),
            style_shares: shares,
        };
        let cache = cache_at
            .as_ref()
            .map(|(dir, inputs)| GatysCache::new(dir, cfg, inputs, file, opts, precision, device))
            .transpose()?;
        let at = match cache.as_ref().and_then(|c| c.load(&opts.gatys_iterations).map(|at| (c, at))) {
            Some((c, at)) => {
                eprintln!("{}: Gatys reused from {}", file.display(), c.json.display());
                at
            }
            None => {
                let at = gatys_points(&objective, &targets, &x, opts)?;
                if let Some(c) = &cache {
                    c.store(&at)?;
                }
                at
            }
        };
        let gatys: Vec<GatysPoint> =
            at.iter().map(|(k, l, _)| GatysPoint { iterations: *k, loss: *l, ratio: model.total / l.total }).collect();
        let name = file.strip_prefix(&opts.content).unwrap_or(file).display().to_string();
        let row = row(name, model, gatys, measured);
        eprintln!("{}", table_line(&row));
        let mut sheet = vec![photo, styled];
        sheet.extend(at.into_iter().map(|(_, _, img)| img));
        sheet_rows.push(sheet);
        rows.push(row);
    }
    if rows.is_empty() {
        bail!("{}: no photo could be evaluated (see the messages above)", opts.content.display());
    }
    let mean = mean_row(&rows);
    eprintln!("{}", table_line(&mean));
    let median_ratios = median_ratios(&rows);
    let medians: Vec<String> = median_ratios.iter().map(|(k, r)| format!("@{k} ×{r:.2}")).collect();
    eprintln!("{:<28} model / gatys {}", "median over photos", medians.join(", "));
    let report = Report {
        model: opts.model.clone(),
        style: style.map(|(_, name)| name.clone()),
        style_image: cfg.recipe.style_image.clone(),
        size: opts.size,
        yardstick_layers: yardstick.layers_used().to_vec(),
        images: rows,
        mean,
        median_ratios,
    };
    let json = serde_json::to_string_pretty(&report)?;
    faststyle::fsutil::write_bytes_atomic(&out.join("report.json"), json.as_bytes())?;
    image_io::write_image(&out.join("sheet.png"), &contact_sheet(&sheet_rows))?;
    eprintln!("wrote {} and {}", out.join("report.json").display(), out.join("sheet.png").display());
    Ok(report)
}

/// Gatys from the ImageNet-mean noise of `opts.seed` on `x`'s loss: the loss and the image
/// after each of `opts.gatys_iterations` (ascending) L-BFGS iterations.
///
/// # Errors
/// A libtorch failure.
fn gatys_points(
    objective: &PerceptualLoss,
    targets: &[Tensor],
    x: &Tensor,
    opts: &EvalOptions,
) -> Result<Vec<(usize, LossValues, RgbImage)>> {
    let max_k = *opts.gatys_iterations.iter().max().expect("not empty");
    tch::manual_seed(opts.seed as i64);
    let start = optimize::start_image(&Init::Noise, None, x, x.device())?.detach().set_requires_grad(true);
    let mut at = Vec::new();
    // Evaluation j is the loss after j − 1 updates.
    let mut on_eval = |j: usize, parts: &LossParts, img: &Tensor| -> Result<()> {
        if j > 1 && opts.gatys_iterations.contains(&(j - 1)) && j - 1 < max_k {
            at.push((j - 1, parts.values(), image_io::tensor_to_image(&img.detach().clamp(0.0, 255.0))?));
        }
        Ok(())
    };
    let schedule = Schedule { iterations: max_k, ..Default::default() };
    let last = optimize::gatys(objective, targets, &start, schedule, &mut on_eval)?;
    at.push((max_k, last, image_io::tensor_to_image(&start.detach().clamp(0.0, 255.0))?));
    Ok(at)
}

/// Gatys' results on one photo, kept in a folder between evaluations: they depend only on
/// the loss (layers, weights, loss network, style image, VGG file), the photo, the crop
/// size, the seed, the iteration counts and where the loss network runs, never on the
/// model, so every checkpoint of a run (a curve over training steps) shares them. An entry
/// is `<sha256 of all of those>.json` (the key and each count's loss) and one PNG per count;
/// any change to an input is a different entry. Files enter the key by their contents
/// (SHA-256), never by path or modification time, so copying the data, or a mount that
/// re-stamps it, still finds the entries. Delete the folder to recompute.
struct GatysCache {
    /// `<dir>/<hash>.json`.
    json: PathBuf,
    /// `<dir>/<hash>`: images are `<stem>_<k>.png`.
    stem: PathBuf,
    /// What the entry depends on, stored in it for readers.
    key: serde_json::Value,
}

/// Bump when the Gatys optimisation itself changes, so old entries are not reused.
const GATYS_CACHE_VERSION: u32 = 1;

/// The SHA-256 (hex) of a file's contents.
///
/// # Errors
/// The file cannot be read (named).
fn file_sha256(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// The digests every [`GatysCache`] key of one evaluation shares, computed once (a full VGG
/// file is ~0.5 GB).
struct CacheInputs {
    /// SHA-256 of the style image file.
    style_sha256: String,
    /// SHA-256 of the VGG weights file.
    vgg_sha256: String,
}

impl CacheInputs {
    /// Digests `cfg`'s style image and VGG weights.
    ///
    /// # Errors
    /// The config names neither, or a file cannot be read (named).
    fn new(cfg: &TrainConfig) -> Result<Self> {
        let style = cfg.recipe.style_image.as_deref().context("the training config names no style image")?;
        let vgg = cfg.recipe.vgg_weights.as_deref().context("the training config names no VGG weights")?;
        Ok(CacheInputs { style_sha256: file_sha256(style)?, vgg_sha256: file_sha256(vgg)? })
    }
}

impl GatysCache {
    /// The entry for `photo` under `cfg`'s loss (its files digested in `inputs`) and `opts`.
    ///
    /// # Errors
    /// The photo cannot be read (named).
    fn new(
        dir: &Path,
        cfg: &TrainConfig,
        inputs: &CacheInputs,
        photo: &Path,
        opts: &EvalOptions,
        precision: Precision,
        device: tch::Device,
    ) -> Result<Self> {
        let recipe = serde_json::to_value(&cfg.recipe)?;
        let loss: serde_json::Map<String, serde_json::Value> = LOSS_FIELDS
            .iter()
            .map(|&f| (f.to_string(), recipe.get(f).cloned().unwrap_or(serde_json::Value::Null)))
            .collect();
        let key = serde_json::json!({
            "version": GATYS_CACHE_VERSION,
            "loss": loss,
            "style_image_sha256": inputs.style_sha256,
            "vgg_sha256": inputs.vgg_sha256,
            "photo_sha256": file_sha256(photo)?,
            "size": opts.size, "seed": opts.seed, "iterations": opts.gatys_iterations,
            "precision": format!("{precision:?}"), "device": format!("{device:?}"),
        });
        let hash = format!("{:x}", Sha256::digest(key.to_string().as_bytes()));
        Ok(GatysCache { json: dir.join(format!("{hash}.json")), stem: dir.join(hash), key })
    }

    fn image_path(&self, k: usize) -> PathBuf {
        let mut name = self.stem.clone().into_os_string();
        name.push(format!("_{k}.png"));
        name.into()
    }

    /// The stored points, when the entry is complete and lists exactly `iterations`.
    fn load(&self, iterations: &[usize]) -> Option<Vec<(usize, LossValues, RgbImage)>> {
        let text = std::fs::read_to_string(&self.json).ok()?;
        let entry: serde_json::Value = serde_json::from_str(&text).ok()?;
        let losses: Vec<(usize, LossValues)> = serde_json::from_value(entry.get("points")?.clone()).ok()?;
        if entry.get("key") != Some(&self.key) || losses.iter().map(|(k, _)| *k).ne(iterations.iter().copied()) {
            return None;
        }
        losses.into_iter().map(|(k, l)| Some((k, l, image_io::read_rgb(&self.image_path(k)).ok()?))).collect()
    }

    /// Writes the entry (images first, the JSON that makes it valid last; each atomically).
    ///
    /// # Errors
    /// The folder or a file cannot be written (named).
    fn store(&self, at: &[(usize, LossValues, RgbImage)]) -> Result<()> {
        let dir = self.json.parent().expect("a file in the cache folder");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (k, _, img) in at {
            image_io::write_image(&self.image_path(*k), img)?;
        }
        let points: Vec<(usize, LossValues)> = at.iter().map(|(k, l, _)| (*k, *l)).collect();
        let json = serde_json::to_string_pretty(&serde_json::json!({"key": self.key, "points": points}))?;
        faststyle::fsutil::write_bytes_atomic(&self.json, json.as_bytes())?;
        Ok(())
    }
}

/// The training-config fields the loss depends on (with the style image's and VGG file's
/// contents, which [`GatysCache`] hashes separately).
const LOSS_FIELDS: [&str; 8] = [
    "loss_network",
    "content_layers",
    "style_layers",
    "content_weight",
    "style_weight",
    "tv_weight",
    "style_loss_scales",
    "style_size",
];

/// The style yardstick of a model: its VGG weights and convention, its painting.
///
/// # Errors
/// The VGG weights or the painting cannot be loaded (named).
fn yardstick(cfg: &TrainConfig, device: tch::Device) -> Result<StyleYardstick> {
    let painting = cfg.recipe.style_image.as_deref().context("the training config names no style image")?;
    let vgg = cfg.recipe.vgg_weights.as_deref().context("the training config names no VGG weights")?;
    let img = image_io::read_rgb(painting)?;
    Ok(StyleYardstick::new(vgg, &cfg.recipe.loss_network, &img, device)?)
}

/// The figures of a model's output besides its loss.
struct Measured {
    border: Border,
    period2_peak: f64,
    style_strength: f64,
    style_shares: Vec<(String, f64)>,
}

/// A row with its equivalent iterations.
fn row(image: String, model: LossValues, gatys: Vec<GatysPoint>, measured: Measured) -> Row {
    let Measured { border, period2_peak, style_strength, style_shares } = measured;
    let curve: Vec<(usize, f64)> = gatys.iter().map(|g| (g.iterations, g.loss.total)).collect();
    let (gatys_equivalent_iterations, gatys_equivalent_note) = match equivalent_iterations(&curve, model.total) {
        Ok(k) => (Some(k), None),
        Err(note) => (None, Some(note)),
    };
    Row {
        image,
        model,
        gatys,
        gatys_equivalent_iterations,
        gatys_equivalent_note,
        border,
        period2_peak,
        style_strength,
        style_shares,
    }
}

/// The mean row: mean losses and border figures, ratios of the means.
fn mean_row(rows: &[Row]) -> Row {
    let model = LossValues::mean(&rows.iter().map(|r| r.model).collect::<Vec<_>>());
    let gatys = (0..rows[0].gatys.len())
        .map(|i| {
            let loss = LossValues::mean(&rows.iter().map(|r| r.gatys[i].loss).collect::<Vec<_>>());
            GatysPoint { iterations: rows[0].gatys[i].iterations, loss, ratio: model.total / loss.total }
        })
        .collect();
    let n = rows.len() as f64;
    let mean = |f: &dyn Fn(&Row) -> f64| rows.iter().map(f).sum::<f64>() / n;
    let border = Border {
        detail_ratio: mean(&|r| r.border.detail_ratio),
        saturation_ratio: mean(&|r| r.border.saturation_ratio),
    };
    let style_shares = (rows[0].style_shares.iter().enumerate())
        .map(|(i, (layer, _))| (layer.clone(), mean(&|r| r.style_shares[i].1)))
        .collect();
    let measured = Measured {
        border,
        period2_peak: mean(&|r| r.period2_peak),
        style_strength: mean(&|r| r.style_strength),
        style_shares,
    };
    row("mean".into(), model, gatys, measured)
}

/// Per Gatys count, the median over `rows` of the model / Gatys ratio (the mean of the two
/// middle values for an even count).
fn median_ratios(rows: &[Row]) -> Vec<(usize, f64)> {
    (0..rows[0].gatys.len())
        .map(|i| {
            let mut r: Vec<f64> = rows.iter().map(|row| row.gatys[i].ratio).collect();
            r.sort_by(f64::total_cmp);
            let n = r.len();
            (rows[0].gatys[i].iterations, if n % 2 == 1 { r[n / 2] } else { (r[n / 2 - 1] + r[n / 2]) / 2.0 })
        })
        .collect()
}

/// One line of the printed table.
fn table_line(r: &Row) -> String {
    let gatys: Vec<String> =
        r.gatys.iter().map(|g| format!("@{} {:.3e} (×{:.2})", g.iterations, g.loss.total, g.ratio)).collect();
    let eq = match (&r.gatys_equivalent_iterations, &r.gatys_equivalent_note) {
        (Some(k), _) => format!("{k:.0}"),
        (None, Some(n)) => n.clone(),
        _ => "-".into(),
    };
    format!(
        "{:<28} model {:.3e} (content {:.2e}, style {:.2e}, tv {:.2e}) | gatys {} | ≈ {eq} iterations | border detail ×{:.2}, saturation ×{:.2} | period-2 peak ×{:.1} | style strength {:.3} | style shares {}",
        r.image,
        r.model.total,
        r.model.content,
        r.model.style,
        r.model.tv,
        gatys.join(", "),
        r.border.detail_ratio,
        r.border.saturation_ratio,
        r.period2_peak,
        r.style_strength,
        describe_shares(&r.style_shares)
    )
}

/// The default report folder for a model: `out/eval/<model stem>`.
pub fn default_out(model: &Path) -> PathBuf {
    let stem = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    Path::new("out/eval").join(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_iterations_interpolate_in_log_loss() {
        let curve = [(25, 100.0), (50, 50.0), (100, 25.0)];
        assert_eq!(equivalent_iterations(&curve, 100.0), Ok(25.0));
        let k = equivalent_iterations(&curve, 50.0f64.sqrt() * 100.0f64.sqrt()).unwrap();
        assert!((k - 37.5).abs() < 1e-9, "{k}");
        assert_eq!(equivalent_iterations(&curve, 200.0), Err("< 25".into()));
        assert_eq!(equivalent_iterations(&curve, 10.0), Err("> 100".into()));
    }
}
