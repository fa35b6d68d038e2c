//! The folder pipeline of `infer`: batches of mixed frame sizes, names and layout kept, a bad
//! frame reported and skipped, stage rates in the summary, thread flags.

use faststyle::synthetic::render_scene;
use faststyle_suite::{infer_cpu as infer, infer_image, mean_abs_diff};
use std::path::Path;

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        walk(dir).into_iter().map(|p| p.strip_prefix(dir).unwrap().display().to_string()).collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn batched_pipeline_matches_one_at_a_time_and_keeps_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let frames = d.join("frames");
    std::fs::create_dir_all(frames.join("sub")).unwrap();
    // Two frame sizes interleaved, so batches must break where the size changes.
    for i in 0..7u64 {
        let (w, h) = if i % 3 == 2 { (30, 22) } else { (40, 24) };
        let name = if i == 5 { format!("sub/f{i:02}.png") } else { format!("f{i:02}.png") };
        render_scene(w, h, i).save(frames.join(name)).unwrap();
    }
    std::fs::write(frames.join("f03_broken.png"), b"not a png").unwrap();

    let one = infer(&frames, &d.join("one"), &["--batch", "1", "--threads", "1", "--io-threads", "1"]);
    let many = infer(&frames, &d.join("many"), &["--batch", "3"]);
    for out in [&one, &many] {
        let stderr = out.stderr.clone();
        assert!(!out.status.success(), "a bad frame makes the exit status non-zero");
        assert!(stderr.contains("f03_broken.png") && stderr.contains("1 of 8 file(s)"), "{stderr}");
        assert!(stderr.contains("stage rates: decode") && stderr.contains("compute"), "{stderr}");
    }
    let names = files(&d.join("one"));
    assert_eq!(names, files(&d.join("many")));
    assert_eq!(names.len(), 7);
    assert!(names.contains(&"sub/f05.png".to_string()));
    for name in &names {
        let a = image::open(d.join("one").join(name)).unwrap().to_rgb8();
        let b = image::open(d.join("many").join(name)).unwrap().to_rgb8();
        assert_eq!(a.dimensions(), b.dimensions(), "{name}");
        let worst = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
        assert!(worst <= 2, "{name}: batched output differs by {worst} levels");
    }
}

#[test]
fn reduced_precision_stays_close_to_fp32() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("in.png");
    render_scene(48, 32, 4).save(&input).unwrap();
    let run = |p: &str| infer_image(&input, &d.join(format!("{p}.png")), &["--precision", p]);
    let full = run("fp32");
    for p in ["bf16", "fp16"] {
        let img = run(p);
        let mean = mean_abs_diff(&full, &img);
        eprintln!("{p} vs fp32: mean |Δ| {mean:.2} levels");
        assert!(mean < 6.0, "{p} vs fp32: mean |Δ| {mean:.2}");
    }
}
