//! `infer --strength` and `--preserve-color` through the binary, with the built-in model, on
//! a rendered scene (PNG in and out, so only 8-bit rounding separates the values).

use faststyle::color::{rgb_to_ycbcr, ycbcr_to_rgb};
use faststyle::image_io::image_to_tensor;
use faststyle::synthetic::render_scene;
use faststyle_suite::infer_cpu as infer;
use std::path::Path;
use tch::{Device, Tensor};

fn load(p: &Path) -> Tensor {
    image_to_tensor(&image::open(p).unwrap().to_rgb8(), Device::Cpu)
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn strength_blends_and_preserve_color_keeps_the_input_chroma() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("in.png");
    render_scene(64, 40, 5).save(&input).unwrap();
    let run = |name: &str, extra: &[&str]| {
        let out = d.join(name);
        let o = infer(&input, &out, extra);
        assert!(o.status.success(), "{name}: {}", o.stderr.clone());
        load(&out)
    };
    let (x, full) = (load(&input), run("full.png", &[]));
    assert!(max_abs(&x, &full) > 30.0, "the built-in model changes the image");

    // 0 gives the input, 0.5 the midpoint (each output is rounded to 8 bits once).
    assert!(max_abs(&run("s0.png", &["--strength", "0"]), &x) <= 0.5);
    let half = run("s05.png", &["--strength", "0.5"]);
    assert!(max_abs(&half, &((&x + &full) * 0.5)) <= 1.0);

    // Luminance from the stylized image, chroma from the input (Gatys et al. 2016).
    let kept = rgb_to_ycbcr(&run("pc.png", &["--preserve-color"]));
    let (cx, cf) = (rgb_to_ycbcr(&x), rgb_to_ycbcr(&full));
    // Rounding to 8-bit RGB moves Y, Cb, Cr by at most ~1. Where the stylized luminance with
    // the input's chroma falls outside 0-255 RGB, the 8-bit output is clamped and its chroma
    // moves: those pixels are left out (how many depends on the model; at least half remain).
    let ideal = ycbcr_to_rgb(&Tensor::cat(&[cf.narrow(1, 0, 1), cx.narrow(1, 1, 2)], 1));
    let inside = ideal.ge(0.5).logical_and(&ideal.le(254.5)).all_dim(1, true);
    let share = inside.to_kind(tch::Kind::Float).mean(tch::Kind::Float).double_value(&[]);
    assert!(share > 0.5, "only {share} of the pixels can keep their chroma");
    let close = |a: &Tensor, b: &Tensor| -> f64 {
        let off = (a - b).abs().gt(1.5).logical_and(&inside);
        off.to_kind(tch::Kind::Float).sum(tch::Kind::Float).double_value(&[]) / (share * a.numel() as f64)
    };
    assert!(close(&kept.narrow(1, 1, 2), &cx.narrow(1, 1, 2)) < 0.02, "chroma is the input's");
    assert!(close(&kept.narrow(1, 0, 1), &cf.narrow(1, 0, 1)) < 0.02, "luminance is the stylized one");
    assert!(max_abs(&kept.narrow(1, 1, 2), &cf.narrow(1, 1, 2)) > 10.0, "and not the stylized chroma");

    // Both together: a blend of two images with the input's chroma keeps that chroma.
    let both = rgb_to_ycbcr(&run("both.png", &["--preserve-color", "--strength", "0.3"]));
    assert!(close(&both.narrow(1, 1, 2), &cx.narrow(1, 1, 2)) < 0.02);
    // Values outside 0..1 are refused.
    for bad in ["1.5", "-0.1", "lots"] {
        let o = infer(&input, &d.join("bad.png"), &[&format!("--strength={bad}")]);
        let stderr = o.stderr.clone();
        assert!(!o.status.success() && stderr.contains("--strength"), "{bad}: {stderr}");
    }
}

#[test]
fn style_scale_runs_the_network_at_that_size_and_keeps_the_output_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 96×64 at scale 0.5 → the network sees 48×32.
    let (input, small) = (d.join("in.png"), d.join("small.png"));
    let scene = render_scene(96, 64, 9);
    scene.save(&input).unwrap();
    faststyle::image_io::resize(&scene, 48, 32).save(&small).unwrap();
    let run = |src: &Path, name: &str, extra: &[&str]| {
        let out = d.join(name);
        let o = infer(src, &out, extra);
        assert!(o.status.success(), "{name}: {}", o.stderr.clone());
        image::open(&out).unwrap().to_rgb8()
    };
    let half = run(&input, "half.png", &["--style-scale", "0.5"]);
    assert_eq!(half.dimensions(), (96, 64), "the output keeps the input's size");
    // The same as stylizing the downscaled image and resizing the result back up.
    let by_hand = faststyle::image_io::resize(&run(&small, "small_out.png", &[]), 96, 64);
    assert!(max_abs(&image_to_tensor(&half, Device::Cpu), &image_to_tensor(&by_hand, Device::Cpu)) <= 1.0);
    let full = run(&input, "full.png", &[]);
    assert!(max_abs(&image_to_tensor(&half, Device::Cpu), &image_to_tensor(&full, Device::Cpu)) > 20.0);

    // The controls use the full-size original: strength 0 gives the input back exactly.
    let s0 = run(&input, "s0.png", &["--style-scale", "0.5", "--strength", "0"]);
    assert!(max_abs(&image_to_tensor(&s0, Device::Cpu), &load(&input)) <= 0.5);

    // A scale that leaves too few pixels, or out of range, is refused naming the flag.
    for bad in [&["--style-scale", "0.1"][..], &["--style-scale=9"][..]] {
        let o = infer(&input, &d.join("bad.png"), bad);
        let stderr = o.stderr.clone();
        assert!(!o.status.success() && stderr.contains("--style-scale"), "{bad:?}: {stderr}");
    }
}
