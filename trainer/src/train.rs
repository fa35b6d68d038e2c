//! The training loop (Johnson et al. 2016 §3; PE `train()`): Adam on the TransformerNet
//! parameters, minimising the perceptual loss of [`faststyle::PerceptualLoss`] over batches
//! from the background [`Loader`], with exact resume, signal-safe stops, a non-finite guard,
//! validation loss and previews at every checkpoint, and a loss plot at the end.
//!
//! [`train`] is the loop; a [`Trainer`] holds the run and does its parts: [`Trainer::step`]
//! (one optimisation step), [`Trainer::log`], [`Trainer::checkpoint`] and
//! [`Trainer::validate`]. The run folder holds `config.json` (the resolved config),
//! `dataset.json` (the dataset's fingerprint), `metrics.jsonl`, the newest `keep_checkpoints`
//! periodic checkpoints (`checkpoint_NNNNNN.safetensors`), `final.safetensors`, `previews/`
//! and `loss.png` (names in [`crate::metrics`]). Every checkpoint carries the resume state
//! ([`TrainState`] and the Adam moments), so `trainer --resume RUN_DIR` continues from the
//! newest one exactly as if never stopped.

use crate::adam::Adam;
use crate::config::{Recipe, TrainConfig};
use crate::dataset::{self, Batch, Loader, LoaderConfig, LoaderStats, StreamPos};
use crate::distill::Teacher;
use crate::metrics::{
    self, describe_shares, MetricsLine, MetricsLog, CONFIG_FILE, DATASET_FILE, FINAL_CHECKPOINT, PREVIEWS_DIR,
};
use crate::objective;
use crate::previews;
use crate::source::{open_source, OpenedSource, Source};
use crate::styles;
use crate::video::{self, VideoTerms};
use anyhow::{bail, Context, Result};
use faststyle::checkpoint::{
    self, CheckpointMeta, LossNetworkInfo, FORMAT_VERSION, KEY_TRAIN_STATE, TRAIN_STATE_PREFIX,
};
use faststyle::progress::{Console, Reporter};
use faststyle::tensor_file::TensorFile;
use faststyle::{image_io, LossParts, LossValues, PerceptualLoss, Precision, StyleInfo, TransformerNet};
use image::RgbImage;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Device, Tensor};

/// The resume state saved in every checkpoint (metadata key `train_state`); the Adam moments
/// are the checkpoint's `train_state.m.*` / `train_state.v.*` tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrainState {
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
    /// Testing aid: make the loss NaN at this step, to exercise the non-finite guard.
    #[cfg(feature = "fault-injection")]
    pub inject_nan_at_step: Option<u64>,
}

/// Trains a TransformerNet as `cfg` says (validated by [`TrainConfig::validate`]), from
/// scratch or from `opts.resume_from`.
///
/// # Errors
/// Any failure to read the dataset (no usable image), the style image or the VGG weights, to
/// build the networks, or to write the run folder, each naming its file; a non-finite loss
/// or gradient (the step is not applied); [`Interrupted`] when stopped by a signal.
pub fn train(cfg: &TrainConfig, opts: &TrainOptions) -> Result<TrainSummary> {
    let mut t = Trainer::new(cfg, opts)?;
    for step in t.start_step + 1..=cfg.run.steps {
        let Some(done) = t.step(step)? else { continue };
        t.log(&done)?;
        let stopping = opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
        let periodic = cfg.run.checkpoint_every > 0 && step % cfg.run.checkpoint_every == 0;
        if (periodic || stopping) && step != cfg.run.steps {
            let path = t.checkpoint(step)?;
            if stopping {
                t.console.finish();
                return Err(Interrupted { step, checkpoint: path, run_dir: t.run_dir }.into());
            }
            t.validate(step)?;
        }
    }
    t.finish()
}

/// A run in progress: the networks, the optimiser, the data, the run folder and the clocks.
pub(crate) struct Trainer<'a> {
    cfg: &'a TrainConfig,
    /// Testing aid: the step whose loss is made NaN.
    #[cfg(feature = "fault-injection")]
    inject_nan_at_step: Option<u64>,
    run_dir: PathBuf,
    device: Device,
    console: Console,
    data: Data,
    objective: PerceptualLoss,
    vs: nn::VarStore,
    net: TransformerNet,
    /// The styles' names, in index order (one for a single-style net).
    style_names: Vec<String>,
    /// A fine-tune's gradient masks (see [`styles::freeze_all_but_style`]); empty otherwise.
    masks: Vec<(Tensor, Tensor)>,
    /// A distillation's frozen teacher (recipe `distill`).
    teacher: Option<Teacher>,
    adam: Adam,
    scaler: LossScaler,
    state: TrainState,
    /// Metadata of every checkpoint this run writes (`step` set at each save).
    meta: CheckpointMeta,
    metrics: MetricsLog,
    last_checkpoint: Option<PathBuf>,
    /// The last step of a previous session (0 for a new run).
    start_step: u64,
    started: Instant,
    /// Start and images of the current throughput window (since the last metrics line).
    window: (Instant, usize),
    /// Per style, the sum and count of its images' style losses in the current window.
    window_styles: Vec<(f64, usize)>,
    first: Option<MetricsLine>,
    last: Option<MetricsLine>,
}

/// What one applied optimisation step computed.
pub(crate) struct StepDone {
    step: u64,
    parts: LossParts,
    lr: f64,
    images: usize,
    /// The style of each image (`[N]` int64; see [`styles::batch_styles`]).
    styles: Tensor,
    /// The weighted stability and temporal losses, when on.
    video: [Option<f64>; 2],
    /// The weighted output-matching loss to the teacher, when distilling.
    distill: Option<f64>,
}

impl<'a> Trainer<'a> {
    /// Sets up a run: the run folder, the resume state, the data, the loss network with the
    /// style targets, the TransformerNet and Adam (restored when resuming), and the metrics log.
    fn new(cfg: &'a TrainConfig, opts: &TrainOptions) -> Result<Self> {
        let run_dir = cfg.run_dir();
        let device = cfg.run.device.resolve()?;
        std::fs::create_dir_all(&run_dir).with_context(|| format!("creating run folder {}", run_dir.display()))?;
        faststyle::fsutil::remove_stale_temp_files(&run_dir, true);
        // Resume state first, so the loader can start where the run left off.
        let resume = opts.resume_from.as_deref().map(Resume::open).transpose()?;
        let start_step = resume.as_ref().map(|r| r.state.step).unwrap_or(0);
        if start_step >= cfg.run.steps {
            bail!("the run is already at step {start_step} of {}; pass a larger --steps to train on", cfg.run.steps);
        }
        let console = Console::steps(cfg.run.steps, start_step);
        let data = Data::open(&cfg.recipe, cfg.run.prefetch_batches, resume.as_ref(), opts.force, &console)?;
        let precision = cfg.run.loss_network_precision.resolve(device, Precision::Bf16);
        let objective = objective::recipe_loss(&cfg.recipe, precision, device)?;

        tch::manual_seed(cfg.recipe.seed as i64);
        let vs = nn::VarStore::new(device);
        let net = TransformerNet::new(vs.root(), &cfg.recipe.resolved_model());
        if let (None, Some(from)) = (&resume, &cfg.recipe.init_from) {
            styles::init_from(&vs, from)?;
        }
        let masks = match cfg.recipe.finetune_style {
            Some(k) => styles::freeze_all_but_style(&vs, k),
            None => Vec::new(),
        };
        let teacher = match &cfg.recipe.distill {
            Some(d) => Some(Teacher::load(d, device)?),
            None => None,
        };
        let mut adam = Adam::new(&vs);
        let mut scaler = LossScaler::new(precision == Precision::Fp16);
        let mut state = TrainState {
            step: 0,
            adam_step: 0,
            stream: StreamPos::default(),
            dataset_fingerprint: data.fingerprint.clone(),
            loss_scale: 1.0,
        };
        if let Some(r) = &resume {
            r.restore(&vs, &mut adam)?;
            scaler.scale = r.state.loss_scale;
            state = r.state.clone();
            // The dataset the run goes on with: the same one, or, under --force, the one the
            // user accepted, so that later resumes compare against it and need no --force.
            state.dataset_fingerprint = data.fingerprint.clone();
            console.say(&format!("resuming from {} at step {}", r.path.display(), r.state.step));
        }
        let meta = checkpoint_meta(cfg, &objective::recipe_styles(&cfg.recipe)?)?;
        let style_names = cfg.recipe.style_names();
        write_json(&run_dir.join(CONFIG_FILE), &meta.train_config)?;
        write_json(&run_dir.join(DATASET_FILE), &data.description())?;
        let metrics = MetricsLog::open(&run_dir, start_step)?;
        console.say(&start_message(cfg, &data, start_step, precision, device));
        Ok(Trainer {
            cfg,
            #[cfg(feature = "fault-injection")]
            inject_nan_at_step: opts.inject_nan_at_step,
            run_dir,
            device,
            console,
            data,
            objective,
            vs,
            net,
            window_styles: vec![(0.0, 0); style_names.len()],
            style_names,
            masks,
            teacher,
            adam,
            scaler,
            state,
            meta,
            metrics,
            last_checkpoint: resume.map(|r| r.path),
            start_step,
            started: Instant::now(),
            window: (Instant::now(), 0),
            first: None,
            last: None,
        })
    }

    /// One optimisation step on the next batch: forward through the TransformerNet, the
    /// perceptual loss, backward (scaled in fp16), the non-finite guard, the Adam update.
    /// `None` when the fp16 loss scaler skipped the step after a gradient overflow.
    ///
    /// # Errors
    /// The loader failed, or the loss or a gradient is not finite (nothing is applied).
    fn step(&mut self, step: u64) -> Result<Option<StepDone>> {
        let batch = self.data.next_batch()?;
        let lr = self.cfg.recipe.lr_at(step);
        let x = image_io::hwc_bytes_to_batch(&batch.pixels, batch.n, batch.size, batch.size, self.device);
        let styles = styles::batch_styles(&self.cfg.recipe, step, batch.n, self.device);
        let y = self.net.forward_fast_each(&x, &styles);
        let parts = perceptual_loss(&self.objective, &y, &x, &styles, self.net.num_styles());
        #[cfg(feature = "fault-injection")]
        let parts = inject_nan(parts, self.inject_nan_at_step == Some(step));
        let video = match &self.cfg.recipe.video_losses {
            Some(v) => {
                video::video_terms(v, self.cfg.recipe.seed, step, &x, &y, &|t| self.net.forward_fast_each(t, &styles))
            }
            None => VideoTerms { stability: None, temporal: None },
        };
        let distill = self.teacher.as_ref().map(|t| t.term(&x, &y, &styles));
        let total = [video.sum(), distill.as_ref().map(Tensor::shallow_clone)]
            .into_iter()
            .flatten()
            .fold(parts.total.shallow_clone(), |sum, term| sum + term);
        self.adam.zero_grad();
        (&total * self.scaler.scale).backward();
        styles::mask_gradients(&self.masks);
        self.state.step = step;
        self.state.stream = batch.next;
        self.console.bar().inc(1);
        if !all_finite(&total, &self.adam.params())? {
            let loss = f64::try_from(&total).unwrap_or(f64::NAN);
            if self.scaler.is_overflow(loss) {
                self.scaler.update(true);
                return Ok(None);
            }
            let last = match &self.last_checkpoint {
                Some(p) => format!("the last good checkpoint is {}", p.display()),
                None => "no checkpoint was written yet".into(),
            };
            bail!(
                "the loss or its gradient became non-finite at step {step} (loss {loss}); training stopped without \
                 applying it and {last} (try a lower lr or loss weights)"
            );
        }
        self.scaler.unscale(&self.adam.params());
        self.adam.step(lr);
        self.scaler.update(false);
        self.state.adam_step = self.adam.step;
        self.state.loss_scale = self.scaler.scale;
        let value = |t: &Option<Tensor>| t.as_ref().map(|t| f64::try_from(t).unwrap_or(f64::NAN));
        let video = [value(&video.stability), value(&video.temporal)];
        Ok(Some(StepDone { step, parts, video, distill: value(&distill), lr, images: batch.n, styles }))
    }

    /// Counts the step's images, and on the first step of the session, every `log_every`
    /// steps and the last step writes a training line to `metrics.jsonl` and shows the loss.
    fn log(&mut self, done: &StepDone) -> Result<()> {
        let (step, run) = (done.step, &self.cfg.run);
        self.window.1 += done.images;
        if self.style_names.len() > 1 {
            let picks = Vec::<i64>::try_from(&done.styles)?;
            let losses = Vec::<f64>::try_from(&done.parts.style_per_image.to_kind(tch::Kind::Double))?;
            for (s, l) in picks.into_iter().zip(losses) {
                let w = &mut self.window_styles[s as usize];
                *w = (w.0 + l, w.1 + 1);
            }
        }
        if !(step == self.start_step + 1 || step % run.log_every == 0 || step == run.steps) {
            return Ok(());
        }
        let v = done.parts.values();
        let layers = self.cfg.recipe.style_layers.iter().map(|l| l.layer.clone());
        let [stability, temporal] = done.video;
        let line = MetricsLine {
            step,
            split: "train".into(),
            loss: v.total + [stability, temporal, done.distill].iter().flatten().sum::<f64>(),
            content: v.content,
            style: v.style,
            tv: v.tv,
            lr: Some(done.lr),
            images_per_sec: Some(self.window.1 as f64 / self.window.0.elapsed().as_secs_f64()),
            elapsed_sec: self.started.elapsed().as_secs_f64(),
            style_shares: Some(layers.zip(done.parts.style_shares()).collect()),
            style_losses: self.window_style_losses(),
            stability,
            temporal,
            distill: done.distill,
        };
        self.metrics.write(&line)?;
        let extra_terms: String = [("stability", stability), ("temporal", temporal), ("distill", done.distill)]
            .iter()
            .filter_map(|(name, v)| v.map(|v| format!(", {name} {v:.3e}")))
            .collect();
        let msg =
            format!("{}{extra_terms} lr {:.2e} {:.2} img/s", v.describe(), done.lr, line.images_per_sec.unwrap_or(0.0));
        if self.console.is_plain() {
            self.console.say(&format!("step {step}/{}: {msg}", run.steps));
        }
        self.console.bar().set_message(msg);
        self.first.get_or_insert_with(|| line.clone());
        self.last = Some(line);
        self.window = (Instant::now(), 0);
        self.window_styles.iter_mut().for_each(|w| *w = (0.0, 0));
        Ok(())
    }

    /// A multi-style run's mean style loss per style over the window's images, `(name, loss)`
    /// (styles with no image in the window left out); `None` for a single style.
    fn window_style_losses(&self) -> Option<Vec<(String, f64)>> {
        (self.style_names.len() > 1).then(|| {
            self.style_names
                .iter()
                .zip(&self.window_styles)
                .filter(|(_, w)| w.1 > 0)
                .map(|(name, w)| (name.clone(), w.0 / w.1 as f64))
                .collect()
        })
    }

    /// Writes the periodic checkpoint of `step` (weights, metadata and resume state) and
    /// deletes the periodic checkpoints beyond the newest `keep_checkpoints`. Returns its path.
    fn checkpoint(&mut self, step: u64) -> Result<PathBuf> {
        let path = self.run_dir.join(metrics::checkpoint_name(step));
        self.save(&path)?;
        self.last_checkpoint = Some(path.clone());
        prune_checkpoints(&self.run_dir, self.cfg.run.keep_checkpoints.max(1));
        self.console.say(&format!("step {step}: wrote {}", path.display()));
        Ok(path)
    }

    /// Saves the current weights with the metadata and the resume state to `path`.
    fn save(&mut self, path: &Path) -> Result<()> {
        self.meta.step = self.state.step;
        let state = serde_json::to_string(&self.state)?;
        checkpoint::save_with_state(path, &self.vs, &self.meta, &self.adam.state_tensors(), &state)?;
        Ok(())
    }

    /// The validation loss of the current weights (a `val` line in `metrics.jsonl`) and the
    /// preview images of `step`.
    fn validate(&mut self, step: u64) -> Result<()> {
        let val = &self.data.val;
        // Every style; a fine-tune changes only its own.
        let styles: Vec<usize> = match self.cfg.recipe.finetune_style {
            Some(k) => vec![k],
            None => (0..self.style_names.len()).collect(),
        };
        if !val.is_empty() {
            let per_style: Vec<LossValues> = styles
                .iter()
                .map(|&k| validation_loss(&self.objective, &self.net, val, self.cfg.recipe.batch_size, k, self.device))
                .collect();
            let LossValues { total: loss, content, style, tv } = LossValues::mean(&per_style);
            let style_losses = (self.style_names.len() > 1)
                .then(|| styles.iter().zip(&per_style).map(|(&k, v)| (self.style_names[k].clone(), v.style)).collect());
            let elapsed_sec = self.started.elapsed().as_secs_f64();
            let split = "val".into();
            let line = MetricsLine {
                step,
                split,
                loss,
                content,
                style,
                tv,
                lr: None,
                images_per_sec: None,
                elapsed_sec,
                style_shares: None,
                style_losses,
                stability: None,
                temporal: None,
                distill: None,
            };
            self.metrics.write(&line)?;
            self.console.say(&format!("step {step}: validation loss {loss:.4e} over {} images", val.len()));
        }
        let previews = &val[..self.cfg.run.preview_images.min(val.len())];
        if !previews.is_empty() {
            let dir = self.run_dir.join(PREVIEWS_DIR);
            let rows: Vec<(usize, &str)> = styles.iter().map(|&k| (k, self.style_names[k].as_str())).collect();
            let sheet = previews::write_previews(&dir, step, previews, &self.net, &rows, self.device)?;
            self.console.say(&format!("step {step}: previews in {}", sheet.display()));
        }
        Ok(())
    }

    /// After the last step: the final checkpoint, its validation and previews, the loss
    /// plot and the summary.
    fn finish(mut self) -> Result<TrainSummary> {
        let seconds = self.started.elapsed().as_secs_f64();
        self.console.finish();
        let steps = self.cfg.run.steps;
        let final_checkpoint = self.run_dir.join(FINAL_CHECKPOINT);
        self.save(&final_checkpoint)?;
        self.validate(steps)?;
        let skipped = self.data.loader.stats.skipped_count();
        drop(self.data);
        match crate::plot::plot_run(&self.run_dir, None) {
            Ok(p) => eprintln!("loss plot: {}", p.display()),
            Err(e) => eprintln!("warning: could not draw the loss plot: {e:#}"),
        }
        eprintln!(
            "trained steps {}..{steps} in {seconds:.1} s ({:.3} s/step); final checkpoint {}",
            self.start_step + 1,
            seconds / (steps - self.start_step) as f64,
            final_checkpoint.display()
        );
        if skipped > 0 {
            eprintln!("skipped {skipped} unusable image file(s) (listed above)");
        }
        if let (Some(first), Some(last)) = (&self.first, &self.last) {
            if let (Some(a), Some(b)) = (&first.style_shares, &last.style_shares) {
                eprintln!(
                    "style loss shares at step {}: {}; at step {}: {}",
                    first.step,
                    describe_shares(a),
                    last.step,
                    describe_shares(b)
                );
            }
        }
        Ok(TrainSummary {
            run_dir: self.run_dir,
            final_checkpoint,
            steps,
            seconds,
            first: self.first.context("no metrics were logged")?,
            last: self.last.context("no metrics were logged")?,
            skipped,
        })
    }
}

/// A checkpoint to continue from, with its resume state.
struct Resume {
    path: PathBuf,
    file: TensorFile,
    state: TrainState,
}

impl Resume {
    /// Opens a checkpoint and reads its resume state.
    fn open(path: &Path) -> Result<Self> {
        let file = TensorFile::open(path)?;
        let state: TrainState = file
            .metadata()
            .get(KEY_TRAIN_STATE)
            .and_then(|s| serde_json::from_str(s).ok())
            .with_context(|| format!("{}: no resume state in this checkpoint", path.display()))?;
        Ok(Resume { path: path.to_path_buf(), file, state })
    }

    /// Loads the weights into `vs` and the Adam moments into `adam`.
    fn restore(&self, vs: &nn::VarStore, adam: &mut Adam) -> Result<()> {
        self.file.load_into(vs)?;
        let moments: BTreeMap<String, Tensor> = self
            .file
            .names()
            .into_iter()
            .filter_map(|n| n.strip_prefix(TRAIN_STATE_PREFIX).map(str::to_string).map(|k| (k, n)))
            .map(|(k, n)| self.file.tensor(&n).map(|t| (k, t)))
            .collect::<faststyle::Result<_>>()?;
        adam.restore(&moments, self.state.adam_step).map_err(|e| anyhow::anyhow!("{}: {e}", self.path.display()))
    }
}

/// The data of a run: the training stream and the held-out validation crops.
struct Data {
    dataset: PathBuf,
    source: Arc<Source>,
    loader: Loader,
    /// The batch fetched while setting up (proof that the data is usable), used first.
    first_batch: Option<Batch>,
    train_items: usize,
    val_items: usize,
    /// Validation crops with their file names, in source order.
    val: Vec<(String, RgbImage)>,
    fingerprint: String,
}

impl Data {
    /// Opens the dataset, checks it is the one a resumed run saw (unless `force`), splits
    /// it, starts the loader (where the resumed run left off) and waits for one batch, so a
    /// source with no usable image fails here, before any other work.
    fn open(recipe: &Recipe, prefetch: usize, resume: Option<&Resume>, force: bool, console: &Console) -> Result<Self> {
        let dataset = recipe.dataset.clone().context("no dataset")?;
        let OpenedSource { source, unreadable, fingerprint } = open_source(&dataset, recipe.image_size)?;
        if let Some(r) = resume.filter(|r| r.state.dataset_fingerprint != fingerprint && !force) {
            bail!(
                "{}: the dataset {} has changed since this run started (fingerprint {} then, {} now); \
                 resuming would not continue the same run (pass --force to resume anyway)",
                r.path.display(),
                dataset.display(),
                r.state.dataset_fingerprint,
                fingerprint
            );
        }
        let source = Arc::new(source);
        let split = dataset::split(source.len(), recipe.seed, recipe.val_fraction, recipe.val_min_images);
        let report = console.reporter();
        let cfg = LoaderConfig {
            batch_size: recipe.batch_size,
            image_size: recipe.image_size,
            seed: recipe.seed,
            prefetch,
            start: resume.map(|r| r.state.stream).unwrap_or_default(),
        };
        let loader = Loader::spawn(source.clone(), split.train.clone(), unreadable, cfg, report.clone());
        let first_batch = Some(loader.next_batch()?);
        let val = load_validation(&source, &split.val, recipe.image_size, &report, &loader.stats);
        let (train_items, val_items) = (split.train.len(), split.val.len());
        Ok(Data { dataset, source, loader, first_batch, train_items, val_items, val, fingerprint })
    }

    /// The next training batch.
    fn next_batch(&mut self) -> Result<Batch> {
        match self.first_batch.take() {
            Some(b) => Ok(b),
            None => Ok(self.loader.next_batch()?),
        }
    }

    /// What `dataset.json` records.
    fn description(&self) -> serde_json::Value {
        serde_json::json!({"dataset": self.dataset, "fingerprint": self.fingerprint, "items": self.source.len(),
                           "train": self.train_items, "val": self.val_items})
    }
}

/// Decodes the validation crops in parallel; a bad one is reported and counted as skipped.
fn load_validation(
    source: &Source,
    items: &[usize],
    size: u32,
    report: &Reporter,
    stats: &LoaderStats,
) -> Vec<(String, RgbImage)> {
    items
        .par_iter()
        .filter_map(|&i| match source.load(i, size) {
            Ok(img) => Some((source.item_path(i).display().to_string(), img)),
            Err(e) => {
                let (path, why) = (source.item_path(i), e.to_string());
                report(&path, &why);
                stats.skipped.lock().expect("loader stats").push((path, why));
                None
            }
        })
        .collect()
}

/// The metadata every checkpoint of this run carries (its `step` is set at each save);
/// `styles` are the style images as training uses them (for their sizes).
fn checkpoint_meta(cfg: &TrainConfig, styles: &[RgbImage]) -> Result<CheckpointMeta> {
    let r = &cfg.recipe;
    let paths = r.style_paths();
    let infos = match paths.len() {
        1 => Vec::new(),
        _ => (r.style_names().into_iter().zip(&paths).zip(styles))
            .map(|((name, p), img)| StyleInfo { name, image: file_name(p), size: [img.width(), img.height()] })
            .collect(),
    };
    Ok(CheckpointMeta {
        format_version: FORMAT_VERSION,
        model: r.resolved_model(),
        train_config: serde_json::to_value(cfg)?,
        style_image: file_name(paths.first().context("no style image")?),
        step: 0,
        loss_network: LossNetworkInfo {
            arch: r.loss_network.arch,
            preprocessing: r.loss_network.preprocessing,
            weights: file_name(r.vgg_weights.as_deref().context("no VGG weights")?),
        },
        faststyle_version: faststyle::VERSION.to_string(),
        styles: infos,
        averaged_steps: Vec::new(),
    })
}

/// The line that opens a run: what is trained on what, where and how.
fn start_message(cfg: &TrainConfig, data: &Data, start_step: u64, precision: Precision, device: Device) -> String {
    let r = &cfg.recipe;
    let style = r.style_paths().iter().map(|p| file_name(p)).collect::<Vec<_>>().join(", ");
    let vgg = r.vgg_weights.as_deref().map(file_name).unwrap_or_default();
    let convention = match r.loss_network.preprocessing {
        faststyle::Preprocessing::Caffe => "caffe (BGR, 0-255, mean-subtracted)",
        faststyle::Preprocessing::Torchvision => "torchvision (RGB, ImageNet mean/std)",
    };
    format!(
        "training {style} on {} images from {} ({} held out for validation): steps {}..{} of batch {} at {}px on {}; \
         loss network {} {vgg} in {precision:?} (assumes {convention} input: make sure {vgg} was trained that way)",
        data.train_items,
        data.dataset.display(),
        data.val.len(),
        start_step + 1,
        cfg.run.steps,
        r.batch_size,
        r.image_size,
        faststyle::device::device_name(device),
        r.loss_network.arch,
    )
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    Ok(faststyle::fsutil::write_bytes_atomic(path, serde_json::to_string_pretty(v)?.as_bytes())?)
}

/// The newest checkpoint with resume state in `run_dir` (periodic or final), by step.
///
/// # Errors
/// No checkpoint with resume state is there.
pub(crate) fn latest_checkpoint(run_dir: &Path) -> Result<(PathBuf, TrainState)> {
    let mut best: Option<(PathBuf, TrainState)> = None;
    let entries = std::fs::read_dir(run_dir).with_context(|| format!("reading run folder {}", run_dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(metrics::is_checkpoint_name(&name) || name == FINAL_CHECKPOINT) {
            continue;
        }
        let Ok(resume) = Resume::open(&e.path()) else { continue };
        if best.as_ref().is_none_or(|(_, b)| resume.state.step > b.step) {
            best = Some((resume.path, resume.state));
        }
    }
    best.with_context(|| format!("{}: no checkpoint to resume from", run_dir.display()))
}

/// Keeps the newest `keep` periodic checkpoints of `run_dir` and deletes the rest.
fn prune_checkpoints(run_dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(run_dir) else { return };
    let mut ckpts: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| metrics::is_checkpoint_name(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    ckpts.sort();
    let excess = ckpts.len().saturating_sub(keep);
    for p in &ckpts[..excess] {
        let _ = std::fs::remove_file(p);
    }
}

/// Fp16 dynamic loss scaling (as PyTorch's `GradScaler`): the loss is multiplied by `scale`
/// before backward and the gradients divided by it after ([`LossScaler::unscale`]); an
/// overflow halves the scale and skips the step, and every `GROWTH_INTERVAL` good steps
/// double it ([`LossScaler::update`]). Disabled (scale 1, every non-finite gradient fatal) in
/// the other precisions.
struct LossScaler {
    enabled: bool,
    scale: f64,
    good_steps: u32,
}

impl LossScaler {
    /// Good steps after which the scale doubles (PyTorch's `growth_interval` is 2000).
    const GROWTH_INTERVAL: u32 = 1000;
    /// Below this scale an overflow is not fp16's range but a real non-finite loss.
    const MIN_SCALE: f64 = 1e-8;

    fn new(enabled: bool) -> Self {
        LossScaler { enabled, scale: 1.0, good_steps: 0 }
    }

    /// Whether non-finite gradients with this loss are an fp16 overflow that skipping the
    /// step (with a smaller scale) handles: scaling is on, the loss itself is finite and the
    /// scale can still shrink.
    fn is_overflow(&self, loss: f64) -> bool {
        self.enabled && loss.is_finite() && self.scale > Self::MIN_SCALE
    }

    /// Divides every gradient of `params` by the scale (the loss was multiplied by it).
    fn unscale(&self, params: &[&Tensor]) {
        if self.scale == 1.0 {
            return;
        }
        tch::no_grad(|| {
            for p in params {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.g_div_scalar_(self.scale);
                }
            }
        });
    }

    /// After a step: halve the scale on an overflow, double it after `GROWTH_INTERVAL`
    /// good steps in a row (PyTorch's `GradScaler.update`). Nothing when disabled.
    fn update(&mut self, overflow: bool) {
        if !self.enabled {
            return;
        }
        if overflow {
            self.scale /= 2.0;
            self.good_steps = 0;
        } else {
            self.good_steps += 1;
            if self.good_steps >= Self::GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        }
    }
}

/// Whether the loss and every parameter gradient are finite (one device sync).
fn all_finite(loss: &Tensor, params: &[&Tensor]) -> Result<bool> {
    let mut flags = vec![loss.isfinite()];
    flags.extend(params.iter().map(|p| p.grad()).filter(|g| g.defined()).map(|g| g.isfinite().all()));
    Ok(bool::try_from(Tensor::stack(&flags, 0).all())?)
}

/// The loss parts with a NaN total when `now` (testing aid for the non-finite guard).
#[cfg(feature = "fault-injection")]
fn inject_nan(mut parts: LossParts, now: bool) -> LossParts {
    if now {
        parts.total = &parts.total * f64::NAN;
    }
    parts
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The perceptual loss of `y` (`x` stylized, image `n` as style `styles[n]`), each image
/// against its style's targets (`num_styles` = 1: the one style's).
fn perceptual_loss(
    objective: &PerceptualLoss,
    y: &Tensor,
    x: &Tensor,
    styles: &Tensor,
    num_styles: usize,
) -> LossParts {
    match num_styles {
        1 => objective.compute(y, x),
        _ => objective.compute_styled(y, x, styles),
    }
}

/// Mean weighted losses of `net` as style `style` over `images` (`batch_size` at a time, no
/// gradients).
fn validation_loss(
    objective: &PerceptualLoss,
    net: &TransformerNet,
    images: &[(String, RgbImage)],
    batch_size: usize,
    style: usize,
    device: Device,
) -> LossValues {
    let mut per_image = Vec::with_capacity(images.len());
    for chunk in images.chunks(batch_size.max(1)) {
        let x =
            Tensor::cat(&chunk.iter().map(|(_, img)| image_io::image_to_tensor(img, device)).collect::<Vec<_>>(), 0);
        let styles = Tensor::full([chunk.len() as i64], style as i64, (tch::Kind::Int64, device));
        let v = tch::no_grad(|| {
            perceptual_loss(objective, &net.forward_fast_each(&x, &styles), &x, &styles, net.num_styles())
        })
        .values();
        // A batch's loss is its images' mean: each image counts once.
        per_image.extend(std::iter::repeat_n(v, chunk.len()));
    }
    LossValues::mean(&per_image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_scaler_backs_off_on_overflow_and_grows_after_good_steps() {
        let mut s = LossScaler::new(true);
        s.scale = 1024.0;
        assert!(s.is_overflow(3.0) && !s.is_overflow(f64::NAN), "a non-finite loss is no overflow");
        s.update(true);
        assert_eq!(s.scale, 512.0);
        for _ in 0..LossScaler::GROWTH_INTERVAL {
            s.update(false);
        }
        assert_eq!(s.scale, 1024.0);
        let g = Tensor::from_slice(&[2.0f32, 4.0]).set_requires_grad(true);
        (&g * 8.0).sum(tch::Kind::Float).backward(); // gradient 8 = 1 · the scale 8
        let mut small = LossScaler::new(true);
        small.scale = 8.0;
        small.unscale(&[&g]);
        assert_eq!(Vec::<f32>::try_from(g.grad()).unwrap(), [1.0, 1.0]);
        let mut off = LossScaler::new(false);
        off.update(true);
        assert!(!off.is_overflow(1.0) && off.scale == 1.0, "disabled: never scales, every overflow fatal");
    }
}
