//! Where training images come from: a folder of photos (listed with
//! [`faststyle::image_io::list_images`], decoded and cropped on the fly) or a prepared cache
//! ([`crate::cache`]), opened by [`open_source`] with the fingerprint a run folder records.

use crate::cache::{self, Cache, CacheError};
use crate::crop::load_crop;
use faststyle::image_io::{list_images, ImageListing};
use std::path::{Path, PathBuf};

/// A training source: items numbered `0..len()`, each loadable as a square crop.
#[derive(Debug)]
pub enum Source {
    /// Image files, decoded and cropped on the fly.
    Folder {
        /// The dataset folder.
        root: PathBuf,
        /// Its image files, sorted.
        files: Vec<PathBuf>,
    },
    /// A prepared cache of crops (see [`crate::cache`]).
    Cache(Cache),
}

impl Source {
    /// Number of items (files or cached crops).
    pub fn len(&self) -> usize {
        match self {
            Source::Folder { files, .. } => files.len(),
            Source::Cache(c) => c.len(),
        }
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The folder or cache file (for messages).
    pub fn root(&self) -> &Path {
        match self {
            Source::Folder { root, .. } => root,
            Source::Cache(c) => c.path(),
        }
    }

    /// The path of item `i` (the source file of a cached crop), for messages.
    pub fn item_path(&self, i: usize) -> PathBuf {
        match self {
            Source::Folder { files, .. } => files[i].clone(),
            Source::Cache(c) => PathBuf::from(c.name(i)),
        }
    }

    /// Item `i` as a `size×size` RGB crop, 0–255.
    ///
    /// # Errors
    /// Decoding errors, blank crops, or a cache of another crop size; each names the item.
    pub fn load(&self, i: usize, size: u32) -> faststyle::Result<image::RgbImage> {
        match self {
            Source::Folder { files, .. } => load_crop(&files[i], size),
            Source::Cache(c) => c.crop(i, size),
        }
    }
}

/// A training source opened by [`open_source`].
pub struct OpenedSource {
    /// Where training images come from.
    pub source: Source,
    /// Files found but not visitable at listing time: (path, reason). Empty for a cache.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Dataset fingerprint stored in the run folder (`cache:<sha256>` or a folder digest).
    pub fingerprint: String,
}

/// Opens the training source named by `dataset`: a cache file (by its magic) or a folder.
///
/// # Errors
/// A cache that is corrupt or stale (for crops of `image_size`); a path that is neither a
/// folder nor a cache; a folder without images.
pub fn open_source(dataset: &Path, image_size: u32) -> Result<OpenedSource, CacheError> {
    if dataset.is_file() {
        if !cache::is_cache(dataset) {
            return Err(CacheError::Corrupt {
                path: dataset.to_path_buf(),
                reason: "the dataset is a file but not a faststyle dataset cache; give a folder of images or a file made by `trainer prepare`".into(),
            });
        }
        let cache = Cache::open(dataset)?;
        cache.check_fresh(image_size)?;
        let fingerprint = format!("cache:{}", cache.index().fingerprint);
        return Ok(OpenedSource { source: Source::Cache(cache), unreadable: Vec::new(), fingerprint });
    }
    let listing = list_images(dataset)?;
    let fingerprint = cache::folder_fingerprint(dataset, &listing);
    let ImageListing { files, unreadable } = listing;
    Ok(OpenedSource { source: Source::Folder { root: dataset.to_path_buf(), files }, unreadable, fingerprint })
}
