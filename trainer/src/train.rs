//! The training loop (Johnson et al. 2016 §3; PE `train()`): Adam on the TransformerNet
//! parameters, minimising the perceptual loss of [`faststyle::PerceptualLoss`] over batches
//! from the background [`Loader`].

use crate::config::TrainConfig;
use crate::dataset::{list_images, Loader, LoaderConfig, Reporter};
use anyhow::{bail, Context, Result};
use faststyle::checkpoint::{self, CheckpointMeta, LossNetworkInfo, FORMAT_VERSION};
use faststyle::{image_io, LossNetwork, PerceptualLoss, StoreDtype, TransformerNet};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tch::nn::{self, Module, OptimizerConfig};

/// File name of the final checkpoint in the run folder.
pub const FINAL_CHECKPOINT: &str = "final.safetensors";
/// File name of the metrics log (one JSON object per line) in the run folder.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// File name of the resolved config in the run folder.
pub const CONFIG_FILE: &str = "config.json";

/// The file name of the periodic checkpoint written at `step`.
pub fn checkpoint_name(step: u64) -> String {
    format!("checkpoint_{step:06}.safetensors")
}

/// One line of `metrics.jsonl`. Loss parts are weighted (they sum to `loss`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MetricsLine {
    /// Training step (1-based).
    pub step: u64,
    /// Total loss of this step's batch.
    pub loss: f64,
    /// Weighted content loss.
    pub content: f64,
    /// Weighted style loss.
    pub style: f64,
    /// Weighted total-variation loss.
    pub tv: f64,
    /// Learning rate in effect.
    pub lr: f64,
    /// Training images per second since the previous line.
    pub images_per_sec: f64,
    /// Seconds since training started (after set-up).
    pub elapsed_sec: f64,
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The final checkpoint.
    pub final_checkpoint: PathBuf,
    /// Steps taken.
    pub steps: u64,
    /// Wall-clock seconds of the training loop.
    pub seconds: f64,
    /// Metrics of the first and last logged steps.
    pub first: MetricsLine,
    /// See `first`.
    pub last: MetricsLine,
    /// Files skipped because they could not be read or decoded, or were blank.
    pub skipped: usize,
}

/// Prints messages above the progress bar on a terminal, or as plain lines otherwise.
#[derive(Clone)]
struct Console {
    bar: ProgressBar,
}

impl Console {
    fn new(steps: u64) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} step {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}")
                    .expect("static template"),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        Console { bar }
    }

    fn say(&self, msg: &str) {
        if self.bar.is_hidden() {
            eprintln!("{msg}");
        } else {
            self.bar.println(msg);
        }
    }
}

/// Trains a TransformerNet as `cfg` says and returns where the result is. `cfg` must have
/// passed [`TrainConfig::validate`].
///
/// # Errors
/// Any failure to read the dataset (no usable image), the style image or the VGG weights,
/// to build the networks, or to write the run folder; each names its file.
pub fn train(cfg: &TrainConfig) -> Result<TrainSummary> {
    let dataset = cfg.dataset.clone().context("no dataset")?;
    let style_path = cfg.style_image.clone().context("no style image")?;
    let vgg_path = cfg.vgg_weights.clone().context("no VGG weights")?;
    let run_dir = cfg.run_dir();
    let device = cfg.device.resolve()?;
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating run folder {}", run_dir.display()))?;

    let console = Console::new(cfg.steps);
    let listing = list_images(&dataset)?;
    let n_files = listing.files.len();
    let report: Reporter = {
        let console = console.clone();
        Arc::new(move |p: &Path, why: &str| {
            console.say(&format!("warning: skipped {}", faststyle::error::about(p, why)))
        })
    };
    let loader = Loader::spawn(
        listing,
        LoaderConfig {
            root: dataset.clone(),
            batch_size: cfg.batch_size,
            image_size: cfg.image_size,
            seed: cfg.seed,
            prefetch: cfg.prefetch_batches,
        },
        report,
    );
    // Wait for one batch before any other work: a folder with no usable image fails here.
    let first_batch = loader.next_batch()?;

    let style_img = image_io::read_rgb(&style_path)?;
    let style_img = match cfg.style_size {
        Some(s) => image_io::resize_shorter_side(&style_img, s),
        None => style_img,
    };
    let taps = PerceptualLoss::required_taps(&cfg.content_layers, &cfg.style_layers);
    let loss_net = LossNetwork::load(&vgg_path, &cfg.loss_network, &taps, device)?;
    let objective = PerceptualLoss::new(
        loss_net,
        &cfg.content_layers,
        &cfg.style_layers,
        cfg.loss_weights(),
        &image_io::image_to_tensor(&style_img, device),
    )?;

    tch::manual_seed(cfg.seed as i64);
    let vs = nn::VarStore::new(device);
    let net = TransformerNet::new(vs.root(), &cfg.model);
    let mut opt = nn::Adam::default().build(&vs, cfg.lr)?;

    let config_json = serde_json::to_value(cfg)?;
    faststyle::fsutil::write_bytes_atomic(
        &run_dir.join(CONFIG_FILE),
        serde_json::to_string_pretty(&config_json)?.as_bytes(),
    )?;
    let meta_at = |step: u64| CheckpointMeta {
        format_version: FORMAT_VERSION,
        model: cfg.model.clone(),
        train_config: config_json.clone(),
        style_image: file_name(&style_path),
        step,
        loss_network: LossNetworkInfo {
            arch: cfg.loss_network.arch,
            preprocessing: cfg.loss_network.preprocessing,
            weights: file_name(&vgg_path),
        },
        faststyle_version: faststyle::VERSION.to_string(),
    };
    let metrics_path = run_dir.join(METRICS_FILE);
    let mut metrics =
        std::fs::File::create(&metrics_path).with_context(|| format!("creating {}", metrics_path.display()))?;

    console.say(&format!(
        "training {} on {n_files} images from {}: {} steps of batch {} at {}px on {}; loss network {} {} \
         (assumes {} input: make sure {} was trained that way)",
        file_name(&style_path),
        dataset.display(),
        cfg.steps,
        cfg.batch_size,
        cfg.image_size,
        faststyle::device::device_name(device),
        cfg.loss_network.arch,
        file_name(&vgg_path),
        match cfg.loss_network.preprocessing {
            faststyle::Preprocessing::Caffe => "caffe (BGR, 0-255, mean-subtracted)",
            faststyle::Preprocessing::Torchvision => "torchvision (RGB, ImageNet mean/std)",
        },
        file_name(&vgg_path),
    ));
    let start = Instant::now();
    let (mut window_start, mut window_images) = (Instant::now(), 0usize);
    let (mut first, mut last) = (None, None);
    let mut batch = Some(first_batch);
    let mut last_checkpoint: Option<PathBuf> = None;
    let trainable = vs.trainable_variables();
    for step in 1..=cfg.steps {
        let b = match batch.take() {
            Some(b) => b,
            None => loader.next_batch()?,
        };
        let x = image_io::hwc_bytes_to_batch(&b.pixels, b.n, b.size, b.size, device);
        let y = net.forward(&x);
        let parts = objective.compute(&y, &x);
        opt.zero_grad();
        parts.total.backward();
        // Never apply a non-finite update: the weights stay those of the previous step.
        if !all_finite(&parts.total, &trainable)? {
            let last = last_checkpoint
                .as_ref()
                .map(|p: &PathBuf| format!("the last good checkpoint is {}", p.display()))
                .unwrap_or_else(|| "no checkpoint was written yet".into());
            bail!(
                "the loss or its gradient became non-finite at step {step} (loss {}); training stopped and {last} \
                 (try a lower lr or loss weights)",
                f64::try_from(&parts.total).unwrap_or(f64::NAN)
            );
        }
        opt.step();
        window_images += b.n;

        if step == 1 || step % cfg.log_every == 0 || step == cfg.steps {
            let value = |t: &tch::Tensor| f64::try_from(t).unwrap_or(f64::NAN);
            let line = MetricsLine {
                step,
                loss: value(&parts.total),
                content: value(&parts.content),
                style: value(&parts.style),
                tv: value(&parts.tv),
                lr: cfg.lr,
                images_per_sec: window_images as f64 / window_start.elapsed().as_secs_f64(),
                elapsed_sec: start.elapsed().as_secs_f64(),
            };
            writeln!(metrics, "{}", serde_json::to_string(&line)?)?;
            metrics.flush()?;
            let msg = format!(
                "loss {:.4e} (content {:.3e}, style {:.3e}, tv {:.3e}) {:.2} img/s",
                line.loss, line.content, line.style, line.tv, line.images_per_sec
            );
            if console.bar.is_hidden() {
                eprintln!("step {step}/{}: {msg}", cfg.steps);
            }
            console.bar.set_message(msg);
            first.get_or_insert_with(|| line.clone());
            last = Some(line);
            (window_start, window_images) = (Instant::now(), 0);
        }
        if cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0 && step != cfg.steps {
            let path = run_dir.join(checkpoint_name(step));
            checkpoint::save(&path, &vs, &meta_at(step), StoreDtype::F32)?;
            console.say(&format!("step {step}: wrote {}", path.display()));
            last_checkpoint = Some(path);
        }
        console.bar.inc(1);
    }
    let seconds = start.elapsed().as_secs_f64();
    console.bar.finish_and_clear();

    let final_checkpoint = run_dir.join(FINAL_CHECKPOINT);
    checkpoint::save(&final_checkpoint, &vs, &meta_at(cfg.steps), StoreDtype::F32)?;
    let skipped = loader.stats.skipped_count();
    drop(loader);
    eprintln!(
        "trained {} steps in {seconds:.1} s ({:.3} s/step); final checkpoint {}",
        cfg.steps,
        seconds / cfg.steps as f64,
        final_checkpoint.display()
    );
    if skipped > 0 {
        eprintln!("skipped {skipped} unusable image file(s) (listed above)");
    }
    Ok(TrainSummary {
        run_dir,
        final_checkpoint,
        steps: cfg.steps,
        seconds,
        first: first.context("no metrics were logged")?,
        last: last.context("no metrics were logged")?,
        skipped,
    })
}

/// Whether the loss and every parameter gradient are finite (one device sync).
fn all_finite(loss: &tch::Tensor, params: &[tch::Tensor]) -> Result<bool> {
    let mut flags = vec![loss.isfinite()];
    flags.extend(params.iter().map(|p| p.grad()).filter(|g| g.defined()).map(|g| g.isfinite().all()));
    Ok(bool::try_from(tch::Tensor::stack(&flags, 0).all())?)
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
