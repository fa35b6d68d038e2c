//! `infer` exits non-zero with a clear message naming the file on bad input.

use std::process::Command;

fn infer(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_infer")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked at"), "{stderr}");
    (out.status.success(), stderr)
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

#[test]
fn every_kind_of_bad_checkpoint_exits_non_zero_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("in.png");
    image::RgbImage::new(8, 8).save(&img).unwrap();
    let cases: [(&str, &[u8]); 4] = [
        ("empty", b""),
        ("garbage", b"GIF89a not a checkpoint"),
        ("huge_header_len", b"\xff\xff\xff\xff\xff\xff\xff\x7f{}"),
        ("header_only", b"\x02\x00\x00\x00\x00\x00\x00\x00{}"),
    ];
    for (name, bytes) in cases {
        let model = dir.path().join(format!("{name}.safetensors"));
        std::fs::write(&model, bytes).unwrap();
        let out = dir.path().join(format!("{name}.png"));
        let (ok, err) = infer(&[
            "--model",
            model.to_str().unwrap(),
            "--input",
            img.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--device",
            "cpu",
        ]);
        assert!(!ok && err.contains(&format!("{name}.safetensors")), "{name}: {err}");
        assert!(!out.exists(), "{name}: no output may be written");
    }
}
