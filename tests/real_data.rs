//! Real-data checks on ../shared/data (photos nobody here made). They print SKIPPED and pass
//! when that folder is absent, e.g. on a machine without the shared data.

use faststyle::image_io::{fit_within, read_rgb};
use faststyle_infer::output_path_for;
use faststyle_suite::bin;
use std::path::{Path, PathBuf};
use std::process::Command;

fn shared_data(sub: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(sub);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {} is absent; this real-data check only runs beside ../shared", p.display());
        None
    }
}

/// Every photo of ../shared/data/content (JPEG, PNG, TIFF, grayscale, 228–1120 px) is
/// stylized by the built-in model, and each output has the `--max-size` size of its input.
#[test]
fn every_content_photo_stylizes_at_the_expected_size() {
    let Some(content) = shared_data("content") else { return };
    let out = tempfile::tempdir().unwrap();
    const MAX: u32 = 160; // keeps the test fast; `infer` without --max-size keeps full size
    let status = Command::new(bin("infer"))
        .args(["--input", content.to_str().unwrap(), "--output", out.path().to_str().unwrap(), "--device", "cpu"])
        .args(["--max-size", &MAX.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(status.status.success() && !stderr.contains("panicked"), "{stderr}");
    let mut n = 0;
    for entry in std::fs::read_dir(&content).unwrap() {
        let input = entry.unwrap().path();
        let (w, h) = read_rgb(&input).unwrap().dimensions();
        let output = output_path_for(&content, &input, out.path());
        let styled = image::open(&output).unwrap_or_else(|e| panic!("{}: {e}", output.display()));
        assert_eq!((styled.width(), styled.height()), fit_within(w, h, MAX), "{}", input.display());
        n += 1;
    }
    assert!(n >= 30, "expected the 30 content photos, found {n}");
}
