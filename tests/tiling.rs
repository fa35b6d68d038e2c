//! `infer --tile`: a large image stylized in blended overlapping tiles has its input's size
//! and stays close to the untiled result (each tile has its own instance-norm statistics, so
//! not identical; README gives the measured differences on a real photo).

use faststyle::synthetic::render_scene;
use faststyle_suite::bin;
use std::process::Command;

#[test]
fn tiled_output_has_the_size_and_stays_close_to_untiled() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("big.png");
    render_scene(301, 203, 9).save(&input).unwrap();
    let run = |name: &str, extra: &[&str]| {
        let out = d.join(name);
        let o = Command::new(bin("infer"))
            .args(["--input", input.to_str().unwrap(), "--output", out.to_str().unwrap(), "--device", "cpu"])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && !stderr.contains("panicked at"), "{name}: {stderr}");
        image::open(&out).unwrap().to_rgb8()
    };
    let whole = run("whole.png", &[]);
    let tiled = run("tiled.png", &["--tile", "128", "--tile-overlap", "24"]);
    assert_eq!(tiled.dimensions(), (301, 203));
    let diffs: Vec<u8> = whole.as_raw().iter().zip(tiled.as_raw()).map(|(a, b)| a.abs_diff(*b)).collect();
    let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
    eprintln!("tiled (128, overlap 24) vs whole on 301×203: max {}, mean {mean:.2}", diffs.iter().max().unwrap());
    assert!(mean < 30.0, "tiled output strays from the untiled one: mean |Δ| {mean:.2}");
    // A tile larger than the image is the untiled path.
    assert_eq!(run("one_tile.png", &["--tile", "512"]), whole);
    // A tiny tile is refused by the flag parser.
    let o = Command::new(bin("infer"))
        .args(["--input", input.to_str().unwrap(), "--output", d.join("x.png").to_str().unwrap(), "--tile", "8"])
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--tile"));
}
