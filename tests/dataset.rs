//! The training loader skips unreadable files: each is reported once and counted.

use faststyle::image_io::{list_images, ImageListing as Listing};
use faststyle::progress::Reporter;
use faststyle_suite::write_scenes;
use faststyle_trainer::dataset::{DatasetError, Loader, LoaderConfig};
use faststyle_trainer::source::Source;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn collecting_reporter() -> (Reporter, Arc<Mutex<Vec<PathBuf>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (Arc::new(move |p: &Path, _why: &str| s.lock().unwrap().push(p.to_path_buf())), seen)
}

/// A loader over every file of `listing` (no validation split), from the stream's start.
fn spawn(listing: Listing, root: &Path, batch_size: usize, report: Reporter) -> Loader {
    let n = listing.files.len();
    let source = Arc::new(Source::Folder { root: root.to_path_buf(), files: listing.files });
    let cfg = LoaderConfig { batch_size, image_size: 24, seed: 5, prefetch: 2, start: Default::default() };
    Loader::spawn(source, (0..n).collect(), listing.unreadable, cfg, report)
}

#[test]
fn bad_files_are_skipped_reported_once_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_scenes(&dir.path().join("sub"), 4, 40, 30, 0);
    // A truncated JPEG, a zero-byte file and a text file named .jpg; a .txt is not an image.
    let jpeg = std::fs::read(&good[0]).unwrap();
    std::fs::write(dir.path().join("corrupt.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    std::fs::write(dir.path().join("empty.jpg"), b"").unwrap();
    std::fs::write(dir.path().join("notes.jpg"), b"this is text, not an image").unwrap();
    std::fs::write(dir.path().join("readme.txt"), b"ignored").unwrap();

    let listing = list_images(dir.path()).unwrap();
    assert_eq!(listing.files.len(), 7, "4 scenes + 3 bad .jpg; the .txt is not listed");
    assert!(listing.unreadable.is_empty());
    let (report, seen) = collecting_reporter();
    let loader = spawn(listing, dir.path(), 3, report);
    // 8 batches of 3 = 24 images: several epochs over the 4 good ones.
    for _ in 0..8 {
        let b = loader.next_batch().unwrap();
        assert_eq!((b.n, b.size, b.pixels.len()), (3, 24, 3 * 24 * 24 * 3));
    }
    assert_eq!(loader.stats.skipped_count(), 3);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let names: Vec<_> = seen.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["corrupt.jpg", "empty.jpg", "notes.jpg"], "each bad file reported exactly once");
}

#[test]
fn a_folder_with_no_usable_image_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jpg"), b"").unwrap();
    std::fs::write(dir.path().join("b.png"), b"not a png").unwrap();
    let (report, _) = collecting_reporter();
    let loader = spawn(list_images(dir.path()).unwrap(), dir.path(), 2, report);
    let err = loader.next_batch().unwrap_err();
    assert!(matches!(err, DatasetError::NoneUsable { tried: 2, .. }), "{err}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));
}

#[test]
fn an_empty_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("readme.txt"), b"no images").unwrap();
    let err = list_images(dir.path()).unwrap_err();
    assert!(matches!(err, faststyle::Error::NoImages { .. }), "{err}");
}

#[test]
fn same_seed_same_batches() {
    let dir = tempfile::tempdir().unwrap();
    write_scenes(dir.path(), 6, 32, 32, 10);
    let run = || {
        let loader = spawn(list_images(dir.path()).unwrap(), dir.path(), 2, collecting_reporter().0);
        (0..4).map(|_| loader.next_batch().unwrap().pixels).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn a_file_that_vanishes_after_listing_is_skipped() {
    // The read of a listed file fails (as for a permission error or a file deleted mid-run):
    // it is reported once and skipped.
    let dir = tempfile::tempdir().unwrap();
    let files = write_scenes(dir.path(), 3, 32, 32, 20);
    let listing = list_images(dir.path()).unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    let (report, seen) = collecting_reporter();
    let loader = spawn(listing, dir.path(), 2, report);
    for _ in 0..3 {
        assert_eq!(loader.next_batch().unwrap().n, 2);
    }
    assert_eq!(loader.stats.skipped_count(), 1);
    assert_eq!(seen.lock().unwrap().as_slice(), [files[1].clone()]);
}

#[cfg(unix)]
#[test]
fn a_dangling_link_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    write_scenes(dir.path(), 2, 32, 32, 30);
    std::os::unix::fs::symlink(dir.path().join("gone.jpg"), dir.path().join("link.jpg")).unwrap();
    let listing = list_images(dir.path()).unwrap();
    assert_eq!(listing.files.len(), 2);
    assert_eq!(listing.unreadable.len(), 1, "{:?}", listing.unreadable);
    let (report, seen) = collecting_reporter();
    let loader = spawn(listing, dir.path(), 2, report);
    assert_eq!(loader.next_batch().unwrap().n, 2);
    assert_eq!(loader.stats.skipped_count(), 1);
    assert!(seen.lock().unwrap()[0].ends_with("link.jpg"));
}
