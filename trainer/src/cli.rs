//! Command-line arguments of `trainer`: a config file, a flag for every config field
//! ([`ConfigFlags`], laid over the file by [`TrainConfig::with_overrides`]), `--resume`, and
//! the subcommands.

use crate::config::{parse_layer_list, ConfigError, TrainConfig};
use crate::eval::EvalOptions;
use crate::optimize::{Checkpointing, Init, OptimizeOptions, Optimizer};
use clap::{Parser, Subcommand};
use faststyle::choice::Choice;
use faststyle::lbfgs::LineSearch;
use faststyle::{DeviceChoice, LayerWeight, Precision, Preprocessing, VggArch, VggPadding};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Train a fast style-transfer network (Johnson et al. 2016) for one style image.
///
/// Settings come from --config (a JSON file; see configs/), then from the flags, which
/// override the file field by field. Unset fields take the documented defaults (those of the
/// PyTorch reference example). `trainer --resume RUN_DIR` continues a run exactly where it
/// stopped (Ctrl-C saves a checkpoint first).
#[derive(Debug, Parser)]
#[command(name = "trainer", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; without a subcommand, train.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Training options.
    #[command(flatten)]
    pub train: TrainArgs,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Decode, resize and crop a folder of photos once into a packed cache file that training
    /// memory-maps (give it as --dataset)
    Prepare {
        /// Folder of training photos, searched recursively
        #[arg(long, value_name = "DIR")]
        dataset: PathBuf,
        /// Side of the square crops, pixels (must match the training image_size)
        #[arg(long, default_value_t = 256)]
        image_size: u32,
        /// Cache file to write
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Optimise the pixels of one image to a style (Gatys et al. 2016): slow, any style
    /// image, no training; the loss (layers, weights, VGG) is the config's
    Optimize(Box<OptimizeArgs>),
    /// Measure a model: its own training loss on photos against Gatys' optimisation of the
    /// same loss (Johnson et al. 2016, Fig. 5), and its border artifacts; writes a table,
    /// report.json and sheet.png
    Eval(Box<EvalArgs>),
    /// Add a style to a trained network (Dumoulin et al. 2017 §4): every shared weight stays
    /// frozen and only the new style's instance-norm scales and shifts are trained; the result
    /// is a multi-style checkpoint with the old styles unchanged plus the new one
    Finetune(Box<FinetuneArgs>),
    /// Train a light network (e.g. `"model": {"preset": "half"}` in the config) from a trained
    /// teacher: the config's perceptual loss plus distill.output_weight times the mean squared
    /// difference to the teacher's stylization of the same batch, so the student inherits
    /// the teacher's style without re-tuning the loss weights; resume with `trainer --resume`
    Distill(Box<DistillArgs>),
    /// Average the weights of several checkpoints of one network and style (Polyak averaging,
    /// as in stochastic weight averaging, Izmailov et al. 2018), e.g. a run's last periodic
    /// checkpoints: the noise of the last steps at a constant learning rate averages out, as a
    /// final learning-rate decay would smooth it, for no training. Writes a model (no Adam
    /// state) whose metadata lists the steps averaged
    Average {
        /// Checkpoints or models to average (two or more; same architecture and style)
        #[arg(required = true, num_args = 2.., value_name = "CHECKPOINT")]
        checkpoints: Vec<PathBuf>,
        /// Model file to write (safetensors, F32; written atomically)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Draw a run's loss curves (content, style, TV, validation) as a PNG
    Plot {
        /// The run folder (holding metrics.jsonl)
        run_dir: PathBuf,
        /// Output PNG; default RUN_DIR/loss.png
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Options of `trainer optimize`.
#[derive(Debug, Clone, clap::Args)]
pub struct OptimizeArgs {
    /// JSON training config whose loss is minimised (layers, weights, VGG, style image)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The content photo
    #[arg(long, value_name = "IMG")]
    pub content: PathBuf,
    /// Style image; repeat for several [default: the config's style_image]
    #[arg(long = "style", value_name = "IMG")]
    pub styles: Vec<PathBuf>,
    /// Blend weights of the style images, comma-separated, normalised to sum 1 [default: equal]
    #[arg(long, value_name = "W,…", value_delimiter = ',')]
    pub style_blend: Option<Vec<f64>>,
    /// The result (.png or .jpg)
    #[arg(short, long, value_name = "IMG")]
    pub output: PathBuf,
    /// lbfgs (neural-style's choice) or adam
    #[arg(long, default_value = "lbfgs", value_parser = Choice::<Optimizer>::new())]
    pub optimizer: Optimizer,
    /// L-BFGS line search: none (neural-style's setting) or strong-wolfe (the loss then
    /// falls at every iteration, at a few evaluations each)
    #[arg(long, default_value = "none", value_parser = Choice::<LineSearch>::new())]
    pub line_search: LineSearch,
    /// L-BFGS pairs kept (memory: two image-sized tensors each; lower it for large images)
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub history: u64,
    /// Gradient checkpointing of the loss network: recompute its activations segment by
    /// segment instead of keeping them all (about half the memory, one more forward pass);
    /// auto = for images over 1024×1024 pixels
    #[arg(long, default_value = "auto", value_parser = Choice::<Checkpointing>::new())]
    pub checkpointing: Checkpointing,
    /// Iterations at each scale: one value for all, or one per --scales entry (multires
    /// runs give the costly fine scales fewer, e.g. 500,200,50)
    #[arg(long, default_value = "1000", value_name = "N,…", value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Vec<u64>,
    /// Adam's step in 0-255 pixel units
    #[arg(long, default_value_t = 10.0)]
    pub lr: f64,
    /// Start from noise, the content, or an image FILE
    #[arg(long, default_value = "noise", value_name = "noise|content|FILE")]
    pub init: Init,
    /// Longer side of the result, pixels
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub image_size: u32,
    /// Coarse to fine: optimise at each of these sizes (longer side, pixels), each starting
    /// from the previous result upsampled; the last is the result's size (overrides --image-size)
    #[arg(long, value_name = "PX,…", value_delimiter = ',')]
    pub scales: Option<Vec<u32>>,
    /// Longer side of the style images as a multiple of the image's
    #[arg(long, default_value_t = 1.0)]
    pub style_scale: f64,
    /// Also write the image every K iterations (NAME_SIZEpx_ITER beside the output)
    #[arg(long, value_name = "K")]
    pub save_every: Option<usize>,
    /// Keep the content's colours (luminance-only transfer)
    #[arg(long)]
    pub preserve_color: bool,
    /// Seed of the starting noise
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The loss and the device.
    #[command(flatten)]
    pub objective: ObjectiveFlags,
}

impl OptimizeArgs {
    /// The config (file or defaults) with the loss flags applied, checked for what the loss
    /// needs; and the optimisation options.
    ///
    /// # Errors
    /// [`ConfigError`] for a bad config or flag, naming it.
    pub fn resolve(&self) -> Result<(TrainConfig, OptimizeOptions), ConfigError> {
        let source = self.config.as_deref();
        let flag_err = |message: String| ConfigError { source_file: None, message };
        let base = match source {
            Some(path) => TrainConfig::from_file(path)?,
            None => TrainConfig::default(),
        };
        let flags = serde_json::to_value(&self.objective).map_err(|e| flag_err(e.to_string()))?;
        let cfg = base.with_overrides(flags, source)?;
        cfg.validate_loss(source)?;
        let blend = self.style_blend.clone().unwrap_or_else(|| vec![1.0; self.styles.len()]);
        if blend.len() != self.styles.len() {
            return Err(flag_err(format!(
                "--style-blend has {} weight(s) for {} --style image(s)",
                blend.len(),
                self.styles.len()
            )));
        }
        if blend.iter().any(|w| !w.is_finite() || *w < 0.0) || (!blend.is_empty() && blend.iter().sum::<f64>() <= 0.0) {
            return Err(flag_err(format!("--style-blend weights must be ≥ 0 and not all 0, got {blend:?}")));
        }
        let scales = self.scales.clone().unwrap_or_else(|| vec![self.image_size]);
        let opts = OptimizeOptions {
            content: self.content.clone(),
            styles: self.styles.iter().cloned().zip(blend).collect(),
            output: self.output.clone(),
            optimizer: self.optimizer,
            line_search: self.line_search,
            history: self.history as usize,
            checkpointing: self.checkpointing,
            iterations: match self.iterations.as_slice() {
                [one] => vec![*one as usize; scales.len()],
                many => many.iter().map(|&n| n as usize).collect(),
            },
            lr: self.lr,
            init: self.init.clone(),
            scales,
            style_scale: self.style_scale,
            save_every: self.save_every,
            preserve_color: self.preserve_color,
            seed: self.seed,
        };
        Ok((cfg, opts))
    }
}

/// Options of `trainer eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// The checkpoint to measure
    #[arg(long, value_name = "M")]
    pub model: PathBuf,
    /// Folder of photos not used in training (the loss against Gatys, border, style strength)
    #[arg(long, value_name = "DIR", required_unless_present = "frames")]
    pub content: Option<PathBuf>,
    /// Consecutive video frames (a folder, name order, or a video file through ffmpeg): the
    /// flow-free temporal figures (frame-difference ratio, noise sensitivity) and strip.png
    #[arg(long, value_name = "DIR|VIDEO")]
    pub frames: Option<PathBuf>,
    /// Longer side the --frames are scaled down to, pixels
    #[arg(long, default_value_t = 320, value_parser = clap::value_parser!(u32).range(8..))]
    pub frame_size: u32,
    /// Use at most this many --frames, from the first
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(2..))]
    pub frame_limit: u64,
    /// Side of the square centre crops, pixels
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub size: u32,
    /// Gatys L-BFGS iteration counts to compare with
    #[arg(long, value_name = "K,…", value_delimiter = ',', default_value = "25,50,100")]
    pub gatys_iterations: Vec<usize>,
    /// Report folder [default: out/eval/<model name>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Evaluate only the first N photos (in name order)
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Seed of Gatys' starting noise
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The style image, when the checkpoint's path to it does not resolve here
    #[arg(long = "style", value_name = "IMG")]
    pub style_image: Option<PathBuf>,
    /// The VGG weights, when the checkpoint's path to them does not resolve here
    #[arg(long = "vgg", value_name = "FILE")]
    pub vgg_weights: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Keep Gatys' results here and reuse them when the loss, photo, size, seed and counts
    /// are the same (every checkpoint of one run shares them)
    #[arg(long, value_name = "DIR", default_value = "out/eval/gatys-cache", conflicts_with = "no_gatys_cache")]
    pub gatys_cache: PathBuf,
    /// Run Gatys again for every photo instead of reusing --gatys-cache
    #[arg(long)]
    pub no_gatys_cache: bool,
    /// Styles of a multi-style model to evaluate, by name or index [default: all, one report
    /// folder each under --out and a per-style table in styles.json]
    #[arg(long, value_name = "NAME,…", value_delimiter = ',')]
    pub styles: Vec<String>,
}

impl EvalArgs {
    /// The photo evaluation's options (with `--content`), and the overrides of the
    /// checkpoint's training config (paths and device only: the loss stays the model's own).
    pub fn resolve(&self) -> (Option<EvalOptions>, serde_json::Value) {
        let mut iterations = self.gatys_iterations.clone();
        iterations.sort_unstable();
        iterations.dedup();
        let opts = self.content.as_ref().map(|content| EvalOptions {
            model: self.model.clone(),
            content: content.clone(),
            size: self.size,
            gatys_iterations: iterations,
            out: self.out.clone().unwrap_or_else(|| crate::eval::default_out(&self.model)),
            limit: self.limit,
            seed: self.seed,
            gatys_cache: (!self.no_gatys_cache).then(|| self.gatys_cache.clone()),
            styles: self.styles.clone(),
        });
        let overrides = serde_json::json!({"style_image": self.style_image, "vgg_weights": self.vgg_weights, "device": self.device});
        (opts, overrides)
    }

    /// The temporal evaluation's options (with `--frames`).
    pub fn frames_options(&self) -> Option<crate::temporal::FramesOptions> {
        self.frames.as_ref().map(|frames| crate::temporal::FramesOptions {
            model: self.model.clone(),
            frames: frames.clone(),
            max_side: self.frame_size,
            limit: self.frame_limit as usize,
            seed: self.seed,
            styles: self.styles.clone(),
            device: self.device,
            out: self.out.clone().unwrap_or_else(|| crate::eval::default_out(&self.model)),
        })
    }
}

/// Options of `trainer finetune`.
#[derive(Debug, Clone, clap::Args)]
pub struct FinetuneArgs {
    /// The trained checkpoint (written by `trainer`, single- or multi-style); its training
    /// config is the recipe
    #[arg(long, value_name = "M")]
    pub from: PathBuf,
    /// The style image to add, as the last style (named after its file stem)
    #[arg(long, value_name = "IMG")]
    pub add_style: PathBuf,
    /// Optimisation steps (a fraction of a full training's)
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: u64,
    /// Run folder [default: runs/<M stem>+<IMG stem>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Training photos, when the checkpoint's path to them does not resolve here
    #[arg(long, value_name = "DIR")]
    pub dataset: Option<PathBuf>,
    /// The VGG weights, when the checkpoint's path to them does not resolve here
    #[arg(long = "vgg", value_name = "FILE")]
    pub vgg_weights: Option<PathBuf>,
    /// Write a checkpoint (with previews and validation) every N steps, 0 for only the final one
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<u64>,
    /// auto, cpu, cuda or cuda:N
    #[arg(long)]
    pub device: Option<DeviceChoice>,
}

impl FinetuneArgs {
    /// What to fine-tune, with the flags as overrides of the checkpoint's training config.
    pub fn request(&self) -> crate::styles::FinetuneRequest {
        crate::styles::FinetuneRequest {
            from: self.from.clone(),
            add_style: self.add_style.clone(),
            steps: self.steps,
            out_dir: self.out.clone(),
            overrides: serde_json::json!({"dataset": self.dataset, "vgg_weights": self.vgg_weights,
                                          "checkpoint_every": self.checkpoint_every, "device": self.device}),
        }
    }
}

/// Options of `trainer distill`.
#[derive(Debug, Clone, clap::Args)]
pub struct DistillArgs {
    /// The trained teacher checkpoint (same number of styles as the student)
    #[arg(long, value_name = "M")]
    pub teacher: PathBuf,
    /// JSON training config of the student (its model preset, style image(s), loss, steps)
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Weight of the output-matching loss, per squared 0–255 level [config:
    /// distill.output_weight; default 50]
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    pub output_weight: Option<f64>,
    /// Config fields set on the command line.
    #[command(flatten)]
    pub flags: ConfigFlags,
}

impl DistillArgs {
    /// The student's config with `distill.teacher` (and `--output-weight`) set, then the
    /// flags applied, validated.
    ///
    /// # Errors
    /// [`ConfigError`] naming the config file, as [`TrainArgs::resolve`]; a missing teacher.
    pub fn resolve(&self) -> Result<TrainConfig, ConfigError> {
        let mut base = TrainConfig::from_file(&self.config)?;
        let mut distill = base.recipe.distill.take().unwrap_or_default();
        distill.teacher = Some(self.teacher.clone());
        distill.output_weight = self.output_weight.unwrap_or(distill.output_weight);
        base.recipe.distill = Some(distill);
        let args = TrainArgs { config: Some(self.config.clone()), flags: self.flags.clone(), ..Default::default() };
        args.resolve_over(base, Some(&self.config))
    }
}

/// Options of the training run.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TrainArgs {
    /// Continue the run in this folder from its newest checkpoint, with its saved config
    /// (flags may change steps, logging, checkpointing and device; other changes need --force)
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// Resume even though the config or the dataset differ from the run's
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// JSON training config (e.g. configs/starry_night.json)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Config fields set on the command line.
    #[command(flatten)]
    pub flags: ConfigFlags,
    /// Testing aid: make the loss NaN at this step
    #[cfg(feature = "fault-injection")]
    #[arg(long, value_name = "STEP", hide = true)]
    pub inject_nan_at_step: Option<u64>,
}

/// One flag per config field, each named after its field (`--style` sets `style_image`,
/// `--vgg-arch` sets `loss_network.arch`). Serialised, the given flags form a JSON object of
/// config fields (flags not given are `null`), which [`TrainConfig::with_overrides`] lays
/// over the file: so no field is listed a second time.
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct ConfigFlags {
    /// Folder of training photos, searched recursively [config: dataset]
    #[arg(long, value_name = "DIR")]
    pub dataset: Option<PathBuf>,
    /// Style image [config: style_image]
    #[arg(long = "style", value_name = "IMG")]
    pub style_image: Option<PathBuf>,
    /// The loss and the device.
    #[command(flatten)]
    #[serde(flatten)]
    pub objective: ObjectiveFlags,
    /// Run folder for checkpoints and metrics [config: out_dir; default runs/<style name>]
    #[arg(long = "out", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Training steps (batches) [config: steps]
    #[arg(long)]
    pub steps: Option<u64>,
    /// Images per batch [config: batch_size]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Side of the square training crops, pixels [config: image_size]
    #[arg(long)]
    pub image_size: Option<u32>,
    /// Shorter side of the style image, pixels [config: style_size]
    #[arg(long)]
    pub style_size: Option<u32>,
    /// Adam learning rate [config: lr]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of the data order and the initial weights [config: seed]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Checkpoint every N steps, 0 for only the final one [config: checkpoint_every]
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<u64>,
    /// Log metrics every N steps [config: log_every]
    #[arg(long, value_name = "N")]
    pub log_every: Option<u64>,
    /// Batches decoded ahead of the training step [config: prefetch_batches]
    #[arg(long, value_name = "N")]
    pub prefetch_batches: Option<usize>,
    /// The TransformerNet's shape.
    #[command(flatten)]
    pub model: ModelFlags,
    /// Multiply the learning rate by --lr-decay-factor every N steps, 0 for never [config: lr_decay_every]
    #[arg(long, value_name = "N")]
    pub lr_decay_every: Option<u64>,
    /// Learning-rate decay factor, in (0, 1] [config: lr_decay_factor]
    #[arg(long, value_name = "F")]
    pub lr_decay_factor: Option<f64>,
    /// Periodic checkpoints to keep [config: keep_checkpoints]
    #[arg(long, value_name = "K")]
    pub keep_checkpoints: Option<usize>,
    /// Fraction of the data held out for validation [config: val_fraction]
    #[arg(long, value_name = "F")]
    pub val_fraction: Option<f64>,
    /// Validation images previewed at each checkpoint [config: preview_images]
    #[arg(long, value_name = "N")]
    pub preview_images: Option<usize>,
}

/// The flags that set the perceptual loss and where it runs: what `trainer optimize` shares
/// with training.
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct ObjectiveFlags {
    /// VGG weights: safetensors with torchvision names (features.N.weight) [config: vgg_weights]
    #[arg(long = "vgg", value_name = "FILE")]
    pub vgg_weights: Option<PathBuf>,
    /// Which VGG and its input convention.
    #[command(flatten)]
    pub loss_network: LossNetworkFlags,
    /// Content loss weight [config: content_weight]
    #[arg(long)]
    pub content_weight: Option<f64>,
    /// Style loss weight [config: style_weight]
    #[arg(long)]
    pub style_weight: Option<f64>,
    /// Total-variation loss weight [config: tv_weight]
    #[arg(long)]
    pub tv_weight: Option<f64>,
    /// Style scales, fractions of the image size in (0, 1], e.g. 1,0.5 for a multi-scale
    /// style loss (bigger strokes) [config: style_loss_scales]
    #[arg(long, value_name = "S,…", value_delimiter = ',')]
    pub style_loss_scales: Option<Vec<f64>>,
    /// Content layers as layer[:weight],… e.g. relu2_2 [config: content_layers]
    #[arg(long, value_name = "LAYERS", value_parser = parse_layers)]
    pub content_layers: Option<LayerList>,
    /// Style layers as layer[:weight],… e.g. relu1_2,relu2_2,relu3_3,relu4_3 [config: style_layers]
    #[arg(long, value_name = "LAYERS", value_parser = parse_layers)]
    pub style_layers: Option<LayerList>,
    /// auto, cpu, cuda or cuda:N [config: device]
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// Loss-network precision [config: loss_network_precision]
    #[arg(long = "precision", value_name = "P", value_parser = Choice::<Precision>::new())]
    pub loss_network_precision: Option<Precision>,
}

/// Flags of the `loss_network` config object.
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct LossNetworkFlags {
    /// Which VGG the weights are [config: loss_network.arch]
    #[arg(long = "vgg-arch", value_name = "ARCH", value_parser = Choice::<VggArch>::new())]
    pub arch: Option<VggArch>,
    /// Input convention of the VGG weights [config: loss_network.preprocessing]
    #[arg(long, value_name = "CONV", value_parser = Choice::<Preprocessing>::new())]
    pub preprocessing: Option<Preprocessing>,
    /// Padding of the VGG convolutions: zeros (as trained) or reflect (no border band)
    /// [config: loss_network.padding]
    #[arg(long = "vgg-padding", value_name = "PAD", value_parser = Choice::<VggPadding>::new())]
    pub padding: Option<VggPadding>,
}

/// Flags of the `model` config object.
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct ModelFlags {
    /// Residual blocks of the TransformerNet [config: model.residual_blocks]
    #[arg(long, value_name = "N")]
    pub residual_blocks: Option<usize>,
}

/// A parsed `layer[:weight],…` list; serialises as the config's list of layers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct LayerList(pub Vec<LayerWeight>);

fn parse_layers(s: &str) -> Result<LayerList, String> {
    parse_layer_list(s).map(LayerList)
}

impl TrainArgs {
    /// The config file (if any) with every given flag applied, validated.
    ///
    /// # Errors
    /// [`ConfigError`] naming the config file, as [`TrainConfig::from_file`] and
    /// [`TrainConfig::validate`].
    pub fn resolve(&self) -> Result<TrainConfig, ConfigError> {
        let base = match &self.config {
            Some(path) => TrainConfig::from_file(path)?,
            None => TrainConfig::default(),
        };
        self.resolve_over(base, self.config.as_deref())
    }

    /// `base` with every given flag applied, validated; `source` names the file `base` came
    /// from in errors.
    ///
    /// # Errors
    /// [`ConfigError`] as [`TrainConfig::validate`].
    pub fn resolve_over(&self, base: TrainConfig, source: Option<&Path>) -> Result<TrainConfig, ConfigError> {
        let flags = serde_json::to_value(&self.flags)
            .map_err(|e| ConfigError { source_file: None, message: format!("command-line flags: {e}") })?;
        let cfg = base.with_overrides(flags, source)?;
        cfg.validate(source)?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("s.jpg");
        std::fs::write(&img, b"x").unwrap();
        let cfg = dir.path().join("c.json");
        let json = serde_json::json!({
            "dataset": dir.path(), "style_image": img, "vgg_weights": img,
            "steps": 100, "style_weight": 5.0, "batch_size": 2
        });
        std::fs::write(&cfg, json.to_string()).unwrap();
        let args = Cli::try_parse_from([
            "trainer",
            "--config",
            cfg.to_str().unwrap(),
            "--steps",
            "7",
            "--style-layers",
            "relu1_2,relu2_2:0.5",
            "--device",
            "cpu",
            "--vgg-arch",
            "vgg19",
            "--residual-blocks",
            "3",
        ])
        .unwrap()
        .train;
        let c = args.resolve().unwrap();
        assert_eq!(c.run.steps, 7); // flag wins
        assert_eq!(c.recipe.style_weight, 5.0); // file kept
        assert_eq!(c.recipe.batch_size, 2);
        assert_eq!(c.recipe.image_size, 256); // default
        assert_eq!(c.run.device, DeviceChoice::Cpu);
        assert_eq!(c.recipe.style_layers[1], LayerWeight { layer: "relu2_2".into(), weight: 0.5 });
        // Nested fields: the flag sets one, the other keeps the file's (here the default).
        assert_eq!(c.recipe.loss_network.arch, VggArch::Vgg19);
        assert_eq!(c.recipe.loss_network.preprocessing, Preprocessing::Torchvision);
        assert_eq!(c.recipe.model.residual_blocks, 3);
    }

    /// Every flag names a config field: setting all of them at once is accepted by the
    /// config (an unknown field would be refused), so none can drift from its field; and
    /// every top-level field has a flag but those set only in the file.
    #[test]
    fn every_flag_names_a_config_field() {
        let flags = ConfigFlags {
            dataset: Some("d".into()),
            style_image: Some("s".into()),
            objective: ObjectiveFlags {
                vgg_weights: Some("v".into()),
                loss_network: LossNetworkFlags {
                    arch: Some(VggArch::Vgg19),
                    preprocessing: Some(Preprocessing::Caffe),
                    padding: Some(VggPadding::Reflect),
                },
                content_weight: Some(1.0),
                style_weight: Some(1.0),
                tv_weight: Some(1.0),
                style_loss_scales: Some(vec![0.5]),
                content_layers: Some(LayerList(vec![LayerWeight::new("relu1_2")])),
                style_layers: Some(LayerList(vec![LayerWeight::new("relu1_2")])),
                device: Some(DeviceChoice::Cpu),
                loss_network_precision: Some(Precision::Bf16),
            },
            out_dir: Some("o".into()),
            steps: Some(1),
            batch_size: Some(1),
            image_size: Some(1),
            style_size: Some(1),
            lr: Some(1.0),
            seed: Some(1),
            checkpoint_every: Some(1),
            log_every: Some(1),
            prefetch_batches: Some(1),
            model: ModelFlags { residual_blocks: Some(1) },
            lr_decay_every: Some(1),
            lr_decay_factor: Some(1.0),
            keep_checkpoints: Some(1),
            val_fraction: Some(0.5),
            preview_images: Some(1),
        };
        let c = TrainConfig::default().with_overrides(serde_json::to_value(&flags).unwrap(), None).unwrap();
        let (set, default) = (serde_json::to_value(&c).unwrap(), serde_json::to_value(TrainConfig::default()).unwrap());
        const FILE_ONLY: [&str; 1] = ["val_min_images"];
        let unchanged: Vec<&String> =
            default.as_object().unwrap().keys().filter(|k| set[k.as_str()] == default[k.as_str()]).collect();
        assert_eq!(unchanged, FILE_ONLY, "config fields no flag sets");
    }

    #[test]
    fn bad_flag_values_are_rejected_by_clap() {
        assert!(Cli::try_parse_from(["trainer", "--device", "tpu"]).is_err());
        assert!(Cli::try_parse_from(["trainer", "--vgg-arch", "resnet"]).is_err());
        assert!(Cli::try_parse_from(["trainer", "--style-layers", "relu1_2:abc"]).is_err());
        assert!(Cli::try_parse_from(["trainer", "--force"]).is_err(), "--force needs --resume");
        assert!(Cli::try_parse_from(["trainer", "--precision", "fp8"]).is_err());
    }
}
