//! Helpers for the workspace integration tests in `tests/` (the `faststyle-suite` library).
//!
//! Everything the tests read is generated here or committed under `tests/golden/`; nothing
//! comes from outside the repository.

pub mod corpus;
pub mod run;
pub mod train_fixture;

pub use run::{bin, run, run_bin, Ran};

use faststyle::synthetic::render_scene;
use faststyle::VggArch;
use std::path::{Path, PathBuf};
use tch::{nn, Device, Kind, Tensor};

/// The deterministic value of parameter number `k` (in sorted-name order) called `name`, of
/// `shape`: the same formula as `fill()` in `tests/golden/make_golden.py`, evaluated with the
/// same libtorch ops (f64 `sin`, then f32), so golden files need not store weights.
pub fn fill_param(name: &str, shape: &[i64], k: usize) -> Tensor {
    let n: i64 = shape.iter().product();
    let s = (Tensor::arange(n, (Kind::Double, Device::Cpu)) * 0.7 + 0.3 * k as f64).sin();
    let v = if shape.len() == 4 {
        let gain = if name.starts_with("features.") { 2.0 } else { 1.0 };
        s * (gain / ((shape[1] * shape[2] * shape[3]) as f64).sqrt())
    } else if name.ends_with("conv2d.bias") || name.starts_with("features.") {
        s * 0.1
    } else if name.ends_with(".weight") {
        s * 0.2 + 1.0
    } else {
        s * 0.2
    };
    v.reshape(shape).to_kind(Kind::Float)
}

/// Overwrites every variable of `vs` with [`fill_param`] (names taken in sorted order).
pub fn fill_var_store(vs: &nn::VarStore) {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (k, (name, mut var)) in vars.into_iter().enumerate() {
            var.copy_(&fill_param(&name, &var.size(), k));
        }
    });
}

/// A file or folder of the real data beside the checkout (`../shared/data/REL`), for the
/// `#[ignore]`d real-data tests (`make test-real`).
///
/// # Panics
/// When it is absent: a real-data test that was asked for must not pass without its data.
pub fn real_data(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(rel);
    assert!(p.exists(), "{} is absent: real-data tests run only beside ../shared/data", p.display());
    p
}

/// A file under `tests/golden/`.
pub fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

/// Reads every tensor of a safetensors file by name.
pub fn read_tensors(path: &Path) -> std::collections::HashMap<String, Tensor> {
    Tensor::read_safetensors(path).expect("golden file").into_iter().collect()
}

/// `‖a − b‖ / ‖b‖` in f64.
pub fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    f64::try_from((&a - &b).norm()).unwrap() / f64::try_from(b.norm()).unwrap().max(1e-30)
}

/// Writes `n` rendered scenes of `width×height` into `dir`, alternating JPEG and PNG (seeds
/// `seed0..seed0+n`). Returns their paths.
pub fn write_scenes(dir: &Path, n: usize, width: u32, height: u32, seed0: u64) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let ext = if i % 2 == 0 { "jpg" } else { "png" };
            let p = dir.join(format!("scene_{i:03}.{ext}"));
            render_scene(width, height, seed0 + i as u64).save(&p).unwrap();
            p
        })
        .collect()
}

/// Writes random VGG weights (torchvision keys) up to the layer `last` (e.g. `relu2_2`).
pub fn write_random_vgg(path: &Path, arch: VggArch, last: &str) {
    let idx = arch.layer_index(last).unwrap();
    faststyle::vgg::write_random_weights(path, arch, idx, 7).unwrap();
}

/// Runs `infer --input INPUT --output OUTPUT --device cpu EXTRA…` (see [`run`]).
pub fn infer_cpu(input: &Path, output: &Path, extra: &[&str]) -> Ran {
    let io = ["--input", input.to_str().unwrap(), "--output", output.to_str().unwrap(), "--device", "cpu"];
    run_bin("infer", &[&io[..], extra].concat())
}

/// [`infer_cpu`] that must succeed; returns the output image as RGB8.
pub fn infer_image(input: &Path, output: &Path, extra: &[&str]) -> image::RgbImage {
    let out = infer_cpu(input, output, extra);
    assert!(out.ok(), "infer {extra:?}: {}", out.stderr);
    image::open(output).unwrap().to_rgb8()
}

/// Mean absolute difference of two equally sized RGB8 images, in levels.
pub fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y) as f64).sum::<f64>() / a.as_raw().len() as f64
}
