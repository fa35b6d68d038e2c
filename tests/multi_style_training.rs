//! Training one network for several styles (conditional instance norm, Dumoulin et al. 2017)
//! through the `trainer` binary: `style_images` in the config, per-style losses in the
//! metrics log, previews one row per style, exact resume, `trainer finetune --add-style`
//! (only the new style's norms move), `trainer eval` per style, and the errors. CPU, the
//! shared tiny fixture (32 px crops, batch 2, random VGG16 to relu2_2).

use faststyle::synthetic::render_scene;
use faststyle::vgg::{RELU1_2, RELU2_2};
use faststyle::{LayerWeight, LossNetwork, LossNetworkConfig, LossWeights, PerceptualLoss, Preprocessing, VggArch};
use faststyle_suite::train_fixture::{with_flags, TrainFixture};
use faststyle_suite::{read_tensors, run_bin, write_random_vgg, Ran};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

const STYLES: [&str; 3] = ["dots", "waves", "blocks"];

fn ok(out: &Ran) -> String {
    assert!(out.ok(), "trainer failed:\n{}", out.stderr);
    out.stderr.clone()
}

/// Writes three style images and a config listing them; returns the config's path.
fn multi_style_config(fx: &TrainFixture) -> PathBuf {
    let paths: Vec<PathBuf> = STYLES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = fx.path(&format!("{n}.png"));
            render_scene(72, 56, 100 + 7 * i as u64).save(&p).unwrap();
            p
        })
        .collect();
    let cfg = fx.path("multi.json");
    std::fs::write(&cfg, serde_json::json!({ "style_images": paths }).to_string()).unwrap();
    cfg
}

/// The fixture's arguments for a run of the three styles (its `--style` dropped).
fn multi_args(fx: &TrainFixture, run: &str, steps: u64) -> Vec<String> {
    let mut args = fx.args(run, steps);
    let i = args.iter().position(|a| a == "--style").unwrap();
    args.drain(i..i + 2);
    args.extend(["--config".into(), multi_style_config(fx).to_string_lossy().into_owned()]);
    args
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn three_styles_train_resume_exactly_finetune_a_fourth_and_evaluate_per_style() {
    let fx = TrainFixture::new();
    let straight = fx.path("straight");
    ok(&run_bin("trainer", &with_flags(multi_args(&fx, "straight", 6), &["--checkpoint-every", "3"])));
    ok(&run_bin("trainer", &with_flags(multi_args(&fx, "split", 3), &["--checkpoint-every", "3"])));
    let resumed = ok(&run_bin(
        "trainer",
        &["--resume".into(), fx.path("split").to_string_lossy().into_owned(), "--steps".into(), "6".into()],
    ));
    assert!(resumed.contains("at step 3"), "{resumed}");
    let (a, b) = (read_tensors(&straight.join("final.safetensors")), read_tensors(&fx.path("split/final.safetensors")));
    for (k, t) in &a {
        let d = max_abs_diff(t, &b[k]);
        assert!(d <= 1e-6, "{k}: straight and resumed differ by {d:e}");
    }

    // The checkpoint: three styles named after the images, [3, C] norms.
    let final_ck = straight.join("final.safetensors");
    let meta = faststyle::CheckpointMeta::read(&final_ck).unwrap();
    assert_eq!(meta.model.num_styles, 3);
    assert_eq!(meta.style_names(), STYLES);
    assert_eq!(meta.styles[1].image, "waves.png");
    assert_eq!(meta.styles[1].size, [72, 56], "no style_size: the image's own size");
    assert_eq!(a["in1.weight"].size(), [3, 32]);

    // Metrics: training lines carry the styles of their window (batch 2 of 3 styles, logged
    // every step: steps 1, 2, 3 see styles {0,1}, {2,0}, {1,2}); validation lines all three.
    let lines = metrics(&straight);
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["style_losses"].as_array().unwrap().iter().map(|p| p[0].as_str().unwrap().to_string()).collect()
    };
    let train: Vec<&serde_json::Value> = lines.iter().filter(|l| l["split"] == "train").collect();
    assert_eq!(names(train[0]), ["dots", "waves"]);
    assert_eq!(names(train[1]), ["dots", "blocks"]);
    for l in &train {
        // Two images of two different styles per line: their mean is the batch's style loss.
        let per: Vec<f64> = l["style_losses"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).collect();
        let mean = per.iter().sum::<f64>() / per.len() as f64;
        let style = l["style"].as_f64().unwrap();
        assert!((mean - style).abs() <= 1e-4 * style, "step {}: {per:?} vs {style}", l["step"]);
    }
    let val = lines.iter().find(|l| l["split"] == "val").unwrap();
    assert_eq!(names(val), STYLES);

    // Previews: the inputs above one row per style.
    let sheet = image::open(straight.join("previews/step_000006.png")).unwrap();
    let files: Vec<String> = std::fs::read_dir(straight.join("previews/step_000006"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 2 * 3, "2 preview images × 3 styles: {files:?}");
    assert!(files.iter().any(|f| f.ends_with("_blocks.jpg")), "{files:?}");
    assert!(sheet.height() > 3 * sheet.width() / 2, "four rows of two: {}×{}", sheet.width(), sheet.height());

    // Fine-tune a fourth style: shared weights and the three styles stay, the new row moves.
    let fourth = fx.path("spirals.png");
    render_scene(64, 64, 555).save(&fourth).unwrap();
    let ft = fx.path("ft");
    let (from, style, out) = (final_ck.to_str().unwrap(), fourth.to_str().unwrap(), ft.to_str().unwrap());
    let out =
        ok(&run_bin("trainer", &["finetune", "--from", from, "--add-style", style, "--steps", "3", "--out", out]));
    assert!(out.contains("final checkpoint"), "{out}");
    let f = read_tensors(&ft.join("final.safetensors"));
    let ft_meta = faststyle::CheckpointMeta::read(&ft.join("final.safetensors")).unwrap();
    assert_eq!(ft_meta.style_names(), ["dots", "waves", "blocks", "spirals"]);
    for (k, t) in a.iter().filter(|(k, _)| !k.starts_with("train_state")) {
        let new = &f[k];
        if new.size() == t.size() {
            assert!(new.equal(t), "{k} changed in the fine-tune");
        } else {
            assert!(new.narrow(0, 0, 3).equal(t), "{k}: the old styles changed");
            let start = t.mean_dim(Some([0i64].as_slice()), false, Kind::Float);
            assert!(max_abs_diff(&new.get(3), &start) > 1e-6, "{k}: the new style did not train");
        }
    }
    let ft_val = metrics(&ft).into_iter().find(|l| l["split"] == "val").unwrap();
    assert_eq!(names(&ft_val), ["spirals"], "a fine-tune validates its own style");

    eval_per_style(&fx, &final_ck);
}

/// `trainer eval` of the three-style checkpoint: one report per picked style, the table in
/// styles.json, an unknown style refused.
fn eval_per_style(fx: &TrainFixture, final_ck: &Path) {
    let ev = fx.path("ev");
    let (model, content) = (final_ck.to_str().unwrap(), fx.path("data/b"));
    let eval = |styles: &str, out: &Path| {
        let (content, out) = (content.to_str().unwrap(), out.to_str().unwrap());
        let sizes = ["--size", "32", "--gatys-iterations", "2", "--limit", "2", "--device", "cpu", "--no-gatys-cache"];
        let mut args = vec!["eval", "--model", model, "--content", content, "--styles", styles, "--out", out];
        args.extend(sizes);
        run_bin("trainer", &args)
    };
    let out = ok(&eval("blocks,0", &ev));
    let table: serde_json::Value = serde_json::from_slice(&std::fs::read(ev.join("styles.json")).unwrap()).unwrap();
    let rows = table.as_array().unwrap();
    assert_eq!(rows.iter().map(|r| r["style"].as_str().unwrap()).collect::<Vec<_>>(), ["blocks", "dots"], "{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ev.join("blocks/report.json")).unwrap()).unwrap();
    assert_eq!(report["style"], "blocks");
    assert!(report["style_image"].as_str().unwrap().ends_with("blocks.png"));
    assert_eq!(report["images"].as_array().unwrap().len(), 2);
    assert_ne!(rows[0]["model"]["total"], rows[1]["model"]["total"], "two styles, two losses");
    let bad = eval("nope", &ev.join("bad"));
    assert!(!bad.ok() && bad.stderr.contains("no style \"nope\""), "an unknown style is an error: {}", bad.stderr);
}

#[test]
fn bad_multi_style_requests_are_clear_errors() {
    let fx = TrainFixture::new();
    let cfg = multi_style_config(&fx);
    // style_image and style_images together.
    let both = run_bin("trainer", &with_flags(fx.args("both", 2), &["--config", cfg.to_str().unwrap()]));
    assert!(!both.ok() && both.stderr.contains("not both"), "{}", both.stderr);
    assert!(!fx.path("both").exists(), "nothing written");
    // A style image that cannot be read.
    let missing = fx.path("missing.json");
    std::fs::write(&missing, serde_json::json!({"style_images": ["nope/a.png", "nope/b.png"]}).to_string()).unwrap();
    let mut args = fx.args("missing", 2);
    let i = args.iter().position(|a| a == "--style").unwrap();
    args.drain(i..i + 2);
    args.extend(["--config".into(), missing.to_string_lossy().into_owned()]);
    let out = run_bin("trainer", &args);
    assert!(!out.ok() && out.stderr.contains("style_images nope/a.png"), "{}", out.stderr);

    // --add-style on a checkpoint without a training config (as imported from PyTorch).
    let cfg_net = faststyle::TransformerConfig { channels: [4, 8, 8], residual_blocks: 1, num_styles: 1 };
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let _ = faststyle::TransformerNet::new(vs.root(), &cfg_net);
    let bare = fx.path("bare.safetensors");
    let meta = faststyle::CheckpointMeta {
        train_config: serde_json::Value::Null,
        ..faststyle_suite::corpus::sample_meta(cfg_net)
    };
    faststyle::checkpoint::save(&bare, &vs, &meta, faststyle::StoreDtype::F32).unwrap();
    let ft = fx.path("ft");
    let add = |from: &Path, style: &Path| {
        let (from, style, out) = (from.to_str().unwrap(), style.to_str().unwrap(), ft.to_str().unwrap());
        run_bin("trainer", &["finetune", "--from", from, "--add-style", style, "--out", out])
    };
    let out = add(&bare, &fx.path("style.png"));
    assert!(
        !out.ok() && out.stderr.contains("bare.safetensors") && out.stderr.contains("no training state"),
        "{}",
        out.stderr
    );
    // An unreadable new style on a real checkpoint.
    ok(&run_bin("trainer", &fx.args("one", 1)));
    let out = add(&fx.path("one/final.safetensors"), &fx.path("nope.png"));
    assert!(!out.ok() && out.stderr.contains("nope.png"), "{}", out.stderr);
    // The same style twice.
    let out = add(&fx.path("one/final.safetensors"), &fx.path("style.png"));
    assert!(!out.ok() && out.stderr.contains("named \"style\""), "{}", out.stderr);
    assert!(!ft.exists(), "no run folder for a refused fine-tune");
}

/// A multi-style loss picks each image's own targets: per image, the same as that style's
/// single-style loss.
#[test]
fn per_style_loss_measures_each_image_against_its_own_style() {
    let dir = tempfile::tempdir().unwrap();
    let vgg = dir.path().join("vgg.safetensors");
    write_random_vgg(&vgg, VggArch::Vgg16, RELU2_2);
    let cfg =
        LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: Preprocessing::Torchvision, ..Default::default() };
    let taps = [RELU2_2.to_string(), RELU1_2.to_string()];
    let net = || LossNetwork::load(&vgg, &cfg, &taps, Device::Cpu).unwrap();
    let content = [LayerWeight::new(RELU2_2)];
    let style = [LayerWeight::new(RELU1_2), LayerWeight { layer: RELU2_2.into(), weight: 0.5 }];
    let weights = LossWeights { content: 1.0, style: 1e3, tv: 1e-3 };
    let img = |seed: u64, w: u32| faststyle::image_io::image_to_tensor(&render_scene(w, 40, seed), Device::Cpu);
    let styles = [img(1, 48), img(2, 56), img(3, 40)];
    let scales = [1.0, 0.5];
    let multi = PerceptualLoss::per_style(net(), &content, &style, weights, &styles, &scales).unwrap();
    assert_eq!(multi.num_targets(), 3);
    // Batch of three: image n stylized as style picks[n].
    let x = Tensor::cat(&[img(10, 32), img(11, 32), img(12, 32)], 0);
    let y = Tensor::cat(&[img(20, 32), img(21, 32), img(22, 32)], 0);
    let picks = Tensor::from_slice(&[2i64, 0, 2]);
    let parts = tch::no_grad(|| multi.compute_styled(&y, &x, &picks));
    let per_image = Vec::<f64>::try_from(parts.style_per_image.to_kind(Kind::Double)).unwrap();
    for (n, s) in [2usize, 0, 2].into_iter().enumerate() {
        let single =
            PerceptualLoss::blended(net(), &content, &style, weights, &[(styles[s].shallow_clone(), 1.0)], &scales)
                .unwrap();
        let yn = y.narrow(0, n as i64, 1);
        let want = tch::no_grad(|| single.compute(&yn, &x.narrow(0, n as i64, 1))).values().style;
        assert!((per_image[n] - want).abs() <= 1e-4 * want, "image {n}: {} vs {want}", per_image[n]);
    }
    let mean = per_image.iter().sum::<f64>() / 3.0;
    assert!((parts.values().style - mean).abs() <= 1e-5 * mean, "the batch's style loss is the images' mean");
}

/// The flow-free video losses in a run: logged per step, adding to the loss, and drawn from
/// the seed and step alone, so a resumed run equals a straight one.
#[test]
fn video_losses_are_logged_and_resume_exactly() {
    let fx = TrainFixture::new();
    let cfg = fx.path("video.json");
    let losses = serde_json::json!({"video_losses": {"stability_weight": 2.0, "temporal_weight": 3.0}});
    std::fs::write(&cfg, losses.to_string()).unwrap();
    let args = |run: &str, steps: u64| {
        with_flags(fx.args(run, steps), &["--config", cfg.to_str().unwrap(), "--checkpoint-every", "2"])
    };
    ok(&run_bin("trainer", &args("straight", 4)));
    ok(&run_bin("trainer", &args("split", 2)));
    ok(&run_bin(
        "trainer",
        &["--resume".into(), fx.path("split").to_string_lossy().into_owned(), "--steps".into(), "4".into()],
    ));
    let (a, b) =
        (read_tensors(&fx.path("straight/final.safetensors")), read_tensors(&fx.path("split/final.safetensors")));
    for (k, t) in &a {
        assert!(max_abs_diff(t, &b[k]) <= 1e-6, "{k}: straight and resumed differ");
    }
    for line in metrics(&fx.path("straight")).iter().filter(|l| l["split"] == "train") {
        let part = |k: &str| line[k].as_f64().unwrap();
        let (s, t) = (part("stability"), part("temporal"));
        assert!(s > 0.0 && t > 0.0, "{line}");
        let sum = part("content") + part("style") + part("tv") + s + t;
        assert!((sum - part("loss")).abs() <= 1e-4 * sum, "{line}");
    }
    let bad = fx.path("bad.json");
    std::fs::write(&bad, r#"{"video_losses": {"max_zoom": 1.5}}"#).unwrap();
    let out = run_bin("trainer", &with_flags(fx.args("bad", 2), &["--config", bad.to_str().unwrap()]));
    assert!(!out.ok() && out.stderr.contains("video_losses.max_zoom"), "{}", out.stderr);
}
