//! The training data: a folder of photos, walked recursively, decoded in parallel ahead of
//! the training step.
//!
//! Images are listed by extension ([`faststyle::image_io::IMAGE_EXTENSIONS`]), ordered by a
//! seeded shuffle per epoch, resized so the shorter side is `image_size` (small images are
//! upscaled) and centre-cropped (PE's `Resize` + `CenterCrop`). A file that cannot be read
//! or decoded is reported once, with its path and the reason, and left out of later epochs;
//! [`LoaderStats`] counts them for the final summary.

use faststyle::image_io;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use walkdir::WalkDir;

/// Dataset problems that stop training before it starts.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Walking the folder failed (it vanished, or a permission error on the folder itself).
    #[error("{}: {reason}", path.display())]
    Walk {
        /// The folder.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// No file with an image extension under the folder.
    #[error("{}: no images found ({}) in this folder or below", path.display(), image_io::IMAGE_EXTENSIONS.join(", "))]
    Empty {
        /// The folder.
        path: PathBuf,
    },
    /// Every candidate file failed to decode.
    #[error("{}: no usable image: all {tried} image files failed to decode (see the messages above)", path.display())]
    NoneUsable {
        /// The folder.
        path: PathBuf,
        /// How many files were tried.
        tried: usize,
    },
    /// The loader thread ended without an error (it panicked): a bug.
    #[error("the data loader stopped unexpectedly")]
    LoaderStopped,
}

/// The image files of a dataset folder.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Files with an image extension, sorted by path.
    pub files: Vec<PathBuf>,
    /// Entries that could not be visited (a dangling link, an unreadable sub-folder), with
    /// the reason, to be reported and counted as skipped.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Lists the image files under `dir` (recursively, following symbolic links), sorted by
/// path so the order does not depend on the file system.
///
/// # Errors
/// [`DatasetError::Walk`] when `dir` itself cannot be read; [`DatasetError::Empty`] when no
/// file has an image extension.
pub fn list_images(dir: &Path) -> Result<Listing, DatasetError> {
    std::fs::read_dir(dir).map_err(|e| DatasetError::Walk { path: dir.to_path_buf(), reason: e.to_string() })?;
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    for entry in WalkDir::new(dir).follow_links(true) {
        match entry {
            Ok(e) if e.file_type().is_file() && image_io::has_image_extension(e.path()) => files.push(e.into_path()),
            Ok(_) => {}
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| dir.to_path_buf());
                if image_io::has_image_extension(&path) || e.io_error().is_some() {
                    unreadable.push((path, e.to_string()));
                }
            }
        }
    }
    if files.is_empty() {
        return Err(DatasetError::Empty { path: dir.to_path_buf() });
    }
    files.sort();
    Ok(Listing { files, unreadable })
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
}

/// What the loader skipped, for the final summary.
#[derive(Debug, Default)]
pub struct LoaderStats {
    /// Each skipped file once, with the reason.
    pub skipped: Mutex<Vec<(PathBuf, String)>>,
}

impl LoaderStats {
    /// Number of distinct files skipped so far.
    pub fn skipped_count(&self) -> usize {
        self.skipped.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// Called once per skipped file with its path and the reason (e.g. to print above a
/// progress bar).
pub type Reporter = Arc<dyn Fn(&Path, &str) + Send + Sync>;

/// A background thread that decodes batches ahead of the training step.
pub struct Loader {
    rx: Option<Receiver<Result<Batch, DatasetError>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    /// Skipped files.
    pub stats: Arc<LoaderStats>,
}

/// What the loader needs to know.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    /// The dataset folder (for messages).
    pub root: PathBuf,
    /// Images per batch.
    pub batch_size: usize,
    /// Side of the square crops, pixels.
    pub image_size: u32,
    /// Seed of the per-epoch shuffle.
    pub seed: u64,
    /// Batches kept ready ahead of the consumer.
    pub prefetch: usize,
}

/// The order of epoch `epoch`: the files shuffled by a ChaCha8 generator seeded with
/// `seed` and the epoch number (reproducible across platforms and releases).
pub fn epoch_order(files: &[PathBuf], seed: u64, epoch: u64) -> Vec<PathBuf> {
    let mut order = files.to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order
}

impl Loader {
    /// Starts the loader thread over a [`Listing`]; its unreadable entries are reported once
    /// through `report` and counted as skipped.
    pub fn spawn(listing: Listing, cfg: LoaderConfig, report: Reporter) -> Self {
        let Listing { files, unreadable: known_bad } = listing;
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
            .spawn(move || produce(files, cfg, report, stats2, stop2, |b| tx.send(b).is_ok()))
            .expect("spawning the loader thread");
        Loader { rx: Some(rx), stop, handle: Some(handle), stats }
    }

    /// The next batch, waiting for the loader if it is behind.
    ///
    /// # Errors
    /// [`DatasetError::NoneUsable`] when every file failed to decode;
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

/// Training crops whose spatial standard deviation (per channel, the largest of the three,
/// 0–255 units) is below this are skipped as blank: a uniform image has zero variance at every instance norm, whose
/// backward pass then multiplies the gradient by 1/√eps ≈ 316 per layer and overflows f32
/// (NaN weights within a few steps); it carries no content to learn from either.
pub const MIN_CROP_STD: f64 = 1.0;

/// Decodes one training crop: shorter side resized to `size`, centre-cropped.
///
/// # Errors
/// [`faststyle::Error::Decode`] (naming the file) for undecodable files and for crops that
/// are blank (pixel std below [`MIN_CROP_STD`]); [`faststyle::Error::Io`] for unreadable ones.
pub fn load_crop(path: &Path, size: u32) -> faststyle::Result<image::RgbImage> {
    let crop = image_io::resize_center_crop(&image_io::read_rgb(path)?, size);
    let std = max_channel_std(&crop);
    if std < MIN_CROP_STD {
        return Err(faststyle::Error::Decode {
            path: path.to_path_buf(),
            reason: format!(
                "the {size}x{size} training crop is blank (largest channel std {std:.2} < {MIN_CROP_STD}); \
                 nothing to learn from"
            ),
        });
    }
    Ok(crop)
}

/// The largest of the three per-channel spatial standard deviations of `img`, 0–255 units.
pub fn max_channel_std(img: &image::RgbImage) -> f64 {
    let n = (img.width() * img.height()).max(1) as f64;
    let (mut sum, mut sq) = ([0f64; 3], [0f64; 3]);
    for p in img.pixels() {
        for c in 0..3 {
            let v = p.0[c] as f64;
            sum[c] += v;
            sq[c] += v * v;
        }
    }
    (0..3).map(|c| (sq[c] / n - (sum[c] / n).powi(2)).max(0.0).sqrt()).fold(0.0, f64::max)
}

/// The loader loop: fills batches in epoch order, skipping bad files, until `send` fails
/// (the consumer is gone) or `stop` is set.
fn produce(
    files: Vec<PathBuf>,
    cfg: LoaderConfig,
    report: Reporter,
    stats: Arc<LoaderStats>,
    stop: Arc<AtomicBool>,
    send: impl Fn(Result<Batch, DatasetError>) -> bool,
) {
    let mut good = files;
    let mut epoch = 0u64;
    let mut order = epoch_order(&good, cfg.seed, epoch);
    let mut pos = 0usize;
    let frame = (cfg.image_size * cfg.image_size * 3) as usize;
    while !stop.load(Ordering::SeqCst) {
        let mut pixels = Vec::with_capacity(cfg.batch_size * frame);
        let mut n = 0;
        while n < cfg.batch_size {
            if pos >= order.len() {
                let bad = stats.skipped.lock().expect("loader stats");
                good.retain(|p| !bad.iter().any(|(b, _)| b == p));
                drop(bad);
                if good.is_empty() {
                    let tried = stats.skipped_count();
                    send(Err(DatasetError::NoneUsable { path: cfg.root.clone(), tried }));
                    return;
                }
                epoch += 1;
                order = epoch_order(&good, cfg.seed, epoch);
                pos = 0;
            }
            let take = (cfg.batch_size - n).min(order.len() - pos);
            let chunk = &order[pos..pos + take];
            pos += take;
            let decoded: Vec<_> = chunk.par_iter().map(|p| load_crop(p, cfg.image_size)).collect();
            for (p, r) in chunk.iter().zip(decoded) {
                match r {
                    Ok(img) => {
                        pixels.extend_from_slice(img.as_raw());
                        n += 1;
                    }
                    Err(e) => {
                        let mut bad = stats.skipped.lock().expect("loader stats");
                        if !bad.iter().any(|(b, _)| b == p) {
                            let why = e.to_string();
                            report(p, &why);
                            bad.push((p.clone(), why));
                        }
                    }
                }
            }
        }
        if !send(Ok(Batch { pixels, n, size: cfg.image_size })) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_means_uniform_per_channel() {
        let uniform = image::RgbImage::from_pixel(8, 8, image::Rgb([9, 99, 199]));
        assert_eq!(max_channel_std(&uniform), 0.0);
        // Only the blue channel varies (0/4 checkerboard): std 2.
        let blue = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([9, 99, if (x + y) % 2 == 0 { 0 } else { 4 }]));
        assert!((max_channel_std(&blue) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn epoch_order_is_seeded() {
        let files: Vec<PathBuf> = (0..20).map(|i| PathBuf::from(format!("{i}.jpg"))).collect();
        assert_eq!(epoch_order(&files, 1, 0), epoch_order(&files, 1, 0));
        assert_ne!(epoch_order(&files, 1, 0), epoch_order(&files, 2, 0));
        assert_ne!(epoch_order(&files, 1, 0), epoch_order(&files, 1, 1));
        let mut sorted = epoch_order(&files, 1, 0);
        sorted.sort();
        let mut expect = files.clone();
        expect.sort();
        assert_eq!(sorted, expect);
    }
}
