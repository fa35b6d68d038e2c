//! End to end through the binaries: `trainer` for a few steps on generated images, then
//! `infer` on a folder (nested, odd sizes, several formats) and `infer inspect`.

use faststyle::synthetic::render_scene;
use faststyle_suite::train_fixture::{with_flags, TrainFixture};
use faststyle_suite::{bin, run, write_scenes};
use std::path::Path;
use std::process::Command;

#[test]
fn train_then_stylize_a_folder() {
    let fx = TrainFixture::new();
    let d = fx.path("");
    let run_dir = d.join("run");
    let args = with_flags(fx.args("run", 4), &["--checkpoint-every", "2"]);
    let out = run(Command::new(bin("trainer")).args(&args));
    let stderr = out.stderr.clone();
    assert!(out.status.success(), "trainer failed:\n{stderr}");
    assert!(stderr.contains("broken.jpg") && stderr.contains("skipped 1 unusable"), "{stderr}");
    for f in ["final.safetensors", "checkpoint_000002.safetensors", "metrics.jsonl", "config.json"] {
        assert!(run_dir.join(f).is_file(), "{f} missing");
    }
    let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let steps = |split: &str| {
        lines.iter().filter(|l| l["split"] == split).map(|l| l["step"].as_u64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(steps("train"), [1, 2, 3, 4]);
    // Validation at the step-2 checkpoint and at the end.
    assert_eq!(steps("val"), [2, 4]);
    assert!(run_dir.join("loss.png").is_file() && run_dir.join("previews/step_000004.png").is_file());
    // No temporary files are left in the run folder.
    assert!(std::fs::read_dir(&run_dir).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));

    // A folder of frames with a nested sub-folder, odd sizes and several formats.
    let frames = d.join("frames");
    std::fs::create_dir_all(frames.join("sub")).unwrap();
    render_scene(33, 17, 1).save(frames.join("f1.png")).unwrap();
    render_scene(20, 30, 2).save(frames.join("sub/f2.jpg")).unwrap();
    render_scene(45, 23, 3).save(frames.join("sub/f3.tif")).unwrap();
    let model = run_dir.join("final.safetensors");
    let styled = d.join("styled");
    let out = run(Command::new(bin("infer")).args([
        "--model",
        model.to_str().unwrap(),
        "--input",
        frames.to_str().unwrap(),
        "--output",
        styled.to_str().unwrap(),
        "--device",
        "cpu",
    ]));
    assert!(out.status.success(), "infer failed:\n{}", out.stderr.clone());
    for (name, size) in [("f1.png", (33, 17)), ("sub/f2.jpg", (20, 30)), ("sub/f3.png", (45, 23))] {
        let img = image::open(styled.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((img.width(), img.height()), size, "{name}");
    }
    // --max-size bounds the longer side, keeping the aspect ratio.
    let single = d.join("single.jpg");
    let out = run(Command::new(bin("infer")).args([
        "--model",
        model.to_str().unwrap(),
        "--input",
        frames.join("sub/f3.tif").to_str().unwrap(),
        "--output",
        single.to_str().unwrap(),
        "--max-size",
        "30",
        "--device",
        "cpu",
    ]));
    assert!(out.status.success(), "{}", out.stderr.clone());
    let img = image::open(&single).unwrap();
    assert_eq!((img.width(), img.height()), (30, 15));

    let out = run(Command::new(bin("infer")).args(["inspect", model.to_str().unwrap()]));
    let stdout = out.stdout.clone();
    assert!(
        out.status.success() && stdout.contains("style.png") && stdout.contains("step:              4"),
        "{stdout}"
    );
}

#[test]
fn a_bad_file_in_a_folder_is_skipped_and_the_rest_done() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = d.join("m.safetensors");
    save_untrained_checkpoint(&model);
    write_scenes(&d.join("in"), 3, 24, 20, 5);
    std::fs::write(d.join("in/zzz_bad.png"), b"").unwrap();
    let out = run(Command::new(bin("infer")).args([
        "--model",
        model.to_str().unwrap(),
        "--input",
        d.join("in").to_str().unwrap(),
        "--output",
        d.join("out").to_str().unwrap(),
        "--device",
        "cpu",
    ]));
    let stderr = out.stderr.clone();
    assert!(!out.status.success(), "a failed file must make the exit status non-zero");
    assert!(stderr.contains("zzz_bad.png") && stderr.contains("1 of 4 file(s) could not be stylized"), "{stderr}");
    assert_eq!(std::fs::read_dir(d.join("out")).unwrap().count(), 3);
}

fn save_untrained_checkpoint(path: &Path) {
    use faststyle::checkpoint::save;
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _ = faststyle::TransformerNet::new(vs.root(), &Default::default());
    let meta = faststyle_suite::corpus::sample_meta(Default::default());
    save(path, &vs, &meta, faststyle::StoreDtype::F16).unwrap();
}
