//! The training configuration: one JSON file per style in `configs/`, overridable flag by
//! flag on the command line. The resolved config (defaults filled in, overrides applied) is
//! written to the run folder and into every checkpoint.
//!
//! The config has two parts: the [`Recipe`] (what is learnt) and the [`RunSettings`] (how the
//! run goes); `trainer --resume` refuses a change to the first without `--force`.
//!
//! Defaults are those of the PyTorch reference example (PE, pytorch/examples
//! `fast_neural_style`) unless noted; JJ is jcjohnson/fast-neural-style (Lua, the paper's
//! code). Relative paths are resolved against the working directory, as for any
//! command-line tool.

use crate::distill::Distill;
use crate::video::VideoLosses;
use faststyle::vgg::{RELU1_2, RELU2_2, RELU3_3, RELU4_3};
use faststyle::{
    DeviceChoice, LayerWeight, LossNetworkConfig, LossWeights, Precision, Preprocessing, TransformerConfig, VggArch,
};
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;
use std::path::{Path, PathBuf};

/// Everything that defines a training run: what is learnt ([`Recipe`]) and how the run goes
/// ([`RunSettings`]). Each field is declared once, with its default (`#[default(…)]`, the
/// value a missing field takes) and its documentation. In the JSON file the fields of both parts sit side by side at the top
/// level (`{"style_image": …, "steps": …}`); a field neither part has is refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// What is learnt: a resumed run must keep it (`trainer --resume` compares it).
    #[serde(flatten)]
    pub recipe: Recipe,
    /// How the run goes: may change when a run is resumed.
    #[serde(flatten)]
    pub run: RunSettings,
}

/// What is learnt: data, style, loss network, layers, weights and the network. Two runs
/// with the same recipe (and data) learn the same weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SmartDefault)]
#[serde(default)]
pub struct Recipe {
    /// Folder of training photos, walked recursively (no class sub-folders needed), or a
    /// cache made by `trainer prepare`. Required. Default: none.
    pub dataset: Option<PathBuf>,
    /// The style image of a single-style network. Required unless `style_images` is set.
    /// Default: none.
    pub style_image: Option<PathBuf>,
    /// The style images of one multi-style network (conditional instance norm, Dumoulin et
    /// al. 2017): style `s` of the network is image `s`, named after its file stem (stems
    /// must differ). Instead of `style_image`; `model.num_styles` becomes their count. Each
    /// batch image is stylized as its own style, the styles taking turns (image `i` of step
    /// `t` gets style `((t−1)·batch_size + i) mod S`), so every style sees the same number of
    /// images. Default: none (`[]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub style_images: Vec<PathBuf>,
    /// Start a new run from this checkpoint's weights instead of random ones. Its
    /// architecture must match `model` except for the number of styles: a style it lacks
    /// starts from the mean of its styles' instance-norm scales and shifts. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// Train only the instance-norm scales and shifts of this style (0-based), every other
    /// weight frozen, with every batch image stylized as this style: a new style added to a
    /// trained multi-style network in a fraction of the steps (Dumoulin et al. 2017 §4; what
    /// `trainer finetune --add-style` sets up). Needs `init_from`. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finetune_style: Option<usize>,
    /// VGG weights as safetensors keyed like torchvision (`features.N.weight`); the file may
    /// stop after the deepest layer used. Required. Default: none.
    pub vgg_weights: Option<PathBuf>,
    /// Which VGG the weights are and their input convention. Default: VGG16, torchvision (PE).
    #[default(LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: Preprocessing::Torchvision, ..Default::default() })]
    pub loss_network: LossNetworkConfig,
    /// Content (feature reconstruction) layers and their weights. Default: `relu2_2` (PE and
    /// Johnson et al. §4.1).
    #[default(_code = "vec![LayerWeight::new(RELU2_2)]")]
    pub content_layers: Vec<LayerWeight>,
    /// Style (Gram) layers and their weights. Default: `relu1_2`, `relu2_2`, `relu3_3`,
    /// `relu4_3`, each 1 (PE, JJ).
    #[default(_code = "[RELU1_2, RELU2_2, RELU3_3, RELU4_3].iter().map(|l| LayerWeight::new(l)).collect()")]
    pub style_layers: Vec<LayerWeight>,
    /// Weight of the content loss (dimensionless). Default 1e5 (PE, for torchvision
    /// preprocessing).
    #[default(1e5)]
    pub content_weight: f64,
    /// Weight of the style loss (dimensionless). Default 1e10 (PE, for torchvision
    /// preprocessing).
    #[default(1e10)]
    pub style_weight: f64,
    /// Weight of the total-variation loss, per squared 0–255 pixel difference. Default 0
    /// (PE has none).
    #[default(0.0)]
    pub tv_weight: f64,
    /// Style scales: the style loss is the mean over these of the Gram loss with the
    /// stylised images and the style image downscaled to that fraction of their size, each
    /// in (0, 1] (see `PerceptualLoss::blended`). `[1.0, 0.5]` lets every style layer see
    /// structures twice as large as well: bigger strokes from a shallow VGG. Default `[1.0]`
    /// (Johnson et al.: one scale).
    #[default(_code = "vec![1.0]")]
    pub style_loss_scales: Vec<f64>,
    /// Images per batch. Default 4 (JJ, PE).
    #[default(4)]
    pub batch_size: usize,
    /// Side of the square training crops, in pixels (shorter side resized to it, then
    /// centre-cropped). Default 256 (JJ, PE).
    #[default(256)]
    pub image_size: u32,
    /// Shorter side of the style image in pixels; `null` keeps its original size.
    /// Default `null` (PE; JJ uses 256).
    pub style_size: Option<u32>,
    /// Adam learning rate. Default 1e-3 (JJ, PE).
    #[default(1e-3)]
    pub lr: f64,
    /// Multiply the learning rate by `lr_decay_factor` every this many steps; 0 keeps it
    /// constant. Default 0 (JJ and PE use a constant rate).
    #[default(0)]
    pub lr_decay_every: u64,
    /// Factor applied every `lr_decay_every` steps, in (0, 1]. Default 0.5.
    #[default(0.5)]
    pub lr_decay_factor: f64,
    /// Seed of the data order, the validation split and the network initialisation.
    /// Default 42 (PE).
    #[default(42)]
    pub seed: u64,
    /// The TransformerNet architecture. Default: PE's (32-64-128, 5 residual blocks).
    pub model: TransformerConfig,
    /// Flow-free video losses against flicker (stability and synthetic-motion temporal
    /// losses, see [`VideoLosses`]); absent: off. Default: absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_losses: Option<VideoLosses>,
    /// Distillation from a trained teacher (an output-matching loss added to the perceptual
    /// loss, see [`Distill`]; what `trainer distill --teacher M` sets). Default: absent (off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distill: Option<Distill>,
    /// Fraction of the dataset held out for validation (at least `val_min_images`, at most a
    /// quarter of it), chosen by seed. Default 0.01.
    #[default(0.01)]
    pub val_fraction: f64,
    /// Least number of validation images. Default 8.
    #[default(8)]
    pub val_min_images: usize,
}

/// How the run goes: its length, where it runs and writes, and how often it logs, saves and
/// previews. None of it changes the weights a step computes (the precision changes them only
/// by rounding), so a resumed run may change any of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SmartDefault)]
#[serde(default)]
pub struct RunSettings {
    /// Optimisation steps (batches) in all. Default 40000 (JJ).
    #[default(40_000)]
    pub steps: u64,
    /// Run folder for checkpoints, metrics and the resolved config.
    /// Default: `runs/<style image stem>`.
    pub out_dir: Option<PathBuf>,
    /// `auto`, `cpu`, `cuda` or `cuda:N`. Default `auto`.
    pub device: DeviceChoice,
    /// Precision of the frozen loss network: `auto` (bf16 on CUDA, fp32 on the CPU), `fp32`,
    /// `bf16`, or `fp16` (with dynamic loss scaling). The TransformerNet weights, Gram
    /// matrices and losses are always fp32. Default `auto`.
    pub loss_network_precision: Precision,
    /// Write a checkpoint every this many steps; 0 writes only the final one.
    /// Default 1000 (JJ).
    #[default(1000)]
    pub checkpoint_every: u64,
    /// Periodic checkpoints kept in the run folder (older ones are deleted; `final` is
    /// always kept). Default 3.
    #[default(3)]
    pub keep_checkpoints: usize,
    /// Write a metrics line (and a plain progress line when not on a terminal) every this
    /// many steps. Default 10.
    #[default(10)]
    pub log_every: u64,
    /// Batches decoded ahead of the training step by the background loader. Default 2.
    #[default(2)]
    pub prefetch_batches: usize,
    /// Validation images stylized into `previews/` at every checkpoint. Default 4.
    #[default(4)]
    pub preview_images: usize,
    /// Accepted and ignored, never written: configs saved by earlier builds carry this
    /// testing aid (`null`), and their runs must still resume.
    #[serde(default, skip_serializing, rename = "inject_nan_at_step")]
    legacy_inject_nan_at_step: Option<serde::de::IgnoredAny>,
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
    /// (named by serde) or a value of the wrong type.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let err = |message: String| ConfigError { source_file: Some(path.to_path_buf()), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    }

    /// This config with `overrides` laid over it: a JSON object of config fields (nested
    /// objects such as `loss_network` merge field by field; `null` leaves a field as it is).
    /// The command line's flags arrive this way (see `cli::ConfigFlags`).
    ///
    /// # Errors
    /// [`ConfigError`] naming `source_file` for a field the config does not have or a value of
    /// the wrong type.
    pub fn with_overrides(
        &self,
        overrides: serde_json::Value,
        source_file: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let err = |message: String| ConfigError { source_file: source_file.map(Path::to_path_buf), message };
        let mut merged = serde_json::to_value(self).map_err(|e| err(e.to_string()))?;
        merge_json(&mut merged, overrides);
        serde_json::from_value(merged).map_err(|e| err(e.to_string()))
    }

    /// The run folder: `out_dir`, or `runs/<style image stem>` (`runs/<first stem>_and_N_more`
    /// for several styles).
    pub fn run_dir(&self) -> PathBuf {
        self.run.out_dir.clone().unwrap_or_else(|| {
            let names = self.recipe.style_names();
            let stem = match names.len() {
                0 => "style".to_string(),
                1 => names[0].clone(),
                n => format!("{}_and_{}_more", names[0], n - 1),
            };
            Path::new("runs").join(stem)
        })
    }

    /// The recipe fields whose values differ from `other`'s, as `field: old → new`: what
    /// resuming `other`'s run with this config would change in what is learnt.
    pub fn changes_from(&self, other: &TrainConfig) -> Vec<String> {
        let (new, old) = (json_fields(&self.recipe), json_fields(&other.recipe));
        let mut keys: Vec<&String> = new.keys().chain(old.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter(|k| new.get(*k) != old.get(*k))
            .map(|k| {
                let show = |m: &serde_json::Map<String, serde_json::Value>| m.get(k).cloned().unwrap_or_default();
                format!("{k}: {} → {}", show(&old), show(&new))
            })
            .collect()
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
        let (r, run) = (&self.recipe, &self.run);
        r.validate_paths().map_err(err)?;
        for (what, v) in [
            ("steps", run.steps),
            ("batch_size", r.batch_size as u64),
            ("image_size", r.image_size as u64),
            ("prefetch_batches", run.prefetch_batches as u64),
            ("log_every", run.log_every),
        ] {
            if v == 0 {
                return Err(err(format!("{what} must be at least 1, got 0")));
            }
        }
        r.validate_numbers().map_err(err)?;
        r.validate_layers().map_err(err)
    }
}

impl TrainConfig {
    /// Checks what the perceptual loss needs (for `trainer optimize` and `trainer eval`,
    /// which have no dataset): the VGG file exists, weights and layers are valid.
    ///
    /// # Errors
    /// [`ConfigError`] for the first problem, naming `source_file`.
    pub fn validate_loss(&self, source_file: Option<&Path>) -> Result<(), ConfigError> {
        let err = |message: String| ConfigError { source_file: source_file.map(Path::to_path_buf), message };
        match &self.recipe.vgg_weights {
            Some(p) if p.is_file() => {}
            Some(p) => return Err(err(format!("vgg_weights {} does not exist or is not a file", p.display()))),
            None => return Err(err("no vgg_weights: set \"vgg_weights\" in the config or pass --vgg".into())),
        }
        self.recipe.validate_numbers().map_err(err)?;
        self.recipe.validate_layers().map_err(err)
    }
}

impl Recipe {
    /// The style images: `style_images`, or `style_image` alone (none when neither is set).
    pub fn style_paths(&self) -> Vec<PathBuf> {
        match self.style_images.is_empty() {
            true => self.style_image.iter().cloned().collect(),
            false => self.style_images.clone(),
        }
    }

    /// The styles' names, in index order: the style images' file stems.
    pub fn style_names(&self) -> Vec<String> {
        self.style_paths()
            .iter()
            .map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "style".into()))
            .collect()
    }

    /// The network trained: `model` with `num_styles` set to the number of style images.
    pub fn resolved_model(&self) -> TransformerConfig {
        TransformerConfig { num_styles: self.style_paths().len().max(1), ..self.model.clone() }
    }

    /// The single-style recipe of style `k` (`< style_paths().len()`): the same loss with that
    /// style image alone, as `trainer eval` measures each style of a multi-style network (and
    /// as a single-style network of that style is trained).
    pub fn for_style(&self, k: usize) -> Recipe {
        Recipe {
            style_image: self.style_paths().get(k).cloned(),
            style_images: Vec::new(),
            init_from: None,
            finetune_style: None,
            distill: None,
            model: TransformerConfig { num_styles: 1, ..self.model.clone() },
            ..self.clone()
        }
    }

    /// The learning rate in effect at `step` (1-based): `lr · factor^⌊(step−1)/every⌋`.
    pub fn lr_at(&self, step: u64) -> f64 {
        if self.lr_decay_every == 0 {
            return self.lr;
        }
        self.lr * self.lr_decay_factor.powi(((step.saturating_sub(1)) / self.lr_decay_every) as i32)
    }

    /// The three global loss weights.
    pub fn loss_weights(&self) -> LossWeights {
        LossWeights { content: self.content_weight, style: self.style_weight, tv: self.tv_weight }
    }

    /// The required paths are set and exist, the dataset is a folder or a cache, and a
    /// distillation's teacher fits (training only: `trainer eval` and `optimize` need no teacher).
    fn validate_paths(&self) -> Result<(), String> {
        let required = |v: &Option<PathBuf>, field: &str, flag: &str| {
            v.clone().ok_or_else(|| format!("no {field}: set \"{field}\" in the config or pass {flag}"))
        };
        let dataset = required(&self.dataset, "dataset", "--dataset")?;
        let vgg = required(&self.vgg_weights, "vgg_weights", "--vgg")?;
        self.validate_styles()?;
        match std::fs::metadata(&dataset) {
            Ok(m) if m.is_dir() => {}
            Ok(_) if crate::cache::is_cache(&dataset) => {}
            Ok(_) => {
                return Err(format!(
                    "dataset {} is a file; it must be a folder of images or a cache made by `trainer prepare`",
                    dataset.display()
                ))
            }
            Err(e) => return Err(format!("dataset {}: {e}", dataset.display())),
        }
        let styles = self.style_paths();
        let what = if self.style_images.is_empty() { "style_image" } else { "style_images" };
        for (what, p) in styles
            .iter()
            .map(|p| (what, p))
            .chain([("vgg_weights", &vgg)])
            .chain(self.init_from.iter().map(|p| ("init_from", p)))
        {
            if !p.is_file() {
                return Err(format!("{what} {} does not exist or is not a file", p.display()));
            }
        }
        match self.distill.as_ref().and_then(|d| d.problem(self.resolved_model().num_styles)) {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }

    /// One of `style_image` and `style_images` is set, the style names differ, the network's
    /// `num_styles` (when set above 1) matches, and `finetune_style` names a style and has
    /// `init_from`.
    fn validate_styles(&self) -> Result<(), String> {
        if self.style_image.is_some() && !self.style_images.is_empty() {
            return Err("set style_image (one style) or style_images (several), not both".into());
        }
        let names = self.style_names();
        if names.is_empty() {
            return Err(
                "no style_image: set \"style_image\" (or \"style_images\") in the config or pass --style".into()
            );
        }
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(format!("style_images: two images are named {n:?} (their file stems must differ)"));
            }
        }
        if self.model.num_styles > 1 && self.model.num_styles != names.len() {
            return Err(format!(
                "model.num_styles is {} but {} style image(s) are given",
                self.model.num_styles,
                names.len()
            ));
        }
        match self.finetune_style {
            Some(k) if k >= names.len() => Err(format!(
                "finetune_style {k} does not exist: there are {} style(s), 0..{}",
                names.len(),
                names.len() - 1
            )),
            Some(_) if self.init_from.is_none() => {
                Err("finetune_style trains one style of a trained network: set init_from to its checkpoint".into())
            }
            _ => Ok(()),
        }
    }

    /// Sizes, rates, fractions and weights are in range.
    fn validate_numbers(&self) -> Result<(), String> {
        if self.style_size == Some(0) {
            return Err("style_size must be at least 1 (or null for the original size)".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("lr must be a positive number, got {}", self.lr));
        }
        if !(self.lr_decay_factor > 0.0 && self.lr_decay_factor <= 1.0) {
            return Err(format!("lr_decay_factor must be in (0, 1], got {}", self.lr_decay_factor));
        }
        if !(0.0..=0.5).contains(&self.val_fraction) {
            return Err(format!("val_fraction must be in [0, 0.5], got {}", self.val_fraction));
        }
        if let Some(problem) = self.video_losses.as_ref().and_then(VideoLosses::problem) {
            return Err(problem);
        }
        if let Some(problem) = faststyle::loss::style_scales_problem(&self.style_loss_scales) {
            return Err(format!("style_loss_scales: {problem}"));
        }
        for (what, w) in [
            ("content_weight", self.content_weight),
            ("style_weight", self.style_weight),
            ("tv_weight", self.tv_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(format!("{what} must be finite and ≥ 0, got {w}"));
            }
        }
        self.model.validate().map_err(|e| e.to_string())
    }

    /// Every layer exists in the loss network, has a usable weight, and the crops are large
    /// enough for the deepest one.
    fn validate_layers(&self) -> Result<(), String> {
        if self.content_layers.is_empty() || self.style_layers.is_empty() {
            return Err("content_layers and style_layers each need at least one layer".into());
        }
        let arch = self.loss_network.arch;
        let mut deepest_pools = 0;
        for l in self.content_layers.iter().chain(&self.style_layers) {
            let index = arch.layer_index(&l.layer).map_err(|e| e.to_string())?;
            if !(l.weight.is_finite() && l.weight >= 0.0) {
                return Err(format!("layer {} has weight {}; use a finite value ≥ 0", l.layer, l.weight));
            }
            let pools = arch.layers().iter().take(index).filter(|x| x.name.starts_with("pool")).count();
            deepest_pools = deepest_pools.max(pools);
        }
        let min_size = (1u32 << deepest_pools).max(faststyle::transformer::MIN_PADDED_SIDE as u32);
        if self.image_size < min_size {
            return Err(format!(
                "image_size {} is too small: the deepest layer follows {deepest_pools} pooling layers, so at least {min_size} px are needed",
                self.image_size
            ));
        }
        Ok(())
    }
}

/// The top-level fields of `value` serialised as a JSON object.
fn json_fields<T: Serialize>(value: &T) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// Lays `over` onto `base`: objects merge key by key (recursively), `null` in `over` leaves
/// `base` as it is, any other value replaces it.
fn merge_json(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o.into_iter().filter(|(_, v)| !v.is_null()) {
                merge_json(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (_, serde_json::Value::Null) => {}
        (b, o) => *b = o,
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
        assert_eq!(c.run.steps, 7);
        // PE's defaults (JJ's for steps and checkpoints), as documented on the fields.
        let (r, run) = (&c.recipe, &c.run);
        assert_eq!((r.batch_size, r.image_size, r.lr, r.seed), (4, 256, 1e-3, 42));
        assert_eq!((r.content_weight, r.style_weight, r.tv_weight), (1e5, 1e10, 0.0));
        assert_eq!(r.content_layers, [LayerWeight::new(RELU2_2)]);
        let style: Vec<&str> = r.style_layers.iter().map(|l| l.layer.as_str()).collect();
        assert_eq!(style, [RELU1_2, RELU2_2, RELU3_3, RELU4_3]);
        assert_eq!(
            r.loss_network,
            LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: Preprocessing::Torchvision, ..Default::default() }
        );
        assert_eq!((run.checkpoint_every, run.keep_checkpoints, run.log_every), (1000, 3, 10));
        assert_eq!(TrainConfig::default().run.steps, 40_000);
        // Round trip: the resolved config serialises and parses to itself.
        let back: TrainConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn the_file_format_is_flat_and_overrides_merge() {
        let c: TrainConfig = serde_json::from_str(
            r#"{"steps": 7, "style_weight": 3, "loss_network": {"arch": "vgg19", "preprocessing": "caffe"}}"#,
        )
        .unwrap();
        assert_eq!((c.run.steps, c.recipe.style_weight), (7, 3.0));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!((json["steps"].as_u64(), json["style_weight"].as_f64()), (Some(7), Some(3.0)));
        let over =
            serde_json::json!({"steps": null, "lr": 0.5, "loss_network": {"arch": "vgg16", "preprocessing": null}});
        let d = c.with_overrides(over, None).unwrap();
        assert_eq!((d.run.steps, d.recipe.lr), (7, 0.5), "null leaves a field, a value replaces it");
        assert_eq!(
            d.recipe.loss_network,
            LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: Preprocessing::Caffe, ..Default::default() }
        );
        let e = c.with_overrides(serde_json::json!({"nope": 1}), Some(Path::new("c.json"))).unwrap_err().to_string();
        assert!(e.starts_with("c.json: ") && e.contains("nope"), "{e}");
    }

    #[test]
    fn lr_schedule() {
        let c = Recipe { lr: 1e-3, lr_decay_every: 100, lr_decay_factor: 0.5, ..Default::default() };
        assert_eq!(c.lr_at(1), 1e-3);
        assert_eq!(c.lr_at(100), 1e-3);
        assert_eq!(c.lr_at(101), 5e-4);
        assert_eq!(c.lr_at(250), 2.5e-4);
        assert_eq!(Recipe::default().lr_at(10_000), 1e-3);
    }

    #[test]
    fn resume_changes() {
        let a = TrainConfig::default();
        let b = TrainConfig { run: RunSettings { steps: 99, log_every: 3, ..a.run.clone() }, ..a.clone() };
        assert!(b.changes_from(&a).is_empty(), "steps and log_every may change");
        let c = TrainConfig { recipe: Recipe { style_weight: 1.0, batch_size: 2, ..a.recipe.clone() }, ..a.clone() };
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
            recipe: Recipe {
                dataset: Some(dir.path().to_path_buf()),
                style_image: Some(file.clone()),
                vgg_weights: Some(file.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        let with = |recipe: Recipe| TrainConfig { recipe, ..base.clone() };
        assert!(base.validate(None).is_ok());
        let check = |c: TrainConfig, needle: &str| {
            let e = c.validate(Some(Path::new("cfg.json"))).unwrap_err().to_string();
            assert!(e.starts_with("cfg.json: ") && e.contains(needle), "{e} lacks {needle}");
        };
        let r = &base.recipe;
        check(with(Recipe { batch_size: 0, ..r.clone() }), "batch_size must be at least 1");
        check(with(Recipe { image_size: 0, ..r.clone() }), "image_size must be at least 1");
        check(with(Recipe { style_weight: -1.0, ..r.clone() }), "style_weight must be finite");
        check(with(Recipe { dataset: Some(file.clone()), ..r.clone() }), "is a file");
        check(with(Recipe { dataset: None, ..r.clone() }), "--dataset");
        check(
            with(Recipe { style_layers: vec![LayerWeight::new("relu9_9")], ..r.clone() }),
            "valid layers: conv1_1, relu1_1",
        );
        check(with(Recipe { image_size: 4, ..r.clone() }), "too small");
    }
}
