//! `trainer distill`: a light student trained on the perceptual loss plus an output-matching
//! loss to a trained teacher. Through the binary on the shared tiny fixture (32 px crops,
//! batch 2, random VGG16 to relu2_2): the matching loss falls, the student is the config's
//! preset, the teacher is recorded so `trainer --resume` continues exactly, and bad requests
//! (teacher of another style count, missing teacher, negative weight, unknown preset, a
//! non-positive width) are refused naming the file or field, before any run folder exists.

use faststyle_suite::train_fixture::{with_flags, TrainFixture};
use faststyle_suite::{read_tensors, run_bin, Ran};
use std::path::{Path, PathBuf};

fn ok(out: &Ran) -> String {
    assert!(out.ok(), "trainer failed:\n{}", out.stderr);
    out.stderr.clone()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Writes a student config (`model` as given) and returns its path.
fn student_config(fx: &TrainFixture, name: &str, model: serde_json::Value) -> PathBuf {
    let cfg = fx.path(name);
    std::fs::write(&cfg, serde_json::json!({ "model": model }).to_string()).unwrap();
    cfg
}

/// `trainer distill --teacher T --config C` plus the fixture's flags for a run into `run`.
fn distill_args(fx: &TrainFixture, teacher: &Path, cfg: &Path, run: &str, steps: u64) -> Vec<String> {
    let mut args = vec!["distill".into(), "--teacher".into(), s(teacher), "--config".into(), s(cfg)];
    args.extend(fx.args(run, steps));
    args
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_mobile_student_learns_its_teacher_and_resumes_exactly() {
    let fx = TrainFixture::new();
    ok(&run_bin("trainer", &fx.args("teacher", 4)));
    let teacher = fx.path("teacher/final.safetensors");
    let cfg = student_config(&fx, "mobile.json", serde_json::json!({"preset": "mobile"}));

    // 12 steps straight; the output-matching term (weighted MSE to the teacher's output, which
    // starts near a random net's mean-grey output against a stylized image) falls.
    let straight = fx.path("straight");
    let args = with_flags(distill_args(&fx, &teacher, &cfg, "straight", 12), &["--output-weight", "2"]);
    let log = ok(&run_bin("trainer", &args));
    assert!(log.contains("distill"), "progress lines show the term:\n{log}");
    let train: Vec<_> = metrics(&straight).into_iter().filter(|m| m["split"] == "train").collect();
    let term = |m: &serde_json::Value| m["distill"].as_f64().expect("distill in every training line");
    let (first, last) = (term(&train[0]), term(train.last().unwrap()));
    assert!(last < 0.7 * first, "output-matching loss fell from {first:.4e} only to {last:.4e}");
    // Each line's total includes it: loss = content + style + tv + distill.
    for m in &train {
        let parts = ["content", "style", "tv", "distill"].iter().map(|k| m[*k].as_f64().unwrap()).sum::<f64>();
        let loss = m["loss"].as_f64().unwrap();
        assert!((loss - parts).abs() <= 1e-4 * loss, "loss {loss} ≠ sum of parts {parts}");
    }

    // The student: the mobile preset's widths (8-16-32), the teacher recorded in its config.
    let meta = faststyle::CheckpointMeta::read(&straight.join("final.safetensors")).unwrap();
    assert_eq!(meta.model.channels, [8, 16, 32]);
    assert_eq!(meta.train_config["distill"]["teacher"], s(&teacher));
    assert_eq!(meta.train_config["distill"]["output_weight"], 2.0);
    let student = read_tensors(&straight.join("final.safetensors"));
    assert_eq!(student["conv1.conv2d.weight"].size(), [8, 3, 9, 9]);

    // 6 + 6 steps through `trainer --resume` (which reloads the teacher from the saved config)
    // give the same weights as 12 straight.
    let split = with_flags(distill_args(&fx, &teacher, &cfg, "split", 6), &["--output-weight", "2"]);
    ok(&run_bin("trainer", &with_flags(split, &["--checkpoint-every", "6"])));
    let resumed = ok(&run_bin("trainer", &["--resume", &s(&fx.path("split")), "--steps", "12"]));
    assert!(resumed.contains("at step 6"), "{resumed}");
    let again = read_tensors(&fx.path("split/final.safetensors"));
    for (k, t) in &student {
        let d = (t - &again[k]).abs().max().double_value(&[]);
        assert!(d <= 1e-6, "{k}: straight and resumed differ by {d:e}");
    }
}

#[test]
fn bad_distill_requests_are_clear_errors() {
    let fx = TrainFixture::new();
    let half = student_config(&fx, "half.json", serde_json::json!({"preset": "half"}));
    let refused = |args: Vec<String>, run: &str, needles: &[&str]| {
        let out = run_bin("trainer", &args);
        assert!(!out.ok(), "accepted: {args:?}");
        for n in needles {
            assert!(out.stderr.contains(n), "error lacks {n:?}:\n{}", out.stderr);
        }
        assert!(!fx.path(run).exists(), "a refused request wrote {run}");
    };
    // A teacher of another style count: a two-style network for a one-style student.
    let two = faststyle::TransformerConfig { channels: [4, 8, 8], residual_blocks: 1, num_styles: 2 };
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _ = faststyle::TransformerNet::new(vs.root(), &two);
    let pack = fx.path("two_styles.safetensors");
    let style = |name: &str| faststyle::StyleInfo { name: name.into(), image: format!("{name}.png"), size: [8, 8] };
    let meta = faststyle::CheckpointMeta {
        styles: vec![style("dots"), style("waves")],
        ..faststyle_suite::corpus::sample_meta(two)
    };
    faststyle::checkpoint::save(&pack, &vs, &meta, faststyle::StoreDtype::F32).unwrap();
    refused(
        distill_args(&fx, &pack, &half, "r1", 2),
        "r1",
        &["two_styles.safetensors", "2 style(s) (dots, waves)", "trains 1"],
    );
    // A teacher that does not exist.
    refused(distill_args(&fx, &fx.path("nope.safetensors"), &half, "r2", 2), "r2", &["nope.safetensors"]);
    // A file that is not a checkpoint.
    refused(distill_args(&fx, &fx.path("style.png"), &half, "r3", 2), "r3", &["distill.teacher", "style.png"]);
    // A negative output weight.
    ok(&run_bin("trainer", &fx.args("teacher", 1)));
    let teacher = fx.path("teacher/final.safetensors");
    let args = with_flags(distill_args(&fx, &teacher, &half, "r4", 2), &["--output-weight", "-1"]);
    refused(args, "r4", &["half.json", "distill.output_weight", "-1"]);
    // An unknown preset and a width that is not positive, named with the config file.
    let tiny = student_config(&fx, "tiny.json", serde_json::json!({"preset": "tiny"}));
    refused(distill_args(&fx, &teacher, &tiny, "r5", 2), "r5", &["tiny.json", "tiny", "half", "mobile"]);
    let zero = student_config(&fx, "zero.json", serde_json::json!({"channels": [0, 8, 8]}));
    refused(distill_args(&fx, &teacher, &zero, "r6", 2), "r6", &["zero.json", "channels", "positive"]);
}
