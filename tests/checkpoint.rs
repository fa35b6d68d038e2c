//! Checkpoint save → load round trips and every rejection case of the loader (the bad files
//! come from `faststyle_suite::corpus::write_checkpoint_corpus`).

use faststyle::checkpoint::{self, CheckpointMeta};
use faststyle::{Checkpoint, Error, StoreDtype, TransformerConfig};
use faststyle_suite::corpus::{sample_meta as meta, sample_store as trained_store, write_checkpoint_corpus};
use faststyle_suite::{bin, rel_err, run};
use std::process::Command;
use tch::nn::Module;
use tch::{Device, Kind, Tensor};

#[test]
fn f32_round_trip_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let vs = trained_store();
    let m = meta(TransformerConfig::default());
    checkpoint::save(&path, &vs, &m, StoreDtype::F32).unwrap();
    let ck = Checkpoint::load(&path, Device::Cpu).unwrap();
    assert_eq!(ck.meta, m);
    let loaded = ck.vs.variables();
    for (name, t) in vs.variables() {
        assert!(loaded[&name].equal(&t), "{name} differs");
    }
    // The metadata alone, as `infer inspect` reads it.
    assert_eq!(CheckpointMeta::read(&path).unwrap().step, 12);
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn f16_round_trip_is_close_and_half_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let (p32, p16) = (dir.path().join("a.safetensors"), dir.path().join("b.safetensors"));
    let vs = trained_store();
    checkpoint::save(&p32, &vs, &meta(TransformerConfig::default()), StoreDtype::F32).unwrap();
    checkpoint::save(&p16, &vs, &meta(TransformerConfig::default()), StoreDtype::F16).unwrap();
    let (s32, s16) = (std::fs::metadata(&p32).unwrap().len(), std::fs::metadata(&p16).unwrap().len());
    assert!(s16 * 2 < s32 + 20_000, "{s16} vs {s32}");
    let (a, b) = (Checkpoint::load(&p32, Device::Cpu).unwrap(), Checkpoint::load(&p16, Device::Cpu).unwrap());
    let x = Tensor::rand([1, 3, 32, 32], (Kind::Float, Device::Cpu)) * 255.0;
    let (ya, yb) = tch::no_grad(|| (a.net.forward(&x), b.net.forward(&x)));
    let e = rel_err(&yb, &ya);
    assert!(e < 1e-2, "f16 checkpoint output differs by {e}");
}

#[test]
fn every_bad_checkpoint_is_refused_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases = write_checkpoint_corpus(dir.path());
    assert_eq!(cases.len(), 12);
    for case in &cases {
        let err = Checkpoint::load(&case.path, Device::Cpu).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&case.path.display().to_string()), "{}: does not name the file: {msg}", case.what);
        assert!(msg.contains(case.needle), "{}: {msg}", case.what);
        let name = case.path.file_name().unwrap().to_string_lossy().into_owned();
        let variant_ok = match name.as_str() {
            "empty.safetensors" | "garbage.safetensors" | "truncated.safetensors" | "long_header.safetensors" => {
                matches!(err, Error::BadHeader { .. })
            }
            "future.safetensors" => matches!(err, Error::FutureFormat { found: 99, .. }),
            "missing.safetensors" => {
                matches!(err, Error::MissingTensors { ref names, .. } if names == &["res3.in2.bias"])
            }
            "shape.safetensors" => matches!(err, Error::ShapeMismatch { .. }),
            "int_dtype.safetensors" => matches!(err, Error::BadDtype { ref name, .. } if name == "in1.bias"),
            _ => matches!(err, Error::BadCheckpoint { .. }),
        };
        assert!(variant_ok, "{}: unexpected error kind {err:?}", case.what);
    }
}

/// A save that fails part-way through writing the file leaves the previous checkpoint at
/// the same path byte for byte, and no temporary file. The failure is real: `infer convert`
/// writes a 6.7 MB F32 checkpoint over a 3.4 MB F16 one under a 1 MiB file-size limit
/// (`ulimit -f`, SIGXFSZ ignored), so its write returns EFBIG after the first megabyte.
#[test]
fn a_failed_save_leaves_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (p, src) = (dir.path().join("ck.safetensors"), dir.path().join("src.safetensors"));
    let vs = trained_store();
    checkpoint::save(&p, &vs, &meta(TransformerConfig::default()), StoreDtype::F16).unwrap();
    checkpoint::save(&src, &vs, &meta(TransformerConfig::default()), StoreDtype::F32).unwrap();
    let before = std::fs::read(&p).unwrap();
    let script = r#"trap '' XFSZ; ulimit -f 1024 && exec "$0" convert "$1" -o "$2" --dtype f32"#;
    let ran = run(Command::new("sh").args(["-c", script]).arg(bin("infer")).arg(&src).arg(&p));
    assert!(!ran.ok(), "the save must fail under the limit:\n{}", ran.stderr);
    assert!(ran.stderr.contains(&p.display().to_string()) && ran.stderr.contains("File too large"), "{}", ran.stderr);
    assert_eq!(std::fs::read(&p).unwrap(), before, "the previous checkpoint changed");
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["ck.safetensors", "src.safetensors"], "a temporary file was left");
    Checkpoint::load(&p, Device::Cpu).unwrap();
}

/// `trainer average` writes the element-wise mean of its checkpoints' weights, with the
/// newest one's metadata and the steps averaged, ignoring Adam state; it refuses a checkpoint
/// of another architecture, naming it. Hand-computed mean: the three stores are A + 0, A + 3
/// and A − 0.75, so every weight of the average is A + (0 + 3 − 0.75) / 3 = A + 0.75.
#[test]
fn trainer_average_writes_the_mean_of_the_weights_and_the_steps_it_averaged() {
    let dir = tempfile::tempdir().unwrap();
    let base = trained_store();
    let shifted = |by: f64| {
        let mut vs = tch::nn::VarStore::new(Device::Cpu);
        let _ = faststyle::TransformerNet::new(vs.root(), &TransformerConfig::default());
        vs.copy(&base).unwrap();
        tch::no_grad(|| {
            for (_, mut t) in vs.variables() {
                let _ = t.g_add_scalar_(by);
            }
        });
        vs
    };
    let at = |step: u64| CheckpointMeta { step, ..meta(TransformerConfig::default()) };
    let paths: Vec<_> = ["a", "b", "c"].iter().map(|n| dir.path().join(format!("{n}.safetensors"))).collect();
    checkpoint::save(&paths[0], &base, &at(500), StoreDtype::F32).unwrap();
    // The newest (step 1500) is a training checkpoint with Adam moments and resume state.
    let moment = [("m.conv1.conv2d.weight".to_string(), Tensor::ones([32, 3, 9, 9], (Kind::Float, Device::Cpu)))];
    checkpoint::save_with_state(&paths[1], &shifted(3.0), &at(1500), &moment, r#"{"step":1500}"#).unwrap();
    checkpoint::save(&paths[2], &shifted(-0.75), &at(1000), StoreDtype::F32).unwrap();
    let out = dir.path().join("mean.safetensors");
    let mut args = vec!["average".into(), "--output".into(), out.clone().into_os_string()];
    args.extend(paths.iter().map(|p| p.clone().into_os_string()));
    let ran = run(Command::new(bin("trainer")).args(&args));
    assert!(ran.ok(), "{}", ran.stderr);
    let mean = Checkpoint::load(&out, Device::Cpu).unwrap();
    assert_eq!(mean.meta, CheckpointMeta { averaged_steps: vec![500, 1000, 1500], ..at(1500) });
    let got = mean.vs.variables();
    for (name, a) in base.variables() {
        let diff = (&got[&name] - (a + 0.75)).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{name}: off the hand-computed mean by {diff}");
    }
    let file = faststyle::tensor_file::TensorFile::open(&out).unwrap();
    assert!(file.names().iter().all(|n| !n.starts_with(checkpoint::TRAIN_STATE_PREFIX)), "Adam state was written");
    let shown = run(Command::new(bin("infer")).arg("inspect").arg(&out));
    assert!(shown.ok() && shown.stdout.contains("steps 500, 1000, 1500"), "{}", shown.stdout);

    // Another architecture: refused, naming that file, and nothing is written.
    let small = TransformerConfig { residual_blocks: 3, ..TransformerConfig::default() };
    let other_vs = tch::nn::VarStore::new(Device::Cpu);
    let _ = faststyle::TransformerNet::new(other_vs.root(), &small);
    let other = dir.path().join("other.safetensors");
    checkpoint::save(&other, &other_vs, &meta(small), StoreDtype::F32).unwrap();
    let refused_out = dir.path().join("refused.safetensors");
    let ran = run(Command::new(bin("trainer")).arg("average").arg("-o").arg(&refused_out).arg(&paths[0]).arg(&other));
    assert!(!ran.ok(), "averaging two architectures must fail");
    assert!(
        ran.stderr.contains("other.safetensors") && ran.stderr.contains("only checkpoints of one network"),
        "{}",
        ran.stderr
    );
    assert!(!refused_out.exists(), "a refused average wrote a file");
}
