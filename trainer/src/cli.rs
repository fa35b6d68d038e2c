//! Command-line arguments of `trainer`: a config file and a flag for every config field,
//! `--resume`, and the `prepare` and `plot` subcommands.

use crate::config::{parse_layer_list, ConfigError, Precision, TrainConfig};
use clap::{Parser, Subcommand};
use faststyle::{DeviceChoice, LayerWeight, Preprocessing, VggArch};
use std::path::PathBuf;

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
    /// Draw a run's loss curves (content, style, TV, validation) as a PNG
    Plot {
        /// The run folder (holding metrics.jsonl)
        run_dir: PathBuf,
        /// Output PNG; default RUN_DIR/loss.png
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
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
    /// Folder of training photos, searched recursively [config: dataset]
    #[arg(long, value_name = "DIR")]
    pub dataset: Option<PathBuf>,
    /// Style image [config: style_image]
    #[arg(long, value_name = "IMG")]
    pub style: Option<PathBuf>,
    /// VGG weights: safetensors with torchvision names (features.N.weight) [config: vgg_weights]
    #[arg(long, value_name = "FILE")]
    pub vgg: Option<PathBuf>,
    /// vgg16 or vgg19 [config: loss_network.arch]
    #[arg(long, value_name = "ARCH")]
    pub vgg_arch: Option<VggArch>,
    /// Input convention of the VGG weights: torchvision or caffe [config: loss_network.preprocessing]
    #[arg(long, value_name = "CONV")]
    pub preprocessing: Option<Preprocessing>,
    /// Run folder for checkpoints and metrics [config: out_dir; default runs/<style name>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
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
    /// Content loss weight [config: content_weight]
    #[arg(long)]
    pub content_weight: Option<f64>,
    /// Style loss weight [config: style_weight]
    #[arg(long)]
    pub style_weight: Option<f64>,
    /// Total-variation loss weight [config: tv_weight]
    #[arg(long)]
    pub tv_weight: Option<f64>,
    /// Content layers as layer[:weight],… e.g. relu2_2 [config: content_layers]
    #[arg(long, value_name = "LAYERS", value_parser = parse_layers)]
    pub content_layers: Option<LayerList>,
    /// Style layers as layer[:weight],… e.g. relu1_2,relu2_2,relu3_3,relu4_3 [config: style_layers]
    #[arg(long, value_name = "LAYERS", value_parser = parse_layers)]
    pub style_layers: Option<LayerList>,
    /// auto, cpu, cuda or cuda:N [config: device]
    #[arg(long)]
    pub device: Option<DeviceChoice>,
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
    /// Residual blocks of the TransformerNet [config: model.residual_blocks]
    #[arg(long, value_name = "N")]
    pub residual_blocks: Option<usize>,
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
    /// Loss-network precision: auto, fp32, bf16 or fp16 [config: loss_network_precision]
    #[arg(long, value_name = "P")]
    pub precision: Option<Precision>,
    /// Testing aid: make the loss NaN at this step [config: inject_nan_at_step]
    #[arg(long, value_name = "STEP", hide = true)]
    pub inject_nan_at_step: Option<u64>,
}

/// A parsed `layer[:weight],…` list.
#[derive(Debug, Clone, PartialEq)]
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
    pub fn resolve_over(
        &self,
        base: TrainConfig,
        source: Option<&std::path::Path>,
    ) -> Result<TrainConfig, ConfigError> {
        let mut c = base;
        fn set<T: Clone>(field: &mut T, flag: &Option<T>) {
            if let Some(v) = flag {
                *field = v.clone();
            }
        }
        fn set_some<T: Clone>(field: &mut Option<T>, flag: &Option<T>) {
            if flag.is_some() {
                field.clone_from(flag);
            }
        }
        set_some(&mut c.dataset, &self.dataset);
        set_some(&mut c.style_image, &self.style);
        set_some(&mut c.vgg_weights, &self.vgg);
        set_some(&mut c.out_dir, &self.out);
        set(&mut c.loss_network.arch, &self.vgg_arch);
        set(&mut c.loss_network.preprocessing, &self.preprocessing);
        set(&mut c.steps, &self.steps);
        set(&mut c.batch_size, &self.batch_size);
        set(&mut c.image_size, &self.image_size);
        set_some(&mut c.style_size, &self.style_size);
        set(&mut c.lr, &self.lr);
        set(&mut c.content_weight, &self.content_weight);
        set(&mut c.style_weight, &self.style_weight);
        set(&mut c.tv_weight, &self.tv_weight);
        if let Some(LayerList(l)) = &self.content_layers {
            c.content_layers = l.clone();
        }
        if let Some(LayerList(l)) = &self.style_layers {
            c.style_layers = l.clone();
        }
        set(&mut c.device, &self.device);
        set(&mut c.seed, &self.seed);
        set(&mut c.checkpoint_every, &self.checkpoint_every);
        set(&mut c.log_every, &self.log_every);
        set(&mut c.prefetch_batches, &self.prefetch_batches);
        set(&mut c.model.residual_blocks, &self.residual_blocks);
        set(&mut c.lr_decay_every, &self.lr_decay_every);
        set(&mut c.lr_decay_factor, &self.lr_decay_factor);
        set(&mut c.keep_checkpoints, &self.keep_checkpoints);
        set(&mut c.val_fraction, &self.val_fraction);
        set(&mut c.preview_images, &self.preview_images);
        set(&mut c.loss_network_precision, &self.precision);
        set_some(&mut c.inject_nan_at_step, &self.inject_nan_at_step);
        c.validate(source)?;
        Ok(c)
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
        ])
        .unwrap()
        .train;
        let c = args.resolve().unwrap();
        assert_eq!(c.steps, 7); // flag wins
        assert_eq!(c.style_weight, 5.0); // file kept
        assert_eq!(c.batch_size, 2);
        assert_eq!(c.image_size, 256); // default
        assert_eq!(c.device, DeviceChoice::Cpu);
        assert_eq!(c.style_layers[1], LayerWeight { layer: "relu2_2".into(), weight: 0.5 });
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
