//! `trainer` exits non-zero with a clear message, naming the file, on bad configurations.

use std::process::Command;

fn trainer(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked at"), "{stderr}");
    (out.status.success(), stderr)
}

#[test]
fn unknown_config_field_names_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("style.json");
    std::fs::write(&cfg, r#"{"steps": 5, "style_wieght": 3}"#).unwrap();
    let (ok, err) = trainer(&["--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("style.json") && err.contains("unknown field `style_wieght`"), "{err}");
}

#[test]
fn missing_required_paths_say_which_flag() {
    let (ok, err) = trainer(&["--steps", "3"]);
    assert!(!ok && err.contains("no dataset") && err.contains("--dataset"), "{err}");
}

#[test]
fn a_dataset_path_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.jpg");
    std::fs::write(&f, b"x").unwrap();
    let p = f.to_str().unwrap();
    let (ok, err) = trainer(&["--dataset", p, "--style", p, "--vgg", p]);
    assert!(!ok && err.contains("is a file"), "{err}");
}

#[test]
fn a_folder_without_usable_images_fails_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("a.jpg"), b"").unwrap();
    let style = dir.path().join("s.png");
    std::fs::write(&style, b"x").unwrap();
    let (ok, err) = trainer(&[
        "--dataset",
        data.to_str().unwrap(),
        "--style",
        style.to_str().unwrap(),
        "--vgg",
        style.to_str().unwrap(),
        "--device",
        "cpu",
        "--out",
        dir.path().join("run").to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("no usable image") && err.contains("a.jpg"), "{err}");
    assert!(!err.contains("step 1"), "training must not start: {err}");
}

#[test]
fn bad_numbers_are_rejected() {
    let (ok, err) = trainer(&["--batch-size=-1"]);
    assert!(!ok && err.contains("invalid value '-1' for '--batch-size"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.png");
    std::fs::write(&f, b"x").unwrap();
    let (d, p) = (dir.path().to_str().unwrap(), f.to_str().unwrap());
    let (ok, err) = trainer(&["--dataset", d, "--style", p, "--vgg", p, "--batch-size", "0"]);
    assert!(!ok && err.contains("batch_size must be at least 1"), "{err}");
}
