//! `trainer eval --frames`: the flow-free temporal figures of a model on consecutive frames
//! (a folder or a video file), checked against the frames' own differences computed here;
//! the strip picture; too few frames is an error naming the folder.

use faststyle::checkpoint::save;
use faststyle::synthetic::render_scene;
use faststyle::{StoreDtype, TransformerConfig, TransformerNet};
use faststyle_suite::corpus::sample_meta;
use faststyle_suite::{fill_var_store, run_bin};
use image::RgbImage;
use std::path::Path;
use std::process::Command;
use tch::{nn, Device};

/// Five 48×36 frames of a scene panning right by 2 px per frame.
fn write_frames(dir: &Path) -> Vec<RgbImage> {
    std::fs::create_dir_all(dir).unwrap();
    let scene = render_scene(64, 36, 9);
    (0..5)
        .map(|t| {
            let f = image::imageops::crop_imm(&scene, 2 * t, 0, 48, 36).to_image();
            f.save(dir.join(format!("f_{t:02}.png"))).unwrap();
            f
        })
        .collect()
}

fn eval_frames(model: &Path, frames: &Path, out: &Path, extra: &[&str]) -> faststyle_suite::Ran {
    let mut args: Vec<String> =
        ["eval", "--model", model.to_str().unwrap(), "--frames", frames.to_str().unwrap()].map(String::from).to_vec();
    args.extend(["--out".into(), out.to_string_lossy().into_owned(), "--device".into(), "cpu".into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    run_bin("trainer", &args)
}

#[test]
fn frame_difference_ratio_and_noise_sensitivity_of_a_model_on_frames_and_on_a_video() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let frames = write_frames(&d.join("frames"));
    let cfg = TransformerConfig { channels: [8, 16, 32], residual_blocks: 2, num_styles: 1 };
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = TransformerNet::new(vs.root(), &cfg);
    fill_var_store(&vs);
    let model = d.join("m.safetensors");
    save(&model, &vs, &sample_meta(cfg), StoreDtype::F32).unwrap();

    let r = eval_frames(&model, &d.join("frames"), &d.join("out"), &[]);
    assert!(r.ok(), "{}", r.stderr);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out/temporal.json")).unwrap()).unwrap();
    let row = &report[0];
    assert_eq!(row["frames"], 5);
    assert_eq!(row["size"], serde_json::json!([48, 36]));
    // The input's change per frame, by hand: mean |I_t − I_{t−1}| over the 4 pairs.
    let mean_abs = |a: &RgbImage, b: &RgbImage| {
        a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| (*x as f64 - *y as f64).abs()).sum::<f64>()
            / a.as_raw().len() as f64
    };
    let want = frames.windows(2).map(|w| mean_abs(&w[1], &w[0])).sum::<f64>() / 4.0;
    let got = row["input_difference"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-4 * want, "input difference {got} vs {want}");
    let (out_diff, ratio) =
        (row["output_difference"].as_f64().unwrap(), row["frame_difference_ratio"].as_f64().unwrap());
    assert!((ratio - out_diff / got).abs() < 1e-9 && ratio > 0.0, "{row}");
    let noise = row["noise_sensitivity"].as_f64().unwrap();
    assert!(noise > 0.0 && row["noise_sigma"] == 2.0, "{row}");
    // The strip: 4 frames, input row and output row (48×36 cells, 4 px apart and around).
    let strip = image::open(d.join("out/strip.png")).unwrap();
    assert_eq!((strip.width(), strip.height()), (4 * 48 + 5 * 4, 2 * 36 + 3 * 4));

    // --frame-limit; the same frames as a video file give the same input (lossless codec).
    let r = eval_frames(&model, &d.join("frames"), &d.join("out3"), &["--frame-limit", "3"]);
    assert!(r.ok() && r.stderr.contains("3 frames at 48×36"), "{}", r.stderr);
    let clip = d.join("clip.mkv");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-framerate", "10", "-i"])
        .arg(d.join("frames/f_%02d.png"))
        .args(["-c:v", "ffv1", "-pix_fmt", "bgr0"])
        .arg(&clip)
        .status()
        .expect("ffmpeg is needed: `make test` installs it");
    assert!(made.success());
    let r = eval_frames(&model, &clip, &d.join("outv"), &[]);
    assert!(r.ok(), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("outv/temporal.json")).unwrap()).unwrap();
    assert_eq!(v[0]["frames"], 5);
    let vi = v[0]["input_difference"].as_f64().unwrap();
    assert!((vi - want).abs() < 1e-3 * want, "video input difference {vi} vs {want}");

    // One frame is not a sequence.
    std::fs::create_dir_all(d.join("one")).unwrap();
    frames[0].save(d.join("one/a.png")).unwrap();
    let r = eval_frames(&model, &d.join("one"), &d.join("out1"), &[]);
    assert!(!r.ok() && r.stderr.contains("one") && r.stderr.contains("at least 2"), "{}", r.stderr);
}
