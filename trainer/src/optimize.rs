//! `trainer optimize`: optimisation-based style transfer (Gatys, Ecker & Bethge, "Image Style
//! Transfer Using Convolutional Neural Networks", CVPR 2016), as jcjohnson/neural-style runs
//! it: the pixels of one image are optimised to minimise the recipe's perceptual loss (the
//! loss the trainer minimises, [`crate::objective`]), by L-BFGS (one
//! [`faststyle::lbfgs::Lbfgs`] step of `iterations` iterations, tolerances off) or Adam.
//!
//! Several style images blend their Gram targets (`--style-blend`); `--scales 512,1024`
//! optimises coarse to fine, each scale starting from the upsampled result of the one before
//! (neural-style's multires recipe). [`gatys`] is the loop itself, shared with `trainer eval`.

use crate::config::TrainConfig;
use crate::objective;
use anyhow::{bail, Context, Result};
use faststyle::lbfgs::{Lbfgs, LbfgsConfig, LineSearch};
use faststyle::progress::Console;
use faststyle::quality::{border_figures, BORDER_BAND};
use faststyle::{image_io, LossParts, LossValues, PerceptualLoss, Precision};
use image::RgbImage;
use std::path::{Path, PathBuf};
use std::time::Instant;
use strum::{Display, EnumString, VariantNames};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// The optimiser of the pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Display, EnumString, VariantNames)]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum Optimizer {
    /// L-BFGS, history 100, no line search (neural-style's default).
    #[default]
    Lbfgs,
    /// Adam (β = 0.9, 0.999) with the `--lr` step in pixel units.
    Adam,
}

/// Whether the loss's gradient is taken with gradient checkpointing
/// ([`PerceptualLoss::backward_checkpointed`]): the VGG trunk's activations are recomputed
/// segment by segment instead of all being kept, which is what lets a 2048 px image fit in a
/// few GB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Display, EnumString, VariantNames)]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum Checkpointing {
    /// On for images of more than [`Checkpointing::AUTO_PIXELS`] pixels, where memory binds.
    #[default]
    Auto,
    /// Always (least memory).
    On,
    /// Never (fastest).
    Off,
}

impl Checkpointing {
    /// Image size (pixels) above which `auto` checkpoints: 1024².
    pub const AUTO_PIXELS: i64 = 1024 * 1024;

    /// Whether an image of `pixels` pixels is checkpointed.
    pub fn applies(self, pixels: i64) -> bool {
        match self {
            Checkpointing::Auto => pixels > Self::AUTO_PIXELS,
            Checkpointing::On => true,
            Checkpointing::Off => false,
        }
    }
}

/// Where the optimisation starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Init {
    /// The ImageNet mean colour plus Gaussian noise of σ = 0.001 (0–255 units): what
    /// neural-style's `-init random` gives (`randn · 0.001` in mean-subtracted caffe units).
    #[default]
    Noise,
    /// The content image.
    Content,
    /// An image file, resized to the content's size.
    File(PathBuf),
}

impl std::str::FromStr for Init {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "noise" | "random" => Init::Noise,
            "content" | "image" => Init::Content,
            path => Init::File(PathBuf::from(path)),
        })
    }
}

/// What `trainer optimize` does beyond the loss (which comes from the config).
#[derive(Debug, Clone)]
pub struct OptimizeOptions {
    /// The content photo.
    pub content: PathBuf,
    /// Style images with their blend weights (normalised by the loss).
    pub styles: Vec<(PathBuf, f64)>,
    /// The result (format by extension), written atomically.
    pub output: PathBuf,
    /// L-BFGS or Adam.
    pub optimizer: Optimizer,
    /// L-BFGS's line search (none: neural-style's setting).
    pub line_search: LineSearch,
    /// L-BFGS pairs kept (neural-style's `-lbfgs_num_correction`; PyTorch's default 100).
    /// Each pair holds two image-sized f32 tensors: 100 pairs of a 2048×1365 image are 6.7 GB.
    pub history: usize,
    /// Gradient checkpointing of the loss network (memory against one extra forward pass).
    pub checkpointing: Checkpointing,
    /// Iterations at each scale, one per entry of `scales` (neural-style's default: 1000);
    /// multires runs give the costly fine scales fewer.
    pub iterations: Vec<usize>,
    /// Adam's step, 0–255 pixel units (neural-style's default: 10).
    pub lr: f64,
    /// Where the first scale starts.
    pub init: Init,
    /// Longer side of the image at each scale, pixels, coarse to fine (one scale: the size).
    pub scales: Vec<u32>,
    /// Longer side of the style images as a multiple of the scale (neural-style's
    /// `-style_scale`, default 1).
    pub style_scale: f64,
    /// Write the image every this many iterations (beside the output, `NAME_SCALEpx_ITER`).
    pub save_every: Option<usize>,
    /// Keep the content's colours (luminance-only transfer, Gatys et al. 2016).
    pub preserve_color: bool,
    /// Seed of the noise.
    pub seed: u64,
}

/// Called at each loss evaluation with its count (from 1), the loss parts and the image.
pub(crate) type OnEval<'a> = dyn FnMut(usize, &LossParts, &Tensor) -> Result<()> + 'a;

/// How [`gatys`] optimises.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// L-BFGS or Adam.
    pub optimizer: Optimizer,
    /// L-BFGS's line search.
    pub line_search: LineSearch,
    /// L-BFGS pairs kept.
    pub history: usize,
    /// Gradient checkpointing of the loss network.
    pub checkpointing: Checkpointing,
    /// Iterations.
    pub iterations: usize,
    /// Adam's step, pixel units.
    pub lr: f64,
}

impl Default for Schedule {
    /// neural-style's: L-BFGS without a line search, history 100, 1000 iterations (Adam's
    /// step 10); the command line's defaults.
    fn default() -> Self {
        Schedule {
            optimizer: Optimizer::Lbfgs,
            line_search: LineSearch::None,
            history: 100,
            checkpointing: Checkpointing::Auto,
            iterations: 1000,
            lr: 10.0,
        }
    }
}

/// Gatys' loop: optimises `x` (`[1, 3, H, W]`, 0–255, a leaf with `requires_grad`) to
/// minimise `objective` against the content targets `targets`, as `schedule` says.
/// `on_eval` hears every evaluation (without a line search, evaluation k is the loss after
/// k − 1 updates). Returns the loss parts at the final image (one more evaluation).
///
/// # Errors
/// A libtorch failure, or whatever `on_eval` returns.
pub(crate) fn gatys(
    objective: &PerceptualLoss,
    targets: &[Tensor],
    x: &Tensor,
    schedule: Schedule,
    on_eval: &mut OnEval<'_>,
) -> Result<LossValues> {
    let Schedule { optimizer, line_search, history, checkpointing, iterations, lr } = schedule;
    let checkpointed = checkpointing.applies(x.size()[2] * x.size()[3]);
    let mut evals = 0;
    let mut evaluate = |x: &Tensor| -> Result<f64> {
        let parts = match checkpointed {
            true => objective.backward_checkpointed(x, targets),
            false => {
                let parts = objective.compute_with_targets(x, targets);
                parts.total.backward();
                parts
            }
        };
        evals += 1;
        on_eval(evals, &parts, x)?;
        Ok(f64::try_from(&parts.total)?)
    };
    match optimizer {
        Optimizer::Lbfgs => {
            let cfg = LbfgsConfig {
                max_iter: iterations,
                tolerance_grad: -1.0,
                tolerance_change: -1.0,
                line_search,
                history_size: history,
                ..Default::default()
            };
            let mut lbfgs = Lbfgs::new(x, cfg);
            lbfgs.step(&mut || evaluate(x))?;
        }
        Optimizer::Adam => {
            let vs = nn::VarStore::new(x.device());
            let var = vs.root().var_copy("image", x);
            let mut adam = nn::Adam::default().build(&vs, lr)?;
            for _ in 0..iterations {
                adam.zero_grad();
                evaluate(&var)?;
                adam.step();
            }
            tch::no_grad(|| x.shallow_clone().copy_(&var));
        }
    }
    Ok(tch::no_grad(|| objective.compute_with_targets(x, targets)).values())
}

/// `(width, height)` with the longer side `side`, the aspect ratio of `(w, h)` kept (up- or
/// downscaling).
fn with_longer_side(w: u32, h: u32, side: u32) -> (u32, u32) {
    let scale = side as f64 / w.max(h) as f64;
    (((w as f64 * scale).round() as u32).max(1), ((h as f64 * scale).round() as u32).max(1))
}

/// The starting image at a scale of `(w, h)`: the init choice at the first scale, else the
/// previous scale's result upsampled (bilinear).
pub(crate) fn start_image(init: &Init, previous: Option<&Tensor>, content: &Tensor, device: Device) -> Result<Tensor> {
    let (h, w) = (content.size()[2], content.size()[3]);
    Ok(match (previous, init) {
        (Some(prev), _) => prev.upsample_bilinear2d([h, w], false, None, None),
        (None, Init::Content) => content.copy(),
        (None, Init::File(path)) => {
            let img = image_io::read_rgb(path)?;
            image_io::image_to_tensor(&image_io::resize(&img, w as u32, h as u32), device)
        }
        (None, Init::Noise) => {
            let mean = Tensor::from_slice(&[123.675f32, 116.28, 103.53]).view([1, 3, 1, 1]).to_device(device);
            Tensor::randn([1, 3, h, w], (Kind::Float, device)) * 0.001 + mean
        }
    })
}

/// Runs `trainer optimize`: the recipe's loss from `cfg` (its layers, weights and VGG; the
/// config's style image when `opts.styles` is empty), the options' images and schedule.
/// Returns the weighted loss parts of the result.
///
/// # Errors
/// Unreadable content, style or init images (named); a loss network that cannot be loaded;
/// bad blend weights; a failed write of the output (which is then left untouched).
pub fn optimize(cfg: &TrainConfig, opts: &OptimizeOptions) -> Result<LossValues> {
    if opts.scales.is_empty() || opts.scales.contains(&0) || opts.iterations.contains(&0) {
        bail!("--image-size/--scales and --iterations must be at least 1");
    }
    if opts.iterations.len() != opts.scales.len() {
        bail!(
            "--iterations has {} value(s) for {} scale(s): give one, or one per scale",
            opts.iterations.len(),
            opts.scales.len()
        );
    }
    if !(opts.style_scale.is_finite() && opts.style_scale > 0.0) {
        bail!("--style-scale must be a positive number, got {}", opts.style_scale);
    }
    image_io::OutputFormat::from_path(&opts.output)?;
    let device = cfg.run.device.resolve()?;
    let precision = cfg.run.loss_network_precision.resolve(device, Precision::Bf16);
    let content = image_io::read_rgb(&opts.content)?;
    let styles: Vec<(RgbImage, f64)> = if opts.styles.is_empty() {
        // A multi-style config's styles, blended equally.
        objective::recipe_styles(&cfg.recipe)?.into_iter().map(|img| (img, 1.0)).collect()
    } else {
        opts.styles.iter().map(|(p, w)| Ok((image_io::read_rgb(p)?, *w))).collect::<Result<_>>()?
    };
    tch::manual_seed(opts.seed as i64);
    let total: usize = opts.iterations.iter().sum();
    let console = Console::steps(total as u64, 0);
    let start = Instant::now();
    // The result of the latest scale: image, content at its size, loss.
    let mut done: Option<(Tensor, Tensor, LossValues)> = None;
    for (s, (&side, &iterations)) in opts.scales.iter().zip(&opts.iterations).enumerate() {
        let (w, h) = with_longer_side(content.width(), content.height(), side);
        let content_t = image_io::image_to_tensor(&image_io::resize(&content, w, h), device);
        let style_side = ((side as f64 * opts.style_scale).ceil() as u32).max(1);
        let scaled: Vec<(RgbImage, f64)> = styles
            .iter()
            .map(|(img, wt)| {
                let (sw, sh) = with_longer_side(img.width(), img.height(), style_side);
                (image_io::resize(img, sw, sh), *wt)
            })
            .collect();
        let objective = objective::perceptual_loss(&cfg.recipe, &scaled, precision, device)?;
        let targets = objective.content_targets(&content_t);
        let previous = done.as_ref().map(|d| &d.0);
        let image = start_image(&opts.init, previous, &content_t, device)?.detach().set_requires_grad(true);
        let done_before: usize = opts.iterations[..s].iter().sum();
        let mut on_eval = |k: usize, parts: &LossParts, img: &Tensor| -> Result<()> {
            let rate = (done_before + k) as f64 / start.elapsed().as_secs_f64();
            let msg = format!("{side}px {} {rate:.2} it/s", parts.values().describe());
            console.bar().set_position((done_before + k).min(total) as u64);
            console.bar().set_message(msg.clone());
            if console.is_plain() && (k == 1 || k.is_multiple_of(50)) {
                console.say(&format!("iteration {k}/{iterations} at {side}px: {msg}"));
            }
            if opts.save_every.is_some_and(|n| n > 0 && k.is_multiple_of(n)) {
                let path = intermediate_path(&opts.output, side, k);
                image_io::write_image(&path, &finished_image(img, &content_t, opts.preserve_color)?)?;
            }
            Ok(())
        };
        let schedule = Schedule {
            optimizer: opts.optimizer,
            line_search: opts.line_search,
            history: opts.history,
            checkpointing: opts.checkpointing,
            iterations,
            lr: opts.lr,
        };
        let loss = gatys(&objective, &targets, &image, schedule, &mut on_eval)?;
        done = Some((image.detach(), content_t, loss));
    }
    let seconds = start.elapsed().as_secs_f64();
    console.finish();
    let (x, content_t, loss) = done.context("no scale was run")?;
    let result = finished_image(&x, &content_t, opts.preserve_color)?;
    image_io::write_image(&opts.output, &result).with_context(|| format!("writing {}", opts.output.display()))?;
    let border = border_figures(&result, BORDER_BAND);
    eprintln!(
        "optimized {} ({}) for {total} iterations in {seconds:.1} s ({:.3} s/iteration): {}; border band detail ×{:.2}, \
         saturation ×{:.2}; wrote {}",
        opts.content.display(),
        opts.scales.iter().map(|s| format!("{s}px")).collect::<Vec<_>>().join(" → "),
        seconds / total as f64,
        loss.describe(),
        border.detail_ratio,
        border.saturation_ratio,
        opts.output.display()
    );
    Ok(loss)
}

/// The optimised pixels as an 8-bit image (clamped to 0–255), with the content's colours
/// when `preserve_color`.
fn finished_image(x: &Tensor, content: &Tensor, preserve_color: bool) -> Result<RgbImage> {
    let y = tch::no_grad(|| {
        let y = x.detach().clamp(0.0, 255.0);
        faststyle::Controls { strength: 1.0, preserve_color }.apply(content, &y)
    });
    Ok(image_io::tensor_to_image(&y)?)
}

/// `out/NAME_512px_00100.EXT` for `--save-every`.
fn intermediate_path(output: &Path, side: u32, k: usize) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    let ext = output.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "png".into());
    output.with_file_name(format!("{stem}_{side}px_{k:05}.{ext}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use faststyle::vgg::{RELU1_2, RELU2_2};
    use faststyle::{LayerWeight, LossNetwork, LossNetworkConfig, LossWeights, Preprocessing, VggArch};

    /// libtorch's random generator is global: the seeded tests take turns.
    static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// A random VGG16 to relu2_2, a 20×16 content and a 24×24 style pattern.
    fn small_case() -> (PerceptualLoss, Tensor) {
        tch::manual_seed(3);
        let cfg =
            LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: Preprocessing::Torchvision, ..Default::default() };
        let net = LossNetwork::new(Device::Cpu, &cfg, &[RELU2_2.into(), RELU1_2.into()]).unwrap();
        let style = faststyle::synthetic::render_scene(24, 24, 5);
        let content = image_io::image_to_tensor(&faststyle::synthetic::render_scene(20, 16, 9), Device::Cpu);
        let weights = LossWeights { content: 1e3, style: 1e6, tv: 1e-2 };
        let layers = |names: &[&str]| names.iter().map(|l| LayerWeight::new(l)).collect::<Vec<_>>();
        let style = image_io::image_to_tensor(&style, Device::Cpu);
        (PerceptualLoss::new(net, &layers(&[RELU2_2]), &layers(&[RELU1_2, RELU2_2]), weights, &style).unwrap(), content)
    }

    /// Gatys by L-BFGS from noise, seeded, with the strong-Wolfe line search: the loss at
    /// every iterate is below the one before (one L-BFGS step of one iteration at a time,
    /// which takes the same iterates as one step of many), and falls by more than a third in
    /// 30 iterations. (On this tiny case it levels off near 40% of the start, where content
    /// and style pull apart.)
    #[test]
    fn lbfgs_lowers_the_loss_monotonically() {
        let _turn = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        let (objective, content) = small_case();
        let targets = objective.content_targets(&content);
        let x = start_image(&Init::Noise, None, &content, Device::Cpu).unwrap().set_requires_grad(true);
        let cfg = LbfgsConfig { max_iter: 1, line_search: LineSearch::StrongWolfe, ..Default::default() };
        let mut lbfgs = Lbfgs::new(&x, cfg);
        let mut f = || -> Result<f64> {
            let parts = objective.compute_with_targets(&x, &targets);
            parts.total.backward();
            Ok(f64::try_from(&parts.total)?)
        };
        let losses: Vec<f64> = (0..30).map(|_| lbfgs.step(&mut f).unwrap()).collect();
        for (k, w) in losses.windows(2).enumerate() {
            assert!(w[1] < w[0], "the loss rose at iteration {}: {} → {}", k + 1, w[0], w[1]);
        }
        assert!(losses[29] < 0.67 * losses[0], "{} from {}", losses[29], losses[0]);
    }

    /// The default (no line search, as neural-style): one evaluation per iteration, and the
    /// loss falls by more than a third over 40 iterations; the parts add up to the total.
    #[test]
    fn lbfgs_without_line_search_lowers_the_loss() {
        let _turn = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        let (objective, content) = small_case();
        let targets = objective.content_targets(&content);
        let x = start_image(&Init::Noise, None, &content, Device::Cpu).unwrap().set_requires_grad(true);
        let mut losses = Vec::new();
        let mut on_eval = |_k: usize, parts: &LossParts, _: &Tensor| -> Result<()> {
            losses.push(f64::try_from(&parts.total)?);
            Ok(())
        };
        let schedule = Schedule { iterations: 40, ..Default::default() };
        let last = gatys(&objective, &targets, &x, schedule, &mut on_eval).unwrap();
        assert_eq!(losses.len(), 40, "one evaluation per iteration");
        assert!(last.total < 0.67 * losses[0], "{} from {}", last.total, losses[0]);
        let parts_sum = last.content + last.style + last.tv;
        assert!((parts_sum - last.total).abs() <= 1e-4 * last.total, "parts {parts_sum} vs total {}", last.total);
    }

    #[test]
    fn adam_lowers_the_loss() {
        let _turn = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
        let (objective, content) = small_case();
        let targets = objective.content_targets(&content);
        let x = start_image(&Init::Content, None, &content, Device::Cpu).unwrap().set_requires_grad(true);
        let mut first = None;
        let mut on_eval = |_k: usize, parts: &LossParts, _: &Tensor| -> Result<()> {
            first.get_or_insert(f64::try_from(&parts.total)?);
            Ok(())
        };
        let schedule = Schedule { optimizer: Optimizer::Adam, iterations: 30, lr: 5.0, ..Default::default() };
        let last = gatys(&objective, &targets, &x, schedule, &mut on_eval).unwrap();
        let first = first.unwrap();
        assert!(last.total < 0.5 * first, "{} from {first}", last.total);
    }

    #[test]
    fn sizes_keep_the_aspect_ratio_up_and_down() {
        assert_eq!(with_longer_side(640, 360, 256), (256, 144));
        assert_eq!(with_longer_side(100, 200, 400), (200, 400));
        assert_eq!(intermediate_path(Path::new("out/a.png"), 512, 7), Path::new("out/a_512px_00007.png"));
        assert_eq!("content".parse::<Init>().unwrap(), Init::Content);
        assert_eq!("x.jpg".parse::<Init>().unwrap(), Init::File("x.jpg".into()));
    }
}
