//! The run folder's file names and its metrics log, `metrics.jsonl`: one JSON
//! [`MetricsLine`] per logged training step or validation pass. Training writes it
//! ([`MetricsLog`]); `trainer plot` reads it ([`read_metrics`]).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// File name of the final checkpoint in the run folder.
pub const FINAL_CHECKPOINT: &str = "final.safetensors";
/// File name of the metrics log (one JSON object per line) in the run folder.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// File name of the resolved config in the run folder.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the dataset fingerprint in the run folder.
pub const DATASET_FILE: &str = "dataset.json";
/// Folder of preview images in the run folder.
pub const PREVIEWS_DIR: &str = "previews";
/// File name of the loss plot in the run folder.
pub const PLOT_FILE: &str = "loss.png";

/// The file name of the periodic checkpoint written at `step`: `checkpoint_NNNNNN.safetensors`.
pub fn checkpoint_name(step: u64) -> String {
    format!("checkpoint_{step:06}.safetensors")
}

/// Whether `name` is a periodic checkpoint's file name (see [`checkpoint_name`]).
pub fn is_checkpoint_name(name: &str) -> bool {
    name.starts_with("checkpoint_") && name.ends_with(".safetensors")
}

/// One line of `metrics.jsonl`: a training step (`split` = `train`, every `log_every` steps)
/// or a validation pass (`split` = `val`, at every checkpoint). Loss parts are weighted
/// (they sum to `loss`, with the video losses when on); validation values are means over the
/// validation images (the perceptual loss alone).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricsLine {
    /// Training step (1-based) the values belong to.
    pub step: u64,
    /// `train` or `val`.
    pub split: String,
    /// Total loss.
    pub loss: f64,
    /// Weighted content loss.
    pub content: f64,
    /// Weighted style loss.
    pub style: f64,
    /// Weighted total-variation loss.
    pub tv: f64,
    /// Learning rate in effect (training lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Training images per second since the previous training line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_per_sec: Option<f64>,
    /// Seconds since this process started training.
    pub elapsed_sec: f64,
    /// Each style layer's share of the style loss, `(layer, fraction)` (training lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style_shares: Option<Vec<(String, f64)>>,
    /// A multi-style run's weighted style loss per style, `(style, loss)`: on training lines
    /// the mean over the style's images since the previous line, on validation lines over
    /// the validation images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style_losses: Option<Vec<(String, f64)>>,
    /// Weighted stability loss (training lines of a recipe with `video_losses`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<f64>,
    /// Weighted temporal loss (training lines of a recipe with `video_losses`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporal: Option<f64>,
    /// Weighted output-matching loss to the teacher (training lines of a recipe with
    /// `distill`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<f64>,
}

/// `relu1_2 0.61, relu2_2 0.25, …` for progress lines.
pub fn describe_shares(shares: &[(String, f64)]) -> String {
    shares.iter().map(|(l, s)| format!("{l} {s:.2}")).collect::<Vec<_>>().join(", ")
}

/// Reads every line of a run's `metrics.jsonl`, skipping lines that do not parse (a run
/// killed mid-line leaves at most one).
///
/// # Errors
/// The file cannot be read.
pub fn read_metrics(run_dir: &Path) -> Result<Vec<MetricsLine>> {
    let path = run_dir.join(METRICS_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// `metrics.jsonl` open for appending.
pub(crate) struct MetricsLog {
    file: std::fs::File,
}

impl MetricsLog {
    /// Opens the run's log, keeping the lines of steps up to `start_step` (those a resumed
    /// run has already done; none for a new run) and dropping any later ones.
    pub(crate) fn open(run_dir: &Path, start_step: u64) -> Result<Self> {
        let path = run_dir.join(METRICS_FILE);
        let kept: String = match std::fs::read_to_string(&path) {
            Ok(text) if start_step > 0 => text
                .lines()
                .filter(|l| serde_json::from_str::<MetricsLine>(l).is_ok_and(|m| m.step <= start_step))
                .map(|l| format!("{l}\n"))
                .collect(),
            _ => String::new(),
        };
        faststyle::fsutil::write_bytes_atomic(&path, kept.as_bytes())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(MetricsLog { file })
    }

    /// Appends one line and flushes it.
    pub(crate) fn write(&mut self, line: &MetricsLine) -> Result<()> {
        writeln!(self.file, "{}", serde_json::to_string(line)?)?;
        self.file.flush()?;
        Ok(())
    }
}
