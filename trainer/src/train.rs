//! The training loop (Johnson et al. 2016 §3; PE `train()`): Adam on the TransformerNet
//! parameters, minimising the perceptual loss of [`faststyle::PerceptualLoss`] over batches
//! from the background [`Loader`], with exact resume, signal-safe stops, a non-finite guard,
//! validation loss and previews at every checkpoint, and a loss plot at the end.
//!
//! The run folder holds `config.json` (the resolved config), `dataset.json` (the dataset's
//! fingerprint), `metrics.jsonl`, the newest `keep_checkpoints` periodic checkpoints
//! (`checkpoint_NNNNNN.safetensors`), `final.safetensors`, `previews/` and `loss.png`. Every
//! checkpoint carries the resume state ([`TrainState`] and the Adam moments), so
//! `trainer --resume RUN_DIR` continues from the newest one exactly as if never stopped.

use crate::adam::Adam;
use crate::cache;
use crate::config::{Precision, TrainConfig};
use crate::dataset::{self, Loader, LoaderConfig, Reporter, StreamPos};
use crate::previews;
use anyhow::{bail, Context, Result};
use faststyle::checkpoint::{
    self, CheckpointMeta, LossNetworkInfo, FORMAT_VERSION, KEY_TRAIN_STATE, TRAIN_STATE_PREFIX,
};
use faststyle::tensor_file::TensorFile;
use faststyle::{image_io, LossNetwork, PerceptualLoss, TransformerNet};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tch::nn;
use tch::Tensor;

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

/// The file name of the periodic checkpoint written at `step`.
pub fn checkpoint_name(step: u64) -> String {
    format!("checkpoint_{step:06}.safetensors")
}

/// One line of `metrics.jsonl`: a training step (`split` = `train`, every `log_every` steps)
/// or a validation pass (`split` = `val`, at every checkpoint). Loss parts are weighted
/// (they sum to `loss`); validation values are means over the validation images.
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
}

/// The resume state saved in every checkpoint (metadata key `train_state`); the Adam moments
/// are the checkpoint's `train_state.m.*` / `train_state.v.*` tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainState {
    /// Steps completed.
    pub step: u64,
    /// Adam updates applied (steps skipped by the fp16 loss scaler are not counted).
    pub adam_step: i64,
    /// Where the data stream continues.
    pub stream: StreamPos,
    /// The dataset's fingerprint (a resumed run must see the same data).
    pub dataset_fingerprint: String,
    /// The fp16 loss scale (1 in other precisions).
    pub loss_scale: f64,
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The final checkpoint.
    pub final_checkpoint: PathBuf,
    /// Steps completed (in all sessions).
    pub steps: u64,
    /// Wall-clock seconds of this session's training loop.
    pub seconds: f64,
    /// Metrics of this session's first and last logged steps.
    pub first: MetricsLine,
    /// See `first`.
    pub last: MetricsLine,
    /// Items skipped because they could not be read or decoded, or were blank.
    pub skipped: usize,
}

/// Training was stopped by SIGINT/SIGTERM after saving a checkpoint. `main` exits with 130.
#[derive(Debug, thiserror::Error)]
#[error("interrupted at step {step}: saved {}; resume with: trainer --resume {}", checkpoint.display(), run_dir.display())]
pub struct Interrupted {
    /// The last completed step.
    pub step: u64,
    /// The checkpoint written on the way out.
    pub checkpoint: PathBuf,
    /// The run folder.
    pub run_dir: PathBuf,
}

/// How to run beyond the config.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Continue from this checkpoint (see [`latest_checkpoint`]).
    pub resume_from: Option<PathBuf>,
    /// Set by a signal handler to stop after the current step, saving a checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
    /// Resume even though the dataset's fingerprint differs from the run's.
    pub force: bool,
}

/// Prints messages above the progress bar on a terminal, or as plain lines otherwise.
#[derive(Clone)]
struct Console {
    bar: ProgressBar,
}

impl Console {
    fn new(steps: u64, done: u64) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} step {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}")
                    .expect("static template"),
            );
            bar.set_position(done);
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

/// The newest checkpoint with resume state in `run_dir` (periodic or final), by step.
///
/// # Errors
/// No checkpoint with resume state is there.
pub fn latest_checkpoint(run_dir: &Path) -> Result<(PathBuf, TrainState)> {
    let mut best: Option<(PathBuf, TrainState)> = None;
    let entries = std::fs::read_dir(run_dir).with_context(|| format!("reading run folder {}", run_dir.display()))?;
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".safetensors") && (name.starts_with("checkpoint_") || name == FINAL_CHECKPOINT)) {
            continue;
        }
        let Ok(file) = TensorFile::open(&p) else { continue };
        let Some(state) = file.metadata().get(KEY_TRAIN_STATE).and_then(|s| serde_json::from_str::<TrainState>(s).ok())
        else {
            continue;
        };
        if best.as_ref().is_none_or(|(_, b)| state.step > b.step) {
            best = Some((p, state));
        }
    }
    best.with_context(|| format!("{}: no checkpoint to resume from", run_dir.display()))
}

/// Keeps the newest `keep` periodic checkpoints of `run_dir` and deletes the rest.
fn prune_checkpoints(run_dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(run_dir) else { return };
    let mut ckpts: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            n.starts_with("checkpoint_") && n.ends_with(".safetensors")
        })
        .collect();
    ckpts.sort();
    let excess = ckpts.len().saturating_sub(keep);
    for p in &ckpts[..excess] {
        let _ = std::fs::remove_file(p);
    }
}

/// Fp16 dynamic loss scaling (as PyTorch's `GradScaler`): the loss is multiplied by `scale`
/// before backward and the gradients divided by it after; an overflow halves the scale and
/// skips the step, and every `GROWTH_INTERVAL` good steps double it. Disabled (scale 1, every
/// non-finite gradient fatal) in the other precisions.
struct LossScaler {
    enabled: bool,
    scale: f64,
    good_steps: u32,
}

impl LossScaler {
    const GROWTH_INTERVAL: u32 = 1000;
    const MIN_SCALE: f64 = 1e-8;
}

/// Whether the loss and every parameter gradient are finite (one device sync).
fn all_finite(loss: &Tensor, params: &[&Tensor]) -> Result<bool> {
    let mut flags = vec![loss.isfinite()];
    flags.extend(params.iter().map(|p| p.grad()).filter(|g| g.defined()).map(|g| g.isfinite().all()));
    Ok(bool::try_from(Tensor::stack(&flags, 0).all())?)
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Mean weighted losses of `net` over `images` (`batch_size` at a time, no gradients).
fn validation_loss(
    objective: &PerceptualLoss,
    net: &TransformerNet,
    images: &[(String, image::RgbImage)],
    batch_size: usize,
    device: tch::Device,
) -> Result<[f64; 4]> {
    let mut sums = [0f64; 4];
    let mut n = 0usize;
    for chunk in images.chunks(batch_size.max(1)) {
        let x =
            Tensor::cat(&chunk.iter().map(|(_, img)| image_io::image_to_tensor(img, device)).collect::<Vec<_>>(), 0);
        let parts = tch::no_grad(|| objective.compute(&net.forward_fast(&x), &x));
        for (s, t) in sums.iter_mut().zip([&parts.total, &parts.content, &parts.style, &parts.tv]) {
            *s += f64::try_from(t)? * chunk.len() as f64;
        }
        n += chunk.len();
    }
    Ok(sums.map(|s| s / n.max(1) as f64))
}

/// Trains a TransformerNet as `cfg` says (validated by [`TrainConfig::validate`]), from
/// scratch or from `opts.resume_from`.
///
/// # Errors
/// Any failure to read the dataset (no usable image), the style image or the VGG weights, to
/// build the networks, or to write the run folder, each naming its file; a non-finite loss
/// or gradient (the step is not applied); [`Interrupted`] when stopped by a signal.
pub fn train(cfg: &TrainConfig, opts: &TrainOptions) -> Result<TrainSummary> {
    let dataset_path = cfg.dataset.clone().context("no dataset")?;
    let style_path = cfg.style_image.clone().context("no style image")?;
    let vgg_path = cfg.vgg_weights.clone().context("no VGG weights")?;
    let run_dir = cfg.run_dir();
    let device = cfg.device.resolve()?;
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating run folder {}", run_dir.display()))?;
    faststyle::fsutil::remove_stale_temp_files(&run_dir, true);

    // Resume state first, so the loader can start where the run left off.
    let resume = match &opts.resume_from {
        Some(path) => {
            let file = TensorFile::open(path)?;
            let state: TrainState = file
                .metadata()
                .get(KEY_TRAIN_STATE)
                .and_then(|s| serde_json::from_str(s).ok())
                .with_context(|| format!("{}: no resume state in this checkpoint", path.display()))?;
            Some((path.clone(), file, state))
        }
        None => None,
    };
    let start_step = resume.as_ref().map(|r| r.2.step).unwrap_or(0);
    if start_step >= cfg.steps {
        bail!("the run is already at step {start_step} of {}; pass a larger --steps to train on", cfg.steps);
    }

    let console = Console::new(cfg.steps, start_step);
    let cache::OpenedSource { source, unreadable, fingerprint } = cache::open_source(&dataset_path, cfg.image_size)?;
    if let Some((path, _, state)) = &resume {
        if state.dataset_fingerprint != fingerprint && !opts.force {
            bail!(
                "{}: the dataset {} has changed since this run started (fingerprint {} then, {} now); \
                 resuming would not continue the same run (pass --force to resume anyway)",
                path.display(),
                dataset_path.display(),
                state.dataset_fingerprint,
                fingerprint
            );
        }
    }
    let source = Arc::new(source);
    let split = dataset::split(source.len(), cfg.seed, cfg.val_fraction, cfg.val_min_images);
    let report: Reporter = {
        let console = console.clone();
        Arc::new(move |p: &Path, why: &str| {
            console.say(&format!("warning: skipped {}", faststyle::error::about(p, why)))
        })
    };
    let loader = Loader::spawn(
        source.clone(),
        split.train.clone(),
        unreadable,
        LoaderConfig {
            batch_size: cfg.batch_size,
            image_size: cfg.image_size,
            seed: cfg.seed,
            prefetch: cfg.prefetch_batches,
            start: resume.as_ref().map(|r| r.2.stream).unwrap_or_default(),
        },
        report.clone(),
    );
    // Wait for one batch before any other work: a source with no usable image fails here.
    let first_batch = loader.next_batch()?;
    let val_images: Vec<(String, image::RgbImage)> = split
        .val
        .par_iter()
        .filter_map(|&i| match source.load(i, cfg.image_size) {
            Ok(img) => Some((source.item_path(i).display().to_string(), img)),
            Err(e) => {
                let (path, why) = (source.item_path(i), e.to_string());
                report(&path, &why);
                loader.stats.skipped.lock().expect("loader stats").push((path, why));
                None
            }
        })
        .collect();

    let style_img = image_io::read_rgb(&style_path)?;
    let style_img = match cfg.style_size {
        Some(s) => image_io::resize_shorter_side(&style_img, s),
        None => style_img,
    };
    let precision = cfg.loss_network_precision.resolve(device);
    let taps = PerceptualLoss::required_taps(&cfg.content_layers, &cfg.style_layers);
    let mut loss_net = LossNetwork::load(&vgg_path, &cfg.loss_network, &taps, device)?;
    if precision != Precision::Fp32 {
        loss_net.set_kind(precision.kind());
    }
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
    let mut adam = Adam::new(&vs);
    let mut scaler = LossScaler { enabled: precision == Precision::Fp16, scale: 1.0, good_steps: 0 };
    if let Some((path, file, state)) = &resume {
        file.load_into(&vs)?;
        let moments: BTreeMap<String, Tensor> = file
            .names()
            .into_iter()
            .filter_map(|n| n.strip_prefix(TRAIN_STATE_PREFIX).map(str::to_string).map(|k| (k, n)))
            .map(|(k, n)| file.tensor(&n).map(|t| (k, t)))
            .collect::<faststyle::Result<_>>()?;
        adam.restore(&moments, state.adam_step).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        scaler.scale = state.loss_scale;
        console.say(&format!("resuming from {} at step {}", path.display(), state.step));
    }

    let config_json = serde_json::to_value(cfg)?;
    let write_json = |name: &str, v: &serde_json::Value| -> Result<()> {
        Ok(faststyle::fsutil::write_bytes_atomic(&run_dir.join(name), serde_json::to_string_pretty(v)?.as_bytes())?)
    };
    write_json(CONFIG_FILE, &config_json)?;
    write_json(
        DATASET_FILE,
        &serde_json::json!({"dataset": dataset_path, "fingerprint": fingerprint, "items": source.len(),
                            "train": split.train.len(), "val": split.val.len()}),
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

    // The metrics log keeps what was logged up to the resumed step, then continues.
    let metrics_path = run_dir.join(METRICS_FILE);
    let kept: String = match std::fs::read_to_string(&metrics_path) {
        Ok(text) if start_step > 0 => text
            .lines()
            .filter(|l| serde_json::from_str::<MetricsLine>(l).is_ok_and(|m| m.step <= start_step))
            .map(|l| format!("{l}\n"))
            .collect(),
        _ => String::new(),
    };
    faststyle::fsutil::write_bytes_atomic(&metrics_path, kept.as_bytes())?;
    let mut metrics = std::fs::OpenOptions::new()
        .append(true)
        .open(&metrics_path)
        .with_context(|| format!("opening {}", metrics_path.display()))?;

    console.say(&format!(
        "training {} on {} images from {} ({} held out for validation): steps {}..{} of batch {} at {}px on {}; \
         loss network {} {} in {precision:?} (assumes {} input: make sure {} was trained that way)",
        file_name(&style_path),
        split.train.len(),
        dataset_path.display(),
        val_images.len(),
        start_step + 1,
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
    let mut last_checkpoint: Option<PathBuf> = resume.as_ref().map(|r| r.0.clone());
    let mut state = resume.as_ref().map(|r| r.2.clone()).unwrap_or(TrainState {
        step: 0,
        adam_step: 0,
        stream: StreamPos::default(),
        dataset_fingerprint: fingerprint.clone(),
        loss_scale: 1.0,
    });
    let preview_inputs: Vec<(String, image::RgbImage)> = val_images.iter().take(cfg.preview_images).cloned().collect();

    let save = |path: &Path, state: &TrainState, adam: &Adam| -> Result<()> {
        checkpoint::save_with_state(
            path,
            &vs,
            &meta_at(state.step),
            &adam.state_tensors(),
            &serde_json::to_string(state)?,
        )?;
        Ok(())
    };
    let on_checkpoint = |step: u64, metrics: &mut std::fs::File| -> Result<()> {
        if !val_images.is_empty() {
            let [loss, content, style, tv] = validation_loss(&objective, &net, &val_images, cfg.batch_size, device)?;
            let line = MetricsLine {
                step,
                split: "val".into(),
                loss,
                content,
                style,
                tv,
                lr: None,
                images_per_sec: None,
                elapsed_sec: start.elapsed().as_secs_f64(),
            };
            writeln!(metrics, "{}", serde_json::to_string(&line)?)?;
            metrics.flush()?;
            console.say(&format!("step {step}: validation loss {loss:.4e} over {} images", val_images.len()));
        }
        if !preview_inputs.is_empty() {
            let sheet = previews::write_previews(&run_dir.join(PREVIEWS_DIR), step, &preview_inputs, &net, device)?;
            console.say(&format!("step {step}: previews in {}", sheet.display()));
        }
        Ok(())
    };

    for step in start_step + 1..=cfg.steps {
        let b = match batch.take() {
            Some(b) => b,
            None => loader.next_batch()?,
        };
        let lr = cfg.lr_at(step);
        let x = image_io::hwc_bytes_to_batch(&b.pixels, b.n, b.size, b.size, device);
        let y = net.forward_fast(&x);
        let mut parts = objective.compute(&y, &x);
        if cfg.inject_nan_at_step == Some(step) {
            parts.total = &parts.total * f64::NAN;
        }
        adam.zero_grad();
        (&parts.total * scaler.scale).backward();
        if !all_finite(&parts.total, &adam.params())? {
            let loss = f64::try_from(&parts.total).unwrap_or(f64::NAN);
            if scaler.enabled && loss.is_finite() && scaler.scale > LossScaler::MIN_SCALE {
                // Fp16 gradient overflow: skip this step with a smaller scale.
                scaler.scale /= 2.0;
                scaler.good_steps = 0;
                state.step = step;
                state.stream = b.next;
                console.bar.inc(1);
                continue;
            }
            let last = last_checkpoint
                .as_ref()
                .map(|p| format!("the last good checkpoint is {}", p.display()))
                .unwrap_or_else(|| "no checkpoint was written yet".into());
            bail!(
                "the loss or its gradient became non-finite at step {step} (loss {loss}); training stopped without \
                 applying it and {last} (try a lower lr or loss weights)"
            );
        }
        if scaler.scale != 1.0 {
            tch::no_grad(|| {
                for p in adam.params() {
                    let mut g = p.grad();
                    if g.defined() {
                        let _ = g.g_div_scalar_(scaler.scale);
                    }
                }
            });
        }
        adam.step(lr);
        if scaler.enabled {
            scaler.good_steps += 1;
            if scaler.good_steps >= LossScaler::GROWTH_INTERVAL {
                scaler.scale *= 2.0;
                scaler.good_steps = 0;
            }
        }
        state = TrainState {
            step,
            adam_step: adam.step,
            stream: b.next,
            dataset_fingerprint: fingerprint.clone(),
            loss_scale: scaler.scale,
        };
        window_images += b.n;

        if step == start_step + 1 || step % cfg.log_every == 0 || step == cfg.steps {
            let value = |t: &Tensor| f64::try_from(t).unwrap_or(f64::NAN);
            let line = MetricsLine {
                step,
                split: "train".into(),
                loss: value(&parts.total),
                content: value(&parts.content),
                style: value(&parts.style),
                tv: value(&parts.tv),
                lr: Some(lr),
                images_per_sec: Some(window_images as f64 / window_start.elapsed().as_secs_f64()),
                elapsed_sec: start.elapsed().as_secs_f64(),
            };
            writeln!(metrics, "{}", serde_json::to_string(&line)?)?;
            metrics.flush()?;
            let msg = format!(
                "loss {:.4e} (content {:.3e}, style {:.3e}, tv {:.3e}) lr {lr:.2e} {:.2} img/s",
                line.loss,
                line.content,
                line.style,
                line.tv,
                line.images_per_sec.unwrap_or(0.0)
            );
            if console.bar.is_hidden() {
                eprintln!("step {step}/{}: {msg}", cfg.steps);
            }
            console.bar.set_message(msg);
            first.get_or_insert_with(|| line.clone());
            last = Some(line);
            (window_start, window_images) = (Instant::now(), 0);
        }
        console.bar.inc(1);
        let stopping = opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
        let periodic = cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0 && step != cfg.steps;
        if periodic || (stopping && step != cfg.steps) {
            let path = run_dir.join(checkpoint_name(step));
            save(&path, &state, &adam)?;
            last_checkpoint = Some(path.clone());
            prune_checkpoints(&run_dir, cfg.keep_checkpoints.max(1));
            console.say(&format!("step {step}: wrote {}", path.display()));
            if stopping {
                console.bar.finish_and_clear();
                return Err(Interrupted { step, checkpoint: path, run_dir }.into());
            }
            on_checkpoint(step, &mut metrics)?;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    console.bar.finish_and_clear();

    let final_checkpoint = run_dir.join(FINAL_CHECKPOINT);
    save(&final_checkpoint, &state, &adam)?;
    on_checkpoint(cfg.steps, &mut metrics)?;
    let skipped = loader.stats.skipped_count();
    drop(loader);
    match crate::plot::plot_run(&run_dir, None) {
        Ok(p) => eprintln!("loss plot: {}", p.display()),
        Err(e) => eprintln!("warning: could not draw the loss plot: {e:#}"),
    }
    eprintln!(
        "trained steps {}..{} in {seconds:.1} s ({:.3} s/step); final checkpoint {}",
        start_step + 1,
        cfg.steps,
        seconds / (cfg.steps - start_step) as f64,
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
