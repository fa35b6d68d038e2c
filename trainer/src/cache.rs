//! A prepared dataset cache: every training image decoded, resized and centre-cropped once,
//! packed as raw RGB bytes and memory-mapped at training time, so the training step never
//! waits on JPEG decoding (in the spirit of JJ's HDF5 file, `make_style_dataset.py`).
//!
//! Layout (little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `FSTCACHE` |
//! | 8 | 4 | format version ([`VERSION`]) |
//! | 12 | 4 | crop side S, pixels |
//! | 16 | 8 | count N |
//! | 24 | 8 | index offset = [`DATA_OFFSET`] + N·S·S·3 |
//! | 32 | 8 | index length L, bytes |
//! | 4096 | N·S·S·3 | crops, HWC RGB u8, one after another |
//! | index offset | L | JSON [`CacheIndex`]: source folder, fingerprint, names |
//!
//! A file whose magic, version, sizes or index do not add up is refused as corrupt; one made
//! at another crop size, or from a folder that has changed since, is refused as stale.

use crate::crop::load_crop;
use faststyle::image_io::{list_images, ImageListing};
use faststyle::progress::Reporter;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// File magic.
pub const MAGIC: &[u8; 8] = b"FSTCACHE";
/// Cache format version written and read by this build.
pub const VERSION: u32 = 1;
/// Where the crops start (page-aligned for the memory map).
pub const DATA_OFFSET: u64 = 4096;
const HEADER_LEN: usize = 40;

/// Cache problems: each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache file (or the folder it is made from) could not be read or written.
    #[error(transparent)]
    File(#[from] faststyle::Error),
    /// Not a cache, or damaged.
    #[error("{}: corrupt dataset cache: {reason}", path.display())]
    Corrupt {
        /// The cache file.
        path: PathBuf,
        /// What does not add up.
        reason: String,
    },
    /// A valid cache that does not fit this run.
    #[error("{}: stale dataset cache: {reason}; rebuild it with `trainer prepare`", path.display())]
    Stale {
        /// The cache file.
        path: PathBuf,
        /// Why it does not fit.
        reason: String,
    },
    /// Every image of the folder failed to decode or was blank.
    #[error("{}: no usable image to cache: all {tried} image files failed (see the messages above)", path.display())]
    NoneUsable {
        /// The folder.
        path: PathBuf,
        /// How many files were tried.
        tried: usize,
    },
}

/// The JSON index at the end of a cache file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CacheIndex {
    /// The folder the crops came from, as given to `prepare`.
    pub source: PathBuf,
    /// [`folder_fingerprint`] of that folder when the cache was made.
    pub fingerprint: String,
    /// Source file of each crop, in cache order.
    pub names: Vec<String>,
    /// Files left out (unreadable, undecodable or blank), with the reason.
    pub skipped: Vec<(String, String)>,
}

/// A fingerprint of a folder's image files: SHA-256 over their relative paths and sizes, in
/// sorted order. It changes when a file is added, removed, renamed, or replaced by one of
/// another size; it stays when the folder is copied, re-mounted or synced elsewhere (which
/// resets modification times but keeps the training data, so a run resumes and a cache stays
/// valid on another machine). An image edited in place to exactly its old size goes unseen.
pub fn folder_fingerprint(dir: &Path, listing: &ImageListing) -> String {
    let mut h = Sha256::new();
    for f in &listing.files {
        let rel = f.strip_prefix(dir).unwrap_or(f);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        if let Ok(m) = std::fs::metadata(f) {
            h.update(m.len().to_le_bytes());
        }
    }
    format!("{:x}", h.finalize())
}

/// What `prepare` did.
#[derive(Debug, Clone)]
pub struct PrepareSummary {
    /// Crops written.
    pub written: usize,
    /// Files left out.
    pub skipped: usize,
    /// Size of the cache file, bytes.
    pub bytes: u64,
}

/// Decodes every image under `dataset` in parallel, crops it to `image_size`, and writes the
/// cache to `out` atomically (temp file + rename). Bad and blank images are reported through
/// `report` and left out.
///
/// # Errors
/// The folder cannot be listed or has no usable image; the file cannot be written.
pub fn prepare(dataset: &Path, image_size: u32, out: &Path, report: &Reporter) -> Result<PrepareSummary, CacheError> {
    let listing = list_images(dataset)?;
    let fingerprint = folder_fingerprint(dataset, &listing);
    let mut skipped: Vec<(String, String)> = Vec::new();
    for (p, why) in &listing.unreadable {
        report(p, why);
        skipped.push((p.display().to_string(), why.clone()));
    }
    let mut names = Vec::new();
    let frame = (image_size as u64) * (image_size as u64) * 3;
    faststyle::fsutil::write_atomic(out, |w| -> Result<(), CacheError> {
        let ferr = |e: std::io::Error| faststyle::Error::io(out, e);
        w.write_all(&[0u8; DATA_OFFSET as usize]).map_err(ferr)?;
        // Chunks bound the memory in flight: 256 crops of 256² are 50 MB.
        for chunk in listing.files.chunks(256) {
            let crops: Vec<_> = chunk.par_iter().map(|f| load_crop(f, image_size)).collect();
            for (f, crop) in chunk.iter().zip(crops) {
                match crop {
                    Ok(img) => {
                        w.write_all(img.as_raw()).map_err(ferr)?;
                        names.push(f.strip_prefix(dataset).unwrap_or(f).display().to_string());
                    }
                    Err(e) => {
                        report(f, &e.to_string());
                        skipped.push((f.display().to_string(), e.to_string()));
                    }
                }
            }
        }
        if names.is_empty() {
            return Err(CacheError::NoneUsable { path: dataset.to_path_buf(), tried: skipped.len() });
        }
        let index = CacheIndex {
            source: dataset.to_path_buf(),
            fingerprint: fingerprint.clone(),
            names: names.clone(),
            skipped: skipped.clone(),
        };
        // Only a source path that is not UTF-8 fails to serialise.
        let json = serde_json::to_vec(&index)
            .map_err(|e| ferr(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())))?;
        w.write_all(&json).map_err(ferr)?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend(VERSION.to_le_bytes());
        header.extend(image_size.to_le_bytes());
        header.extend((names.len() as u64).to_le_bytes());
        header.extend((DATA_OFFSET + names.len() as u64 * frame).to_le_bytes());
        header.extend((json.len() as u64).to_le_bytes());
        w.seek(SeekFrom::Start(0)).map_err(ferr)?;
        w.write_all(&header).map_err(ferr)?;
        Ok(())
    })?;
    let bytes = std::fs::metadata(out).map_err(|e| faststyle::Error::io(out, e))?.len();
    Ok(PrepareSummary { written: names.len(), skipped: skipped.len(), bytes })
}

/// Whether `path` starts with the cache magic (a cheap test to tell a cache from a folder
/// or another file).
pub fn is_cache(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok() && &magic == MAGIC
}

/// An open, validated cache (memory-mapped).
#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    map: memmap2::Mmap,
    image_size: u32,
    count: usize,
    index: CacheIndex,
}

impl Cache {
    /// Opens and validates a cache file.
    ///
    /// # Errors
    /// [`CacheError::Io`]; [`CacheError::Corrupt`] for a wrong magic or version, sizes that
    /// do not match the file's length, or an unreadable index.
    pub fn open(path: &Path) -> Result<Self, CacheError> {
        let corrupt = |reason: String| CacheError::Corrupt { path: path.to_path_buf(), reason };
        let file = std::fs::File::open(path).map_err(|e| faststyle::Error::io(path, e))?;
        // SAFETY: read-only map, kept alive by `self`; the file is not expected to change
        // while training reads it (as with any mmap-based data loader).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| faststyle::Error::io(path, e))?;
        if map.len() < HEADER_LEN || &map[..8] != MAGIC {
            return Err(corrupt("not a faststyle dataset cache (bad magic)".into()));
        }
        let u32_at = |o: usize| u32::from_le_bytes(map[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(map[o..o + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(corrupt(format!("format version {version}, this build reads {VERSION}")));
        }
        let (size, count, index_offset, index_len) = (u32_at(12), u64_at(16), u64_at(24), u64_at(32));
        let frame = (size as u64).checked_mul(size as u64).and_then(|x| x.checked_mul(3));
        let data_end = frame.and_then(|f| f.checked_mul(count)).and_then(|d| d.checked_add(DATA_OFFSET));
        if size == 0 || data_end != Some(index_offset) || index_offset.checked_add(index_len) != Some(map.len() as u64)
        {
            return Err(corrupt(format!(
                "header says {count} crops of {size}×{size} and a {index_len}-byte index, which does not match the file's {} bytes (truncated?)",
                map.len()
            )));
        }
        let index: CacheIndex = serde_json::from_slice(&map[index_offset as usize..])
            .map_err(|e| corrupt(format!("unreadable index: {e}")))?;
        if index.names.len() as u64 != count {
            return Err(corrupt(format!("index lists {} names for {count} crops", index.names.len())));
        }
        Ok(Cache { path: path.to_path_buf(), map, image_size: size, count: count as usize, index })
    }

    /// Checks the cache fits a run: crops of `image_size`, and — when the source folder is
    /// still there — made from the folder as it is now.
    ///
    /// # Errors
    /// [`CacheError::Stale`] naming what differs.
    pub fn check_fresh(&self, image_size: u32) -> Result<(), CacheError> {
        let stale = |reason: String| CacheError::Stale { path: self.path.clone(), reason };
        if self.image_size != image_size {
            return Err(stale(format!("it holds {0}×{0} crops but image_size is {image_size}", self.image_size)));
        }
        if self.index.source.is_dir() {
            let now = list_images(&self.index.source).map(|l| folder_fingerprint(&self.index.source, &l));
            if now.ok().as_deref() != Some(self.index.fingerprint.as_str()) {
                return Err(stale(format!("{} has changed since the cache was made", self.index.source.display())));
            }
        }
        Ok(())
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of crops.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the cache holds no crop.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Side of the crops, pixels.
    pub fn image_size(&self) -> u32 {
        self.image_size
    }

    /// The index (source folder, fingerprint, names).
    pub(crate) fn index(&self) -> &CacheIndex {
        &self.index
    }

    /// The source file of crop `i` (relative to the source folder).
    pub fn name(&self, i: usize) -> &str {
        &self.index.names[i]
    }

    /// Crop `i` as an image; `size` must be the cache's.
    ///
    /// # Errors
    /// [`faststyle::Error::Config`] for another size (see [`Cache::check_fresh`]).
    pub fn crop(&self, i: usize, size: u32) -> faststyle::Result<image::RgbImage> {
        if size != self.image_size {
            return Err(faststyle::Error::Config(format!(
                "{}: cache crops are {}px, not {size}px",
                self.path.display(),
                self.image_size
            )));
        }
        let frame = (size * size * 3) as usize;
        let start = DATA_OFFSET as usize + i * frame;
        Ok(image::RgbImage::from_raw(size, size, self.map[start..start + frame].to_vec())
            .expect("frame has S·S·3 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_changes_with_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.png");
        image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 9, y as u8 * 9, 3])).save(&a).unwrap();
        let fp = |d: &Path| folder_fingerprint(d, &list_images(d).unwrap());
        let first = fp(dir.path());
        assert_eq!(first, fp(dir.path()));
        std::fs::copy(&a, dir.path().join("b.png")).unwrap();
        assert_ne!(first, fp(dir.path()));
    }

    #[test]
    fn fingerprint_survives_a_copy_but_not_a_resized_file() {
        // A folder copied elsewhere (new modification times, as after rsync without -t or a
        // fresh mount) keeps its fingerprint; a file replaced by one of another size does not.
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let img = |v: u8| image::RgbImage::from_fn(8, 8, move |x, y| image::Rgb([x as u8 * v, y as u8, 3]));
        img(9).save(one.path().join("a.png")).unwrap();
        let fp = |d: &Path| folder_fingerprint(d, &list_images(d).unwrap());
        let before = fp(one.path());
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
        std::fs::copy(one.path().join("a.png"), two.path().join("a.png")).unwrap();
        std::fs::File::options().write(true).open(two.path().join("a.png")).unwrap().set_modified(old).unwrap();
        assert_eq!(before, fp(two.path()), "a copy with another mtime is the same data");
        image::RgbImage::from_fn(16, 8, |x, y| image::Rgb([x as u8, y as u8, 7]))
            .save(two.path().join("a.png"))
            .unwrap();
        assert_ne!(before, fp(two.path()), "a replaced file of another size is new data");
    }
}
