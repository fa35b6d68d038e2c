//! Multi-style checkpoints (conditional instance norm) through `infer`: `infer styles`,
//! `--style` by name, index and blend, and the errors for bad specs. The checkpoint is a
//! 3-style net of small widths with deterministic weights, saved with its style list.

use faststyle::checkpoint::save;
use faststyle::{StoreDtype, StyleInfo, TransformerConfig, TransformerNet};
use faststyle_suite::corpus::sample_meta;
use faststyle_suite::{fill_var_store, infer_cpu, infer_image, run_bin};
use std::path::Path;
use tch::{nn, Device};

const NAMES: [&str; 3] = ["starry_night", "wave", "scream"];

fn write_pack(path: &Path) {
    let cfg = TransformerConfig { channels: [8, 16, 32], residual_blocks: 2, num_styles: 3 };
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = TransformerNet::new(vs.root(), &cfg);
    fill_var_store(&vs);
    // fill() makes the styles' scales and shifts nearly alike: set them apart.
    tch::no_grad(|| {
        for (_, mut v) in vs.variables().into_iter().filter(|(_, v)| v.dim() == 2) {
            let apart = tch::Tensor::from_slice(&[1.0f32, -1.5, 3.0]).view([3, 1]);
            v.copy_(&(&v * apart));
        }
    });
    let styles = NAMES.map(|n| StyleInfo { name: n.into(), image: format!("{n}.jpg"), size: [256, 203] }).to_vec();
    save(path, &vs, &faststyle::CheckpointMeta { styles, ..sample_meta(cfg) }, StoreDtype::F32).unwrap();
}

fn diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| (*x as f64 - *y as f64).abs()).fold(0.0, f64::max)
}

#[test]
fn styles_are_listed_picked_by_name_or_index_and_blended() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (model, input) = (d.join("pack.safetensors"), d.join("in.png"));
    write_pack(&model);
    faststyle::synthetic::render_scene(40, 32, 4).save(&input).unwrap();
    let m = model.to_str().unwrap();

    let listed = run_bin("infer", &["styles", m]);
    assert!(listed.ok(), "{}", listed.stderr);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", listed.stdout);
    assert!(lines[1].starts_with("1\twave\twave.jpg (256×203)"), "{}", lines[1]);

    let at = |name: &str, style: &str| infer_image(&input, &d.join(name), &["--model", m, "--style", style]);
    let (first, wave, scream) = (at("a.png", "starry_night"), at("b.png", "wave"), at("c.png", "2"));
    let (d1, d2) = (diff(&first, &wave), diff(&wave, &scream));
    assert!(d1 > 5.0 && d2 > 5.0, "each style paints differently: {d1} {d2}");
    // By index or by name, the same; no --style is the first style.
    assert_eq!(diff(&at("b1.png", "1"), &wave), 0.0);
    assert_eq!(diff(&infer_image(&input, &d.join("default.png"), &["--model", m]), &first), 0.0);
    // Weights are normalised: wave:2 is wave; a 50/50 blend differs from both ends.
    assert_eq!(diff(&at("b2.png", "wave:2"), &wave), 0.0);
    let blend = at("mix.png", "wave:0.5,scream:0.5");
    assert!(diff(&blend, &wave) > 1.0 && diff(&blend, &scream) > 1.0);

    for (bad, needle) in [
        ("monet", "no style \"monet\""),
        ("3", "no style \"3\""),
        ("wave:-1", "≥ 0"),
        ("wave:0,scream:0", "all zero"),
        ("wave:x", "not a number"),
    ] {
        let out = d.join("bad.png");
        let r = infer_cpu(&input, &out, &["--model", m, "--style", bad]);
        assert!(!r.ok() && r.stderr.contains(needle), "{bad}: {}", r.stderr);
        assert!(!out.exists(), "{bad}: no output");
    }
}

#[test]
fn a_single_style_checkpoint_has_one_style_named_after_its_image() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/starry_night.safetensors");
    let listed = run_bin("infer", &["styles", shipped.to_str().unwrap()]);
    assert!(listed.ok() && listed.stdout.starts_with("0\tstarry_night\t"), "{}", listed.stdout);
}

#[test]
fn a_multi_style_checkpoint_must_name_each_style() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unnamed.safetensors");
    let cfg = TransformerConfig { channels: [8, 16, 32], residual_blocks: 2, num_styles: 3 };
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = TransformerNet::new(vs.root(), &cfg);
    save(&path, &vs, &sample_meta(cfg), StoreDtype::F32).unwrap();
    let r = run_bin("infer", &["styles", path.to_str().unwrap()]);
    assert!(!r.ok() && r.stderr.contains("holds 3 style(s) but the metadata names 1"), "{}", r.stderr);
    assert!(r.stderr.contains("unnamed.safetensors"), "{}", r.stderr);
}

#[test]
fn the_sheet_shows_the_photo_and_every_style() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (model, input, sheet) = (d.join("pack.safetensors"), d.join("in.png"), d.join("sheet.png"));
    write_pack(&model);
    faststyle::synthetic::render_scene(40, 32, 4).save(&input).unwrap();
    let (m, i, s) = (model.to_str().unwrap(), input.to_str().unwrap(), sheet.to_str().unwrap());
    let r =
        run_bin("infer", &["sheet", "--model", m, "--input", i, "--output", s, "--columns", "2", "--device", "cpu"]);
    assert!(r.ok() && r.stdout.contains("3 style(s)"), "{}", r.stderr);
    // 4 cells (photo + 3 styles) of 40×(32 + 22) in 2 columns: (2·44 + 4) × (2·58 + 4).
    let img = image::open(&sheet).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (92, 120));
    // Cell 3 (row 1, column 1) is style 2, as infer --style 2 paints it.
    let styled = infer_image(&input, &d.join("s2.png"), &["--model", m, "--style", "2"]);
    let cell = image::imageops::crop_imm(&img, 48, 62, 40, 32).to_image();
    assert_eq!(diff(&cell, &styled), 0.0);
    let bad = run_bin("infer", &["sheet", "--model", m, "--input", "/nope.png", "--output", s, "--device", "cpu"]);
    assert!(!bad.ok() && bad.stderr.contains("/nope.png"), "{}", bad.stderr);
}

/// `infer export` of a multi-style net: the TorchScript module takes the style weights as a
/// second input and paints as faststyle does, one-hot or blended.
#[test]
fn a_multi_style_export_takes_the_style_weights_as_a_second_input() {
    let dir = tempfile::tempdir().unwrap();
    let (model, pt) = (dir.path().join("pack.safetensors"), dir.path().join("pack.pt"));
    write_pack(&model);
    let r = run_bin("infer", &["export", model.to_str().unwrap(), "-o", pt.to_str().unwrap()]);
    assert!(r.ok(), "{}", r.stderr);
    let module = tch::CModule::load(&pt).unwrap();
    let ck = faststyle::Checkpoint::load(&model, Device::Cpu).unwrap();
    tch::manual_seed(3);
    // Odd sides (the pad-and-crop path), a batch of two with a style row each.
    let x = tch::Tensor::rand([2, 3, 21, 30], (tch::Kind::Float, Device::Cpu)) * 255.0;
    let w = tch::Tensor::from_slice(&[0.0f32, 1.0, 0.0, 0.3, 0.0, 0.7]).view([2, 3]);
    let (ours, theirs) = tch::no_grad(|| (ck.net.forward_fast_styled(&x, &w), module.forward_ts(&[&x, &w]).unwrap()));
    let rel = (&ours - &theirs).abs().max().double_value(&[]) / ours.abs().max().double_value(&[]);
    assert!(rel < 1e-4, "TorchScript vs faststyle: {rel:e}");
    let other = tch::no_grad(|| module.forward_ts(&[&x, &w.flip([1])]).unwrap());
    assert!((&other - &theirs).abs().max().double_value(&[]) > 1.0, "the style input matters");
}

/// The built-in style pack: `infer styles` lists it, `--style NAME` without --model reaches
/// it (a style the built-in Starry Night has stays with that model), and `infer demo` writes
/// its sheet beside the stylized picture.
#[test]
fn the_built_in_pack_is_reached_by_style_name_without_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("in.png");
    faststyle::synthetic::render_scene(48, 40, 6).save(&input).unwrap();
    let listed = run_bin("infer", &["styles"]);
    assert!(listed.ok(), "{}", listed.stderr);
    let names: Vec<&str> = listed.stdout.lines().map(|l| l.split('\t').nth(1).unwrap()).collect();
    assert_eq!(names, ["starry_night", "wave", "the_scream", "udnie", "composition_vii", "adain_mondrian"]);
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/style_pack.safetensors");
    let p = pack.to_str().unwrap();
    let builtin_wave = infer_image(&input, &d.join("w.png"), &["--style", "wave"]);
    assert_eq!(diff(&builtin_wave, &infer_image(&input, &d.join("w2.png"), &["--model", p, "--style", "wave"])), 0.0);
    let blend = infer_image(&input, &d.join("b.png"), &["--style", "starry_night:0.5,udnie:0.5"]);
    assert!(diff(&blend, &builtin_wave) > 1.0, "a blend of pack styles");
    let starry = infer_image(&input, &d.join("s.png"), &["--style", "starry_night"]);
    assert_eq!(diff(&starry, &infer_image(&input, &d.join("s0.png"), &[])), 0.0, "the single-style default");
    let bad = infer_cpu(&input, &d.join("x.png"), &["--style", "monet"]);
    assert!(!bad.ok() && bad.stderr.contains("monet") && bad.stderr.contains("udnie"), "{}", bad.stderr);

    let out = d.join("demo.jpg");
    let r = run_bin(
        "infer",
        &["demo", "--input", input.to_str().unwrap(), "--output", out.to_str().unwrap(), "--device", "cpu"],
    );
    assert!(r.ok() && out.exists(), "{}", r.stderr);
    let sheet = image::open(d.join("in_styles.png")).unwrap();
    assert!(sheet.width() > 4 * 48 && sheet.height() > 2 * 40, "7 cells in 4 columns");
}
