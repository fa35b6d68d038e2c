//! `infer --tile`: a large image stylized in blended overlapping tiles has its input's size
//! and stays close to the untiled result (each tile has its own instance-norm statistics, so
//! not identical; README gives the measured differences on a real photo).

use faststyle::synthetic::render_scene;
use faststyle_suite::{infer_cpu, infer_image, mean_abs_diff};

#[test]
fn tiled_output_has_the_size_and_stays_close_to_untiled() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("big.png");
    render_scene(301, 203, 9).save(&input).unwrap();
    let run = |name: &str, extra: &[&str]| infer_image(&input, &d.join(name), extra);
    let whole = run("whole.png", &[]);
    let tiled = run("tiled.png", &["--tile", "128", "--tile-overlap", "24"]);
    assert_eq!(tiled.dimensions(), (301, 203));
    let mean = mean_abs_diff(&whole, &tiled);
    eprintln!("tiled (128, overlap 24) vs whole on 301×203: mean |Δ| {mean:.2}");
    assert!(mean < 30.0, "tiled output strays from the untiled one: mean |Δ| {mean:.2}");
    // A tile larger than the image is the untiled path.
    assert_eq!(run("one_tile.png", &["--tile", "512"]), whole);
    // A tiny tile is refused by the flag parser.
    let o = infer_cpu(&input, &d.join("x.png"), &["--tile", "8"]);
    assert!(!o.status.success() && o.stderr.clone().contains("--tile"));
}
