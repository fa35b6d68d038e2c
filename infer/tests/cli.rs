//! `infer` exits non-zero with a clear message naming the file on bad input.

use std::process::Command;

#[path = "../../tests/support/run.rs"]
#[allow(dead_code)]
mod run;

fn infer(args: &[&str]) -> (bool, String) {
    run::run(Command::new(env!("CARGO_BIN_EXE_infer")).args(args)).ok_and_stderr()
}

#[test]
fn missing_model_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("in.png");
    image::RgbImage::new(8, 8).save(&img).unwrap();
    let (ok, err) = infer(&[
        "--model",
        "/nonexistent/model.safetensors",
        "--input",
        img.to_str().unwrap(),
        "--output",
        "/tmp/x.png",
        "--device",
        "cpu",
    ]);
    assert!(!ok && err.contains("/nonexistent/model.safetensors"), "{err}");
}

#[test]
fn corrupt_model_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    std::fs::write(&model, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}").unwrap();
    let (ok, err) = infer(&["inspect", model.to_str().unwrap()]);
    assert!(!ok && err.contains("m.safetensors") && err.contains("not a valid safetensors file"), "{err}");
}

#[test]
fn required_arguments() {
    let (ok, err) = infer(&["--input", "x.png"]);
    assert!(!ok && err.contains("--output"), "{err}");
}
