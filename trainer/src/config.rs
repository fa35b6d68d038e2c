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
    /// Multiply the learning rate by `lr_decay_factor` every this many steps; 0 keeps it
    /// constant. Default 0 (JJ and PE use a constant rate).
    pub lr_decay_every: u64,
    /// Factor applied every `lr_decay_every` steps, in (0, 1]. Default 0.5.
    pub lr_decay_factor: f64,
    /// Periodic checkpoints kept in the run folder (older ones are deleted; `final` is
    /// always kept). Default 3.
    pub keep_checkpoints: usize,
    /// Fraction of the dataset held out for validation (at least `val_min_images`, at most a
    /// quarter of it), chosen by seed. Default 0.01.
    pub val_fraction: f64,
    /// Least number of validation images. Default 8.
    pub val_min_images: usize,
    /// Validation images stylized into `previews/` at every checkpoint. Default 4.
    pub preview_images: usize,
    /// Precision of the frozen loss network: `auto` (bf16 on CUDA, fp32 on the CPU), `fp32`,
    /// `bf16`, or `fp16` (with dynamic loss scaling). The TransformerNet weights, Gram
    /// matrices and losses are always fp32. Default `auto`.
    pub loss_network_precision: Precision,
    /// Testing aid: make the loss NaN at this step, to exercise the non-finite guard.
    /// Default `null` (never).
    pub inject_nan_at_step: Option<u64>,
}

/// Numeric precision of the loss network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bf16 on CUDA, fp32 on the CPU (where bf16 convolutions are slow without AVX-512).
    #[default]
    Auto,
    /// IEEE single precision.
    Fp32,
    /// bfloat16: fp32's range, 8 mantissa bits; needs no loss scaling.
    Bf16,
    /// IEEE half precision, with dynamic loss scaling against gradient underflow.
    Fp16,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Precision::Auto),
            "fp32" | "f32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            "fp16" | "f16" => Ok(Precision::Fp16),
            _ => Err(format!("unknown precision {s:?}: use auto, fp32, bf16 or fp16")),
        }
    }
}

impl Precision {
    /// The concrete choice on `device` (`auto` resolved).
    pub fn resolve(self, device: tch::Device) -> Precision {
        match (self, device) {
            (Precision::Auto, tch::Device::Cuda(_)) => Precision::Bf16,
            (Precision::Auto, _) => Precision::Fp32,
            (p, _) => p,
        }
    }

    /// The libtorch dtype.
    pub fn kind(self) -> tch::Kind {
        match self {
            Precision::Bf16 => tch::Kind::BFloat16,
            Precision::Fp16 => tch::Kind::Half,
            _ => tch::Kind::Float,
        }
    }
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
            lr_decay_every: 0,
            lr_decay_factor: 0.5,
            keep_checkpoints: 3,
            val_fraction: 0.01,
            val_min_images: 8,
            preview_images: 4,
            loss_network_precision: Precision::Auto,
            inject_nan_at_step: None,
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

    /// The learning rate in effect at `step` (1-based): `lr · factor^⌊(step−1)/every⌋`.
    pub fn lr_at(&self, step: u64) -> f64 {
        if self.lr_decay_every == 0 {
            return self.lr;
        }
        self.lr * self.lr_decay_factor.powi(((step.saturating_sub(1)) / self.lr_decay_every) as i32)
    }

    /// Fields that may change when a run is resumed without changing what is learnt: how long
    /// and where it runs, how often it logs and saves, and what it previews.
    pub const RESUMABLE_CHANGES: &'static [&'static str] = &[
        "steps",
        "checkpoint_every",
        "log_every",
        "device",
        "prefetch_batches",
        "keep_checkpoints",
        "preview_images",
        "out_dir",
        "loss_network_precision",
        "inject_nan_at_step",
    ];

    /// The top-level fields whose values differ from `other`'s, except
    /// [`TrainConfig::RESUMABLE_CHANGES`]: what resuming with this config would change.
    pub fn changes_from(&self, other: &TrainConfig) -> Vec<String> {
        let (a, b) = (serde_json::to_value(self).unwrap_or_default(), serde_json::to_value(other).unwrap_or_default());
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return vec!["config".into()] };
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter(|k| !Self::RESUMABLE_CHANGES.contains(&k.as_str()) && a.get(*k) != b.get(*k))
            .map(|k| {
                format!("{k}: {} → {}", b.get(k).cloned().unwrap_or_default(), a.get(k).cloned().unwrap_or_default())
            })
            .collect()
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
            Ok(_) if crate::cache::is_cache(&dataset) => {}
            Ok(_) => {
                return Err(err(format!(
                    "dataset {} is a file; it must be a folder of images or a cache made by `trainer prepare`",
                    dataset.display()
                )))
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
        if !(self.lr_decay_factor > 0.0 && self.lr_decay_factor <= 1.0) {
            return Err(err(format!("lr_decay_factor must be in (0, 1], got {}", self.lr_decay_factor)));
        }
        if !(0.0..=0.5).contains(&self.val_fraction) {
            return Err(err(format!("val_fraction must be in [0, 0.5], got {}", self.val_fraction)));
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
    fn lr_schedule() {
        let c = TrainConfig { lr: 1e-3, lr_decay_every: 100, lr_decay_factor: 0.5, ..Default::default() };
        assert_eq!(c.lr_at(1), 1e-3);
        assert_eq!(c.lr_at(100), 1e-3);
        assert_eq!(c.lr_at(101), 5e-4);
        assert_eq!(c.lr_at(250), 2.5e-4);
        assert_eq!(TrainConfig::default().lr_at(10_000), 1e-3);
    }

    #[test]
    fn resume_changes() {
        let a = TrainConfig::default();
        let b = TrainConfig { steps: 99, log_every: 3, ..a.clone() };
        assert!(b.changes_from(&a).is_empty(), "steps and log_every may change");
        let c = TrainConfig { style_weight: 1.0, batch_size: 2, ..a.clone() };
        let diff = c.changes_from(&a);
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert!(diff[0].starts_with("batch_size: 4 → 2"), "{diff:?}");
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
