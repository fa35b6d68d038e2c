//! The training configuration: one JSON file per style in `configs/`, overridable flag by
//! flag on the command line. The resolved config (defaults filled in, overrides applied) is
//! written to the run folder and into every checkpoint.
//!
//! Defaults are those of the PyTorch reference example (PE) unless noted; DESIGN.md
//! tabulates them against JJ and LE. Relative paths are resolved against the working
//! directory, as for any command-line tool.

use faststyle::vgg::{RELU1_2, RELU2_2, RELU3_3, RELU4_3};
use faststyle::{DeviceChoice, LayerWeight, LossNetworkConfig, LossWeights, Preprocessing, TransformerConfig, VggArch};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything that defines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Folder of training photos, walked recursively (no class sub-folders needed).
    /// Required. Default: none.
    pub dataset: Option<PathBuf>,
    /// The style image. Required. Default: none.
    pub style_image: Option<PathBuf>,
    /// VGG weights as safetensors keyed like torchvision (`features.N.weight`); the file may
    /// stop after the deepest layer used. Required. Default: none.
    pub vgg_weights: Option<PathBuf>,
    /// Run folder for checkpoints, metrics and the resolved config.
    /// Default: `runs/<style image stem>`.
    pub out_dir: Option<PathBuf>,
    /// Which VGG the weights are and their input convention. Default: VGG16, torchvision (PE).
    pub loss_network: LossNetworkConfig,
    /// Content (feature reconstruction) layers and their weights. Default: `relu2_2` (PE and
    /// Johnson et al. §4.1).
    pub content_layers: Vec<LayerWeight>,
    /// Style (Gram) layers and their weights. Default: `relu1_2`, `relu2_2`, `relu3_3`,
    /// `relu4_3`, each 1 (PE, JJ).
    pub style_layers: Vec<LayerWeight>,
    /// Weight of the content loss (dimensionless). Default 1e5 (PE, for torchvision
    /// preprocessing).
    pub content_weight: f64,
    /// Weight of the style loss (dimensionless). Default 1e10 (PE, for torchvision
    /// preprocessing).
    pub style_weight: f64,
    /// Weight of the total-variation loss, per squared 0–255 pixel difference. Default 0
    /// (PE has none).
    pub tv_weight: f64,
    /// Optimisation steps (batches). Default 40000 (JJ).
    pub steps: u64,
    /// Images per batch. Default 4 (JJ, PE).
    pub batch_size: usize,
    /// Side of the square training crops, in pixels (shorter side resized to it, then
    /// centre-cropped). Default 256 (JJ, PE).
    pub image_size: u32,
    /// Shorter side of the style image in pixels; `null` keeps its original size.
    /// Default `null` (PE; JJ uses 256).
    pub style_size: Option<u32>,
    /// Adam learning rate. Default 1e-3 (JJ, PE).
    pub lr: f64,
    /// Seed of the data order and of the network initialisation. Default 42 (PE).
    pub seed: u64,
    /// Write a checkpoint every this many steps; 0 writes only the final one.
    /// Default 1000 (JJ).
    pub checkpoint_every: u64,
    /// Write a metrics line (and a plain progress line when not on a terminal) every this
    /// many steps. Default 10.
    pub log_every: u64,
    /// `auto`, `cpu`, `cuda` or `cuda:N`. Default `auto`.
    pub device: DeviceChoice,
    /// Batches decoded ahead of the training step by the background loader. Default 2.
    pub prefetch_batches: usize,
    /// The TransformerNet architecture. Default: PE's (32-64-128, 5 residual blocks).
    pub model: TransformerConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            dataset: None,
            style_image: None,
            vgg_weights: None,
            out_dir: None,
            loss_network: LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: Preprocessing::Torchvision },
            content_layers: vec![LayerWeight::new(RELU2_2)],
            style_layers: [RELU1_2, RELU2_2, RELU3_3, RELU4_3].iter().map(|l| LayerWeight::new(l)).collect(),
            content_weight: 1e5,
            style_weight: 1e10,
            tv_weight: 0.0,
            steps: 40_000,
            batch_size: 4,
            image_size: 256,
            style_size: None,
            lr: 1e-3,
            seed: 42,
            checkpoint_every: 1000,
            log_every: 10,
            device: DeviceChoice::Auto,
            prefetch_batches: 2,
            model: TransformerConfig::default(),
        }
    }
}

/// A config error, with the config file named when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", source_file.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
pub struct ConfigError {
    /// The config file the bad value came from, if any.
    pub source_file: Option<PathBuf>,
    /// What is wrong.
    pub message: String,
}

impl TrainConfig {
    /// Reads a JSON config. Missing fields take their defaults; unknown fields are refused.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, for an unreadable file, invalid JSON, an unknown field
    /// (named by serde) or a value of the wrong type, with line and column.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let err = |message: String| ConfigError { source_file: Some(path.to_path_buf()), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    }

    /// The run folder: `out_dir`, or `runs/<style image stem>`.
    pub fn run_dir(&self) -> PathBuf {
        self.out_dir.clone().unwrap_or_else(|| {
            let stem = self
                .style_image
                .as_ref()
                .and_then(|p| p.file_stem())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "style".into());
            Path::new("runs").join(stem)
        })
    }

    /// The three global loss weights.
    pub fn loss_weights(&self) -> LossWeights {
        LossWeights { content: self.content_weight, style: self.style_weight, tv: self.tv_weight }
    }

    /// Checks every value before any work starts. `source_file` is named in the error.
    ///
    /// # Errors
    /// [`ConfigError`] for the first problem found: a required path missing, a dataset that
    /// is not a folder, a style image or VGG file that does not exist, a zero batch size,
    /// image size, step count or prefetch depth, a learning rate or weight that is negative
    /// or not finite, an unknown layer (listing the valid ones), an image size too small for
    /// the deepest layer, or a bad model config.
    pub fn validate(&self, source_file: Option<&Path>) -> Result<(), ConfigError> {
        let err = |message: String| ConfigError { source_file: source_file.map(Path::to_path_buf), message };
        let required = |v: &Option<PathBuf>, field: &str, flag: &str| {
            v.clone().ok_or_else(|| err(format!("no {field}: set \"{field}\" in the config or pass {flag}")))
        };
        let dataset = required(&self.dataset, "dataset", "--dataset")?;
        let style = required(&self.style_image, "style_image", "--style")?;
        let vgg = required(&self.vgg_weights, "vgg_weights", "--vgg")?;
        match std::fs::metadata(&dataset) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(err(format!("dataset {} is a file; it must be a folder of images", dataset.display())))
            }
            Err(e) => return Err(err(format!("dataset {}: {e}", dataset.display()))),
        }
        for (what, p) in [("style_image", &style), ("vgg_weights", &vgg)] {
            if !p.is_file() {
                return Err(err(format!("{what} {} does not exist or is not a file", p.display())));
            }
        }
        for (what, v) in [
            ("steps", self.steps),
            ("batch_size", self.batch_size as u64),
            ("image_size", self.image_size as u64),
            ("prefetch_batches", self.prefetch_batches as u64),
            ("log_every", self.log_every),
        ] {
            if v == 0 {
                return Err(err(format!("{what} must be at least 1, got 0")));
            }
        }
        if self.style_size == Some(0) {
            return Err(err("style_size must be at least 1 (or null for the original size)".into()));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(err(format!("lr must be a positive number, got {}", self.lr)));
        }
        for (what, w) in [
            ("content_weight", self.content_weight),
            ("style_weight", self.style_weight),
            ("tv_weight", self.tv_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(err(format!("{what} must be finite and ≥ 0, got {w}")));
            }
        }
        if self.content_layers.is_empty() || self.style_layers.is_empty() {
            return Err(err("content_layers and style_layers each need at least one layer".into()));
        }
        let arch = self.loss_network.arch;
        let mut deepest_pools = 0;
        for l in self.content_layers.iter().chain(&self.style_layers) {
            let index = arch.layer_index(&l.layer).map_err(|e| err(e.to_string()))?;
            if !(l.weight.is_finite() && l.weight >= 0.0) {
                return Err(err(format!("layer {} has weight {}; use a finite value ≥ 0", l.layer, l.weight)));
            }
            let pools = arch.layers().iter().take(index).filter(|x| x.name.starts_with("pool")).count();
            deepest_pools = deepest_pools.max(pools);
        }
        let min_size = (1u32 << deepest_pools).max(faststyle::transformer::MIN_PADDED_SIDE as u32);
        if self.image_size < min_size {
            return Err(err(format!(
                "image_size {} is too small: the deepest layer follows {deepest_pools} pooling layers, so at least {min_size} px are needed",
                self.image_size
            )));
        }
        self.model.validate().map_err(|e| err(e.to_string()))?;
        Ok(())
    }
}

/// Parses `relu1_2,relu2_2:0.5` (a comma-separated list of `layer[:weight]`, weight 1 by
/// default) as used by `--content-layers` and `--style-layers`.
///
/// # Errors
/// A message naming the item whose weight is not a number.
pub fn parse_layer_list(s: &str) -> Result<Vec<LayerWeight>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once(':') {
            None => Ok(LayerWeight::new(item)),
            Some((layer, w)) => w
                .trim()
                .parse::<f64>()
                .map(|weight| LayerWeight { layer: layer.trim().to_string(), weight })
                .map_err(|_| format!("{item:?}: the weight after ':' must be a number")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        std::fs::write(&p, r#"{"steps": 10, "stlye_weight": 5}"#).unwrap();
        let e = TrainConfig::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("c.json") && e.contains("stlye_weight"), "{e}");
    }

    #[test]
    fn defaults_fill_missing_fields() {
        let c: TrainConfig = serde_json::from_str(r#"{"steps": 7}"#).unwrap();
        assert_eq!(c.steps, 7);
        assert_eq!(c.batch_size, 4);
        assert_eq!(c.style_layers.len(), 4);
        // Round trip: the resolved config serialises and parses to itself.
        let back: TrainConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn layer_lists() {
        let l = parse_layer_list("relu1_2, relu2_2:0.5").unwrap();
        assert_eq!(l, [LayerWeight::new("relu1_2"), LayerWeight { layer: "relu2_2".into(), weight: 0.5 }]);
        assert!(parse_layer_list("relu1_2:x").is_err());
    }

    #[test]
    fn validation_messages() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("style.jpg");
        std::fs::write(&file, b"x").unwrap();
        let base = TrainConfig {
            dataset: Some(dir.path().to_path_buf()),
            style_image: Some(file.clone()),
            vgg_weights: Some(file.clone()),
            ..Default::default()
        };
        assert!(base.validate(None).is_ok());
        let check = |c: TrainConfig, needle: &str| {
            let e = c.validate(Some(Path::new("cfg.json"))).unwrap_err().to_string();
            assert!(e.starts_with("cfg.json: ") && e.contains(needle), "{e} lacks {needle}");
        };
        check(TrainConfig { batch_size: 0, ..base.clone() }, "batch_size must be at least 1");
        check(TrainConfig { image_size: 0, ..base.clone() }, "image_size must be at least 1");
        check(TrainConfig { style_weight: -1.0, ..base.clone() }, "style_weight must be finite");
        check(TrainConfig { dataset: Some(file.clone()), ..base.clone() }, "is a file");
        check(TrainConfig { dataset: None, ..base.clone() }, "--dataset");
        check(
            TrainConfig { style_layers: vec![LayerWeight::new("relu9_9")], ..base.clone() },
            "valid layers: conv1_1, relu1_1",
        );
        check(TrainConfig { image_size: 4, ..base.clone() }, "too small");
    }
}
