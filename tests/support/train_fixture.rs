//! A small training set-up shared by the tests that run the `trainer` binary.

use crate::{write_random_vgg, write_scenes};
use faststyle::synthetic::render_scene;
use faststyle::VggArch;
use std::path::PathBuf;

/// A training fixture: a dataset folder (12 rendered scenes in two sub-folders plus a broken
/// `broken.jpg`), a style image and random VGG16 weights up to relu2_2; `args` gives a tiny CPU
/// run (32 px crops, batch 2, content relu2_2, style relu1_2 and relu2_2, seed 11).
pub struct TrainFixture {
    dir: tempfile::TempDir,
}

impl TrainFixture {
    /// Writes the files into a new temporary folder.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_scenes(&d.join("data/a"), 7, 64, 48, 0);
        write_scenes(&d.join("data/b"), 5, 40, 56, 20);
        std::fs::write(d.join("data/broken.jpg"), b"not a jpeg").unwrap();
        render_scene(80, 60, 42).save(d.join("style.png")).unwrap();
        write_random_vgg(&d.join("vgg.safetensors"), VggArch::Vgg16, "relu2_2");
        TrainFixture { dir }
    }

    /// A path inside the fixture's folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Trainer arguments for a new run into `run` (relative to the fixture) for `steps`.
    pub fn args(&self, run: &str, steps: u64) -> Vec<String> {
        let p = |rel: &str| self.path(rel).to_string_lossy().into_owned();
        [
            "--dataset",
            &p("data"),
            "--style",
            &p("style.png"),
            "--vgg",
            &p("vgg.safetensors"),
            "--vgg-arch",
            "vgg16",
            "--preprocessing",
            "torchvision",
            "--content-layers",
            "relu2_2",
            "--style-layers",
            "relu1_2,relu2_2",
            "--batch-size",
            "2",
            "--image-size",
            "32",
            "--log-every",
            "1",
            "--preview-images",
            "2",
            "--device",
            "cpu",
            "--seed",
            "11",
            "--steps",
            &steps.to_string(),
            "--out",
            &p(run),
        ]
        .map(String::from)
        .to_vec()
    }
}

/// `args` with each `--flag value` pair of `more` replacing the flag's value or appended.
pub fn with_flags(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    for pair in more.chunks(2) {
        match args.iter().position(|a| a == pair[0]) {
            Some(i) => args[i + 1] = pair[1].to_string(),
            None => args.extend(pair.iter().map(|s| s.to_string())),
        }
    }
    args
}

impl Default for TrainFixture {
    fn default() -> Self {
        Self::new()
    }
}
