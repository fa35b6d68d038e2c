//! Command-line arguments of `trainer`: a config file and a flag for every config field.

use crate::config::{parse_layer_list, ConfigError, TrainConfig};
use clap::Parser;
use faststyle::{DeviceChoice, LayerWeight, Preprocessing, VggArch};
use std::path::PathBuf;

/// Train a fast style-transfer network (Johnson et al. 2016) for one style image.
///
/// Settings come from --config (a JSON file; see configs/), then from the flags, which
/// override the file field by field. Unset fields take the documented defaults (those of the
/// PyTorch reference example).
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "trainer", version)]
pub struct TrainArgs {
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
        let mut c = match &self.config {
            Some(path) => TrainConfig::from_file(path)?,
            None => TrainConfig::default(),
        };
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
        c.validate(self.config.as_deref())?;
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
        let args = TrainArgs::try_parse_from([
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
        .unwrap();
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
        assert!(TrainArgs::try_parse_from(["trainer", "--device", "tpu"]).is_err());
        assert!(TrainArgs::try_parse_from(["trainer", "--vgg-arch", "resnet"]).is_err());
        assert!(TrainArgs::try_parse_from(["trainer", "--style-layers", "relu1_2:abc"]).is_err());
    }
}
