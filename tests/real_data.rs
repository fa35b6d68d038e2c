//! Real-data checks on ../shared/data (photos nobody here made). `#[ignore]`d: `make test-real`
//! runs them, and `make test` too when that folder is there.

use faststyle::image_io::{fit_within, read_rgb};
use faststyle_infer::output_path_for;
use faststyle_suite::{real_data, run_bin};

/// Every photo of the real `content/` folder (JPEG, PNG, TIFF, grayscale, 228–1120 px) is
/// stylized by the built-in model, and each output has the `--max-size` size of its input.
#[test]
#[ignore = "reads real photos and weights from ../shared/data: make test-real (make test runs it when the folder is there)"]
fn every_content_photo_stylizes_at_the_expected_size() {
    let content = real_data("content");
    let out = tempfile::tempdir().unwrap();
    const MAX: u32 = 160; // keeps the test fast; `infer` without --max-size keeps full size
    let (content_arg, out_arg, max) = (content.to_str().unwrap(), out.path().to_str().unwrap(), MAX.to_string());
    let ran = run_bin("infer", &["--input", content_arg, "--output", out_arg, "--device", "cpu", "--max-size", &max]);
    assert!(ran.ok(), "{}", ran.stderr);
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
