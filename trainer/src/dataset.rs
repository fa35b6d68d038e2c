//! The training stream: the items of a [`Source`] split into training and validation by
//! seed, and a background [`Loader`] that decodes batches in parallel ahead of the training
//! step.
//!
//! The stream is a sequence of epochs, each a seeded shuffle of the training indices; a
//! [`StreamPos`] (epoch, position) identifies the next image, so a resumed run continues with
//! exactly the batches it would have seen. An item that cannot be read or decoded, or whose
//! crop is blank, is reported once through a [`Reporter`], with its path and the reason, and
//! skipped (in later epochs without decoding it again); [`LoaderStats`] counts them for the
//! final summary.

use crate::source::Source;
use faststyle::progress::Reporter;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Why the loader could not deliver a batch.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Every candidate failed to decode.
    #[error("{}: no usable image: all {tried} image files failed (see the messages above)", path.display())]
    NoneUsable {
        /// The folder or cache.
        path: PathBuf,
        /// How many items were tried.
        tried: usize,
    },
    /// The loader thread ended without an error (it panicked): a bug.
    #[error("the data loader stopped unexpectedly")]
    LoaderStopped,
}

/// Indices of the training and validation items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Training items, in source order.
    pub train: Vec<usize>,
    /// Held-out validation items, in source order.
    pub val: Vec<usize>,
}

/// Splits `n` items by seed: `max(⌈fraction·n⌉, min_val)` items are held out for
/// validation, but never more than a quarter of the data (so a tiny folder still trains).
pub fn split(n: usize, seed: u64, fraction: f64, min_val: usize) -> Split {
    let want = ((fraction * n as f64).ceil() as usize).max(min_val).min(n / 4);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x005E_ED0F_5A11_DA7A));
    let mut val = order[..want].to_vec();
    let mut train = order[want..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    Split { train, val }
}

/// The position of the next image in the training stream: item `pos` of epoch `epoch`'s
/// order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPos {
    /// Epoch number, from 0.
    pub epoch: u64,
    /// Index into that epoch's order.
    pub pos: usize,
}

/// The order of epoch `epoch`: `items` shuffled by a ChaCha8 generator seeded with `seed` and
/// the epoch number (reproducible across platforms and releases).
pub fn epoch_order<T: Clone>(items: &[T], seed: u64, epoch: u64) -> Vec<T> {
    let mut order = items.to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order
}

/// A training batch: `n` images of `size×size` RGB, packed HWC, image after image
/// (`n·size·size·3` bytes). [`faststyle::image_io::hwc_bytes_to_batch`] makes it a tensor.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Packed pixels.
    pub pixels: Vec<u8>,
    /// Images in the batch.
    pub n: usize,
    /// Side of each image.
    pub size: u32,
    /// Where the stream continues after this batch (saved in checkpoints for resuming).
    pub next: StreamPos,
}

/// What the loader skipped, for the final summary.
#[derive(Debug, Default)]
pub struct LoaderStats {
    /// Each skipped item once, with the reason.
    pub skipped: Mutex<Vec<(PathBuf, String)>>,
}

impl LoaderStats {
    /// Number of distinct items skipped so far.
    pub fn skipped_count(&self) -> usize {
        self.skipped.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// What the loader needs to know.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    /// Images per batch.
    pub batch_size: usize,
    /// Side of the square crops, pixels.
    pub image_size: u32,
    /// Seed of the per-epoch shuffle.
    pub seed: u64,
    /// Batches kept ready ahead of the consumer.
    pub prefetch: usize,
    /// Where the stream starts (0 for a new run, the checkpoint's position when resuming).
    pub start: StreamPos,
}

/// A background thread that decodes batches ahead of the training step.
pub struct Loader {
    rx: Option<Receiver<Result<Batch, DatasetError>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    /// Skipped items.
    pub stats: Arc<LoaderStats>,
}

impl Loader {
    /// Starts the loader thread over the `train` items of `source`. `known_bad` (entries
    /// that could not even be listed) are reported once through `report` and counted.
    pub fn spawn(
        source: Arc<Source>,
        train: Vec<usize>,
        known_bad: Vec<(PathBuf, String)>,
        cfg: LoaderConfig,
        report: Reporter,
    ) -> Self {
        let (tx, rx) = sync_channel(cfg.prefetch.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(LoaderStats::default());
        for (p, why) in &known_bad {
            report(p, why);
        }
        stats.skipped.lock().expect("fresh mutex").extend(known_bad);
        let (stop2, stats2) = (stop.clone(), stats.clone());
        let handle = std::thread::Builder::new()
            .name("loader".into())
            .spawn(move || produce(&source, &train, &cfg, &report, &stats2, &stop2, |b| tx.send(b).is_ok()))
            .expect("spawning the loader thread");
        Loader { rx: Some(rx), stop, handle: Some(handle), stats }
    }

    /// The next batch, waiting for the loader if it is behind.
    ///
    /// # Errors
    /// [`DatasetError::NoneUsable`] when every item failed to decode;
    /// [`DatasetError::LoaderStopped`] if the loader thread ended unexpectedly.
    pub fn next_batch(&self) -> Result<Batch, DatasetError> {
        match self.rx.as_ref().map(Receiver::recv) {
            Some(Ok(batch)) => batch,
            _ => Err(DatasetError::LoaderStopped),
        }
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Closing the channel makes a send blocked on a full queue fail, so the thread exits.
        drop(self.rx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The loader loop: fills batches from the stream, skipping bad items, until `send` fails
/// (the consumer is gone) or `stop` is set.
fn produce(
    source: &Source,
    train: &[usize],
    cfg: &LoaderConfig,
    report: &Reporter,
    stats: &LoaderStats,
    stop: &AtomicBool,
    send: impl Fn(Result<Batch, DatasetError>) -> bool,
) {
    let mut at = cfg.start;
    let mut order = epoch_order(train, cfg.seed, at.epoch);
    let mut bad: HashSet<usize> = HashSet::new();
    let mut good_this_epoch = 0usize;
    let frame = (cfg.image_size * cfg.image_size * 3) as usize;
    while !stop.load(Ordering::SeqCst) {
        let mut pixels = Vec::with_capacity(cfg.batch_size * frame);
        let mut n = 0;
        while n < cfg.batch_size {
            if at.pos >= order.len() {
                if good_this_epoch == 0 && bad.len() >= train.len() {
                    send(Err(DatasetError::NoneUsable { path: source.root().to_path_buf(), tried: bad.len() }));
                    return;
                }
                at = StreamPos { epoch: at.epoch + 1, pos: 0 };
                order = epoch_order(train, cfg.seed, at.epoch);
                good_this_epoch = 0;
            }
            // Decode the next few candidates in parallel, skipping the known-bad ones.
            let want = cfg.batch_size - n;
            let mut chunk = Vec::with_capacity(want);
            while chunk.len() < want && at.pos < order.len() {
                let item = order[at.pos];
                at.pos += 1;
                if !bad.contains(&item) {
                    chunk.push(item);
                }
            }
            let decoded: Vec<_> = chunk.par_iter().map(|&i| source.load(i, cfg.image_size)).collect();
            for (&item, r) in chunk.iter().zip(decoded) {
                match r {
                    Ok(img) => {
                        pixels.extend_from_slice(img.as_raw());
                        n += 1;
                        good_this_epoch += 1;
                    }
                    Err(e) => {
                        bad.insert(item);
                        let path = source.item_path(item);
                        let mut skipped = stats.skipped.lock().expect("loader stats");
                        if !skipped.iter().any(|(p, _)| *p == path) {
                            let why = e.to_string();
                            report(&path, &why);
                            skipped.push((path, why));
                        }
                    }
                }
            }
        }
        if !send(Ok(Batch { pixels, n, size: cfg.image_size, next: at })) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_order_is_seeded() {
        let files: Vec<usize> = (0..20).collect();
        assert_eq!(epoch_order(&files, 1, 0), epoch_order(&files, 1, 0));
        assert_ne!(epoch_order(&files, 1, 0), epoch_order(&files, 2, 0));
        assert_ne!(epoch_order(&files, 1, 0), epoch_order(&files, 1, 1));
        let mut sorted = epoch_order(&files, 1, 0);
        sorted.sort();
        assert_eq!(sorted, files);
    }

    #[test]
    fn split_sizes_and_determinism() {
        let s = split(1000, 3, 0.01, 8);
        assert_eq!((s.train.len(), s.val.len()), (990, 10));
        assert_eq!(s, split(1000, 3, 0.01, 8));
        assert_ne!(s.val, split(1000, 4, 0.01, 8).val);
        assert!(s.val.iter().all(|v| !s.train.contains(v)));
        assert_eq!(split(100, 3, 0.01, 8).val.len(), 8); // at least 8
        assert_eq!(split(7, 3, 0.01, 8).val.len(), 1); // at most a quarter
        assert_eq!(split(3, 3, 0.01, 8).val.len(), 0);
    }
}
