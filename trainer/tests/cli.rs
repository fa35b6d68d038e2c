//! `trainer` exits non-zero with a clear message, naming the file, on bad configurations.

use std::process::Command;

#[path = "../../tests/support/run.rs"]
#[allow(dead_code)]
mod run;

fn trainer(args: &[&str]) -> (bool, String) {
    run::run(Command::new(env!("CARGO_BIN_EXE_trainer")).args(args)).ok_and_stderr()
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

#[test]
fn every_bad_config_value_exits_non_zero_naming_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.png");
    std::fs::write(&f, b"x").unwrap();
    let base = serde_json::json!({"dataset": dir.path(), "style_image": f, "vgg_weights": f});
    let cases = [
        ("neg_style", serde_json::json!({"style_weight": -1.0}), "style_weight must be finite and ≥ 0"),
        ("neg_content", serde_json::json!({"content_weight": -0.5}), "content_weight must be finite and ≥ 0"),
        ("zero_lr", serde_json::json!({"lr": 0.0}), "lr must be a positive number"),
        (
            "neg_layer_weight",
            serde_json::json!({"style_layers": [{"layer": "relu1_2", "weight": -2.0}]}),
            "has weight -2",
        ),
        (
            "bad_layer",
            serde_json::json!({"content_layers": [{"layer": "relu9_1"}]}),
            "valid layers: conv1_1, relu1_1, conv1_2",
        ),
        ("batch_zero", serde_json::json!({"batch_size": 0}), "batch_size must be at least 1"),
        ("image_zero", serde_json::json!({"image_size": 0}), "image_size must be at least 1"),
        ("steps_zero", serde_json::json!({"steps": 0}), "steps must be at least 1"),
        ("dataset_file", serde_json::json!({"dataset": f}), "is a file; it must be a folder"),
        ("wrong_type", serde_json::json!({"steps": "many"}), "invalid type: string \"many\""),
        (
            "bad_arch",
            serde_json::json!({"loss_network": {"arch": "vgg11", "preprocessing": "caffe"}}),
            "unknown variant `vgg11`",
        ),
        ("bad_device", serde_json::json!({"device": "tpu"}), "unknown device"),
    ];
    for (name, patch, needle) in cases {
        let mut cfg = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, cfg.to_string()).unwrap();
        let (ok, err) = trainer(&["--config", path.to_str().unwrap()]);
        assert!(!ok, "{name} was accepted");
        assert!(err.contains(&format!("{name}.json")) && err.contains(needle), "{name}: {err}");
    }
    let bad_json = dir.path().join("syntax.json");
    std::fs::write(&bad_json, "{\"steps\": 10,,}").unwrap();
    let (ok, err) = trainer(&["--config", bad_json.to_str().unwrap()]);
    assert!(!ok && err.contains("syntax.json") && err.contains("line 1"), "{err}");
}
