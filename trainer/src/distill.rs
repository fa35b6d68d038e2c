//! Knowledge distillation of a light TransformerNet (`trainer distill`): the student is
//! trained on the recipe's perceptual loss plus an output-matching loss
//! `output_weight · MSE(f_student(x), f_teacher(x))` to a trained teacher's stylization of
//! the same batch, so a `half` or `mobile` network inherits a tuned style without re-tuning
//! its loss weights (knowledge distillation, Hinton, Vinyals & Dean 2015, "Distilling the
//! Knowledge in a Neural Network", with the teacher's output image as the soft target).

use anyhow::{bail, Result};
use faststyle::{Checkpoint, CheckpointMeta};
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;
use std::path::PathBuf;
use tch::{Device, Tensor};

/// The recipe's teacher (`distill` in the config; absent: no distillation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct Distill {
    /// The trained teacher checkpoint (any architecture; same number of styles as the
    /// student, style `s` of the teacher teaching style `s` of the student). Required.
    /// Default: none.
    pub teacher: Option<PathBuf>,
    /// Weight of `MSE(student output, teacher output)`, per squared 0–255 level (a mean over
    /// pixels and channels), added to the perceptual loss. At 50 an output 10 levels RMS
    /// away from the teacher's costs 5000, under a tenth of a trained net's perceptual loss on
    /// the Starry Night recipe (about 6.5e4). Default 50.
    #[default(50.0)]
    pub output_weight: f64,
}

impl Distill {
    /// What is wrong with the values for a student of `num_styles` styles, if anything: a
    /// teacher is named, is a readable checkpoint (its header is read) of the same number of
    /// styles, and the weight is finite and ≥ 0.
    pub fn problem(&self, num_styles: usize) -> Option<String> {
        let w = self.output_weight;
        if !(w.is_finite() && w >= 0.0) {
            return Some(format!("distill.output_weight must be finite and ≥ 0, got {w}"));
        }
        let Some(path) = &self.teacher else {
            return Some("distill.teacher: no teacher checkpoint (pass trainer distill --teacher M)".into());
        };
        if !path.is_file() {
            return Some(format!("distill.teacher {} does not exist or is not a file", path.display()));
        }
        let meta = match CheckpointMeta::read(path) {
            Ok(meta) => meta,
            Err(e) => return Some(format!("distill.teacher: {e}")),
        };
        (meta.model.num_styles != num_styles).then(|| {
            format!(
                "distill.teacher {} holds {} style(s) ({}) but the config trains {num_styles}: a teacher teaches the \
                 student style by style, so both need the same styles",
                path.display(),
                meta.model.num_styles,
                meta.style_names().join(", ")
            )
        })
    }
}

/// A loaded, frozen teacher and the weight of its output-matching loss.
pub(crate) struct Teacher {
    checkpoint: Checkpoint,
    weight: f64,
}

impl Teacher {
    /// Loads `cfg.teacher` onto `device` (the config was validated: [`Distill::problem`]).
    ///
    /// # Errors
    /// No teacher named; the checkpoint cannot be loaded (named).
    pub(crate) fn load(cfg: &Distill, device: Device) -> Result<Self> {
        let Some(path) = &cfg.teacher else { bail!("distill: no teacher checkpoint") };
        Ok(Teacher { checkpoint: Checkpoint::load(path, device)?, weight: cfg.output_weight })
    }

    /// The weighted output-matching loss of the student's output `y` for content images `x`
    /// (`[N, 3, H, W]`, 0–255), image `n` as style `picks[n]` (`[N]` int64): a scalar with
    /// the student's graph; the teacher runs without one.
    pub(crate) fn term(&self, x: &Tensor, y: &Tensor, picks: &Tensor) -> Tensor {
        let target = tch::no_grad(|| self.checkpoint.net.forward_fast_each(x, picks));
        y.mse_loss(&target, tch::Reduction::Mean) * self.weight
    }
}
