//! Multi-style training (conditional instance norm; Dumoulin, Shlens & Kudlur 2017, "A
//! Learned Representation for Artistic Style", magenta `image_stylization`): which style each
//! batch image gets, starting a run from a trained checkpoint with more styles than it has
//! (`init_from`), and freezing all but one style's instance-norm scales and shifts
//! (`finetune_style`, what `trainer finetune --add-style` sets up).

use crate::config::{Recipe, TrainConfig};
use anyhow::{bail, Context, Result};
use faststyle::tensor_file::TensorFile;
use std::path::{Path, PathBuf};
use tch::{nn, Device, Kind, Tensor};

/// The style of each image of the batch of `step` (1-based): the one style being fine-tuned,
/// or the styles in turn, image `i` of step `t` getting `((t−1)·batch_size + i) mod S`. The
/// turn order depends on the step alone, so a resumed run continues it exactly, and every
/// style sees the same number of images (to within one batch). `[n]` int64 on `device`.
pub(crate) fn batch_styles(recipe: &Recipe, step: u64, n: usize, device: Device) -> Tensor {
    let s = recipe.style_paths().len().max(1) as u64;
    let first = (step - 1) * recipe.batch_size as u64;
    let picks: Vec<i64> = (0..n as u64)
        .map(|i| match recipe.finetune_style {
            Some(k) => k as i64,
            None => ((first + i) % s) as i64,
        })
        .collect();
    Tensor::from_slice(&picks).to_device(device)
}

/// Whether the parameter `name` is an instance norm's scale or shift (`in1.weight`,
/// `res3.in2.bias`, …): the per-style parameters of a conditional network.
pub(crate) fn is_style_param(name: &str) -> bool {
    let mut parts = name.rsplit('.');
    let (Some(leaf), Some(layer)) = (parts.next(), parts.next()) else { return false };
    matches!(leaf, "weight" | "bias")
        && layer.strip_prefix("in").is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
}

/// Loads `path`'s weights into the fresh net of `vs` for a new run (`init_from`). A tensor
/// of the same shape is copied; a per-style `[S, C]` tensor of `vs` takes the checkpoint's
/// `[S', C]` rows (a single-style checkpoint's `[C]` counts as one row) and fills the styles
/// beyond them with the mean of those rows (a neutral start for a style being added).
///
/// # Errors
/// The file cannot be read, lacks one of the net's tensors, or has one whose shape does not
/// fit (a different architecture), each named.
pub(crate) fn init_from(vs: &nn::VarStore, path: &Path) -> Result<()> {
    let file = TensorFile::open(path)?;
    for (name, mut var) in vs.variables() {
        let src = file
            .tensor(&name)
            .with_context(|| format!("init_from {}: no tensor {name}: not this network", path.display()))?
            .to_kind(Kind::Float)
            .to_device(var.device());
        let src = if src.dim() == 1 && var.dim() == 2 { src.unsqueeze(0) } else { src };
        let (have, want) = (src.size(), var.size());
        if have == want {
            tch::no_grad(|| var.copy_(&src));
            continue;
        }
        if have.len() == 2 && want.len() == 2 && have[1] == want[1] && have[0] < want[0] {
            let rest =
                src.mean_dim(Some([0i64].as_slice()), true, Kind::Float).expand([want[0] - have[0], want[1]], false);
            tch::no_grad(|| var.copy_(&Tensor::cat(&[&src, &rest], 0)));
            continue;
        }
        bail!("init_from {}: {name} has shape {have:?}, the network needs {want:?}", path.display());
    }
    Ok(())
}

/// Freezes every parameter of `vs` but style `k`'s instance-norm scales and shifts: the
/// others stop requiring gradients (Adam, built after this, leaves them out), and each
/// per-style `[S, C]` tensor gets a `[S, 1]` mask that is 1 on row `k` only, by which its
/// gradient is multiplied before each update ([`mask_gradients`]). Returns the masks.
pub(crate) fn freeze_all_but_style(vs: &nn::VarStore, k: usize) -> Vec<(Tensor, Tensor)> {
    let mut masks = Vec::new();
    for (name, var) in vs.variables() {
        if is_style_param(&name) && var.dim() == 2 {
            let s = var.size()[0];
            let mask = Tensor::zeros([s, 1], (Kind::Float, var.device()));
            let _ = mask.get(k as i64).fill_(1.0);
            masks.push((var, mask));
        } else {
            let _ = var.set_requires_grad(false);
        }
    }
    masks
}

/// Multiplies each parameter's gradient by its mask (see [`freeze_all_but_style`]).
pub(crate) fn mask_gradients(masks: &[(Tensor, Tensor)]) {
    tch::no_grad(|| {
        for (p, mask) in masks {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.g_mul_(mask);
            }
        }
    });
}

/// What `trainer finetune` was asked.
#[derive(Debug, Clone)]
pub struct FinetuneRequest {
    /// The trained checkpoint.
    pub from: PathBuf,
    /// The new style image.
    pub add_style: PathBuf,
    /// Optimisation steps.
    pub steps: u64,
    /// Run folder; default `runs/<from stem>+<new style stem>`.
    pub out_dir: Option<PathBuf>,
    /// Overrides of the checkpoint's training config (paths and device), as config fields.
    pub overrides: serde_json::Value,
}

/// The training config that adds `req.add_style` to `req.from` as a new last style: the
/// checkpoint's own recipe (its `train_config`) with the new image appended to its style
/// images, `init_from` the checkpoint, `finetune_style` the new style.
///
/// # Errors
/// The checkpoint cannot be read or holds no training config (one imported from PyTorch
/// has none: train it with `trainer` first), each naming the file.
pub fn finetune_config(req: &FinetuneRequest) -> Result<TrainConfig> {
    let meta = faststyle::CheckpointMeta::read(&req.from)?;
    let cfg: TrainConfig = serde_json::from_value(meta.train_config.clone()).map_err(|e| {
        anyhow::anyhow!(
            "--from {}: no training state to add a style to (its train_config is missing or not a training \
             config: {e}); --add-style needs a checkpoint written by `trainer`",
            req.from.display()
        )
    })?;
    let mut cfg = cfg.with_overrides(req.overrides.clone(), None)?;
    let mut styles = cfg.recipe.style_paths();
    let k = styles.len();
    styles.push(req.add_style.clone());
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    cfg.recipe.style_image = None;
    cfg.recipe.style_images = styles;
    cfg.recipe.model.num_styles = k + 1;
    cfg.recipe.init_from = Some(req.from.clone());
    cfg.recipe.finetune_style = Some(k);
    cfg.run.steps = req.steps;
    cfg.run.out_dir = Some(
        req.out_dir
            .clone()
            .unwrap_or_else(|| Path::new("runs").join(format!("{}+{}", stem(&req.from), stem(&req.add_style)))),
    );
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_params_are_the_instance_norms() {
        for yes in ["in1.weight", "in5.bias", "res3.in2.weight"] {
            assert!(is_style_param(yes), "{yes}");
        }
        for no in ["conv1.conv2d.weight", "res1.conv1.conv2d.bias", "deconv3.conv2d.weight", "in.weight", "inx.bias"] {
            assert!(!is_style_param(no), "{no}");
        }
    }

    #[test]
    fn styles_take_turns_and_a_finetune_uses_one() {
        let two = |b: usize| Recipe {
            style_images: vec!["a.jpg".into(), "b.jpg".into(), "c.jpg".into()],
            batch_size: b,
            ..Default::default()
        };
        let picks = |r: &Recipe, step| Vec::<i64>::try_from(batch_styles(r, step, r.batch_size, Device::Cpu)).unwrap();
        // Batch 2 of 3 styles: step 1 → images 0, 1; step 2 → 2, 3 → styles 2, 0.
        assert_eq!(picks(&two(2), 1), [0, 1]);
        assert_eq!(picks(&two(2), 2), [2, 0]);
        assert_eq!(picks(&two(2), 3), [1, 2]);
        let one = Recipe { finetune_style: Some(2), ..two(2) };
        assert_eq!(picks(&one, 7), [2, 2]);
        let single = Recipe { style_image: Some("a.jpg".into()), batch_size: 3, ..Default::default() };
        assert_eq!(picks(&single, 5), [0, 0, 0]);
    }

    #[test]
    fn init_from_fills_new_styles_with_the_mean_and_freezing_masks_rows() {
        use faststyle::{TransformerConfig, TransformerNet};
        let dir = tempfile::tempdir().unwrap();
        let small = TransformerConfig { channels: [4, 8, 8], residual_blocks: 1, num_styles: 2 };
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = TransformerNet::new(vs.root(), &small);
        tch::no_grad(|| {
            for (name, mut v) in vs.variables() {
                if name == "in1.weight" {
                    v.copy_(&Tensor::from_slice(&[1.0f32, 2., 3., 4., 3., 4., 5., 6.]).view([2, 4]));
                }
            }
        });
        let path = dir.path().join("two.safetensors");
        let meta = faststyle::CheckpointMeta {
            format_version: faststyle::checkpoint::FORMAT_VERSION,
            model: small.clone(),
            train_config: serde_json::json!({}),
            style_image: "a.jpg".into(),
            step: 0,
            loss_network: faststyle::checkpoint::LossNetworkInfo {
                arch: faststyle::VggArch::Vgg16,
                preprocessing: faststyle::Preprocessing::Torchvision,
                weights: "v".into(),
            },
            faststyle_version: faststyle::VERSION.into(),
            styles: ["a", "b"]
                .map(|n| faststyle::StyleInfo { name: n.into(), image: format!("{n}.jpg"), size: [8, 8] })
                .to_vec(),
            averaged_steps: Vec::new(),
        };
        faststyle::checkpoint::save(&path, &vs, &meta, faststyle::StoreDtype::F32).unwrap();

        let three = nn::VarStore::new(Device::Cpu);
        let _ = TransformerNet::new(three.root(), &TransformerConfig { num_styles: 3, ..small });
        init_from(&three, &path).unwrap();
        let w = three.variables()["in1.weight"].shallow_clone();
        assert_eq!(Vec::<f32>::try_from(w.get(2)).unwrap(), [2.0, 3.0, 4.0, 5.0], "the mean of rows 0 and 1");
        assert_eq!(Vec::<f32>::try_from(w.get(1)).unwrap(), [3.0, 4.0, 5.0, 6.0]);
        let conv = "conv1.conv2d.weight";
        assert!(three.variables()[conv].equal(&vs.variables()[conv]));

        let masks = freeze_all_but_style(&three, 2);
        assert!(!three.variables()[conv].requires_grad(), "shared weights are frozen");
        (&w * 1.0).sum(Kind::Float).backward();
        mask_gradients(&masks);
        let g = Vec::<f32>::try_from(w.grad().sum_dim_intlist(Some([1i64].as_slice()), false, Kind::Float)).unwrap();
        assert_eq!(g, [0.0, 0.0, 4.0], "only row 2 keeps its gradient");

        let other = nn::VarStore::new(Device::Cpu);
        let _ = TransformerNet::new(other.root(), &TransformerConfig { channels: [4, 8, 16], ..small });
        let e = init_from(&other, &path).unwrap_err().to_string();
        assert!(e.contains("two.safetensors") && e.contains("shape"), "{e}");
    }
}
