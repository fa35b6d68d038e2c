//! Checkpoints to and from PyTorch: `infer export --format torchscript` loaded and run by
//! `torch.jit.load` in the venv (tests/python/torchscript_check.py), `--format onnx` run by
//! onnxruntime (tests/python/onnx_check.py), and `infer import` of a
//! PyTorch reference-example state_dict made by tests/python/make_pe_state_dict.py.

use faststyle::checkpoint::save;
use faststyle::{Checkpoint, StoreDtype, TransformerNet};
use faststyle_suite::corpus::sample_meta;
use faststyle_suite::{fill_var_store, read_tensors, run, run_bin};
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::nn::Module;
use tch::{Device, Kind, Tensor};

fn python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(name)
}

/// A checkpoint of architecture `cfg` whose parameters are the deterministic
/// `fill_var_store` values (its styles named `s0`, `s1`, … when it has several).
fn write_checkpoint(path: &Path, cfg: &faststyle::TransformerConfig) {
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let _net = TransformerNet::new(vs.root(), cfg);
    fill_var_store(&vs);
    let mut meta = sample_meta(cfg.clone());
    if cfg.num_styles > 1 {
        meta.styles = (0..cfg.num_styles)
            .map(|i| faststyle::StyleInfo { name: format!("s{i}"), image: format!("s{i}.jpg"), size: [8, 8] })
            .collect();
    }
    save(path, &vs, &meta, StoreDtype::F32).unwrap();
}

#[test]
fn exported_torchscript_runs_in_pytorch_within_1e_4() {
    let dir = tempfile::tempdir().unwrap();
    let (model, pt, io) =
        (dir.path().join("m.safetensors"), dir.path().join("m.pt"), dir.path().join("io.safetensors"));
    write_checkpoint(&model, &Default::default());
    let out =
        run_bin("infer", &["export", model.to_str().unwrap(), "--format", "torchscript", "-o", pt.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.stderr.clone());
    assert!(out.stdout.clone().contains("TorchScript"), "{}", out.stdout.clone());

    // Our outputs at an aligned, an odd and a tiny size, batch 2 for one of them.
    let ck = Checkpoint::load(&model, Device::Cpu).unwrap();
    let mut tensors = Vec::new();
    for (i, (n, h, w)) in [(1, 32, 48), (2, 13, 18), (1, 3, 5)].into_iter().enumerate() {
        tch::manual_seed(i as i64);
        let x = Tensor::rand([n, 3, h, w], (Kind::Float, Device::Cpu)) * 255.0;
        let y = tch::no_grad(|| ck.net.forward(&x));
        tensors.push((format!("x_{i}"), x));
        tensors.push((format!("y_{i}"), y.contiguous()));
    }
    Tensor::write_safetensors(&tensors, &io).unwrap();
    let check = run(Command::new(python()).arg(script("torchscript_check.py")).arg(&pt).arg(&io));
    assert!(check.status.success(), "{}{}", check.stdout.clone(), check.stderr.clone());

    // An existing output is kept unless --overwrite.
    let again = run_bin("infer", &["export", model.to_str().unwrap(), "-o", pt.to_str().unwrap()]);
    assert!(!again.status.success() && again.stderr.clone().contains("--overwrite"));
    assert!(run_bin("infer", &["export", model.to_str().unwrap(), "-o", pt.to_str().unwrap(), "--overwrite"])
        .status
        .success());
    // A bad checkpoint is an error naming it, and leaves nothing behind.
    std::fs::write(dir.path().join("bad.safetensors"), b"nope").unwrap();
    let never = dir.path().join("never.pt");
    let bad = run_bin(
        "infer",
        &["export", dir.path().join("bad.safetensors").to_str().unwrap(), "-o", never.to_str().unwrap()],
    );
    assert!(!bad.status.success() && bad.stderr.clone().contains("bad.safetensors"));
    assert!(!never.exists());
}

/// `infer export --format onnx`, single- and multi-style: onnxruntime in the venv runs the
/// file at sizes other than the one it was traced at (tests/python/onnx_check.py) and matches
/// faststyle within 1e-4.
#[test]
fn exported_onnx_runs_in_onnxruntime_at_any_size_within_1e_4() {
    let dir = tempfile::tempdir().unwrap();
    for styles in [1usize, 3] {
        let cfg = faststyle::TransformerConfig { channels: [8, 16, 32], residual_blocks: 2, num_styles: styles };
        let d = dir.path();
        let (model, onnx, io) =
            (d.join(format!("m{styles}.safetensors")), d.join(format!("m{styles}.onnx")), d.join("io.safetensors"));
        write_checkpoint(&model, &cfg);
        let out =
            run_bin("infer", &["export", model.to_str().unwrap(), "--format", "onnx", "-o", onnx.to_str().unwrap()]);
        assert!(out.status.success(), "{}", out.stderr.clone());
        assert!(out.stdout.clone().contains("onnxruntime"), "{}", out.stdout.clone());
        let ck = Checkpoint::load(&model, Device::Cpu).unwrap();
        let mut tensors = Vec::new();
        for (i, (n, h, w)) in [(1, 32, 48), (2, 13, 18), (1, 5, 9)].into_iter().enumerate() {
            tch::manual_seed(i as i64);
            let x = Tensor::rand([n, 3, h, w], (Kind::Float, Device::Cpu)) * 255.0;
            let s = Tensor::rand([n, styles as i64], (Kind::Float, Device::Cpu)) + 0.1;
            let s = &s / s.sum_dim_intlist(Some([1i64].as_slice()), true, Kind::Float);
            let y = tch::no_grad(|| ck.net.forward_fast_styled(&x, &s));
            tensors.extend([(format!("x_{i}"), x), (format!("s_{i}"), s), (format!("y_{i}"), y.contiguous())]);
        }
        Tensor::write_safetensors(&tensors, &io).unwrap();
        let check = run(Command::new(python()).arg(script("onnx_check.py")).arg(&onnx).arg(&io));
        assert!(check.status.success(), "{styles} style(s): {}{}", check.stdout.clone(), check.stderr.clone());
    }
}

fn make_state_dict(dir: &Path, mode: &str) -> (PathBuf, PathBuf) {
    let (pth, io) = (dir.join(format!("ref{mode}.pth")), dir.join(format!("io{mode}.safetensors")));
    let out = run(Command::new(python()).arg(script("make_pe_state_dict.py")).arg(&pth).arg(&io).arg(mode));
    assert!(out.status.success(), "{}", out.stderr.clone());
    (pth, io)
}

#[test]
fn a_pytorch_reference_state_dict_imports_and_stylizes_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (pth, io) = make_state_dict(dir.path(), "");
    let model = dir.path().join("imported.safetensors");
    let out =
        run_bin("infer", &["import", pth.to_str().unwrap(), "-o", model.to_str().unwrap(), "--style-name", "mosaic"]);
    let stdout = out.stdout.clone();
    assert!(out.status.success(), "{}", out.stderr.clone());
    // 4 norms × (running_mean, running_var) dropped.
    assert!(stdout.contains("dropped 8 legacy key(s)") && stdout.contains("in1.running_mean"), "{stdout}");

    let ck = Checkpoint::load(&model, Device::Cpu).unwrap();
    assert_eq!((ck.meta.style_image.as_str(), ck.meta.model.residual_blocks), ("mosaic", 5));
    let io = read_tensors(&io);
    let y = tch::no_grad(|| ck.net.forward(&io["x"]));
    let rel = (&y - &io["y"]).abs().max().double_value(&[]) / io["y"].abs().max().double_value(&[]);
    assert!(rel <= 1e-4, "faststyle vs PE eager on the imported weights: {rel:e}");

    // It is an ordinary checkpoint: infer inspect reads it.
    let inspect = run_bin("infer", &["inspect", model.to_str().unwrap()]);
    assert!(inspect.status.success() && inspect.stdout.clone().contains("imported_from"));

    // A state_dict without a tensor, and a file that is not a state_dict: errors naming the file.
    let (missing, _) = make_state_dict(dir.path(), "missing");
    let out = run_bin(
        "infer",
        &["import", missing.to_str().unwrap(), "-o", dir.path().join("m2.safetensors").to_str().unwrap()],
    );
    let stderr = out.stderr.clone();
    assert!(
        !out.status.success() && stderr.contains("refmissing.pth") && stderr.contains("deconv2.conv2d.bias"),
        "{stderr}"
    );
    let (notdict, _) = make_state_dict(dir.path(), "notdict");
    let out = run_bin(
        "infer",
        &["import", notdict.to_str().unwrap(), "-o", dir.path().join("m3.safetensors").to_str().unwrap()],
    );
    let stderr = out.stderr.clone();
    assert!(!out.status.success() && stderr.contains("not a state_dict"), "{stderr}");
    assert!(!dir.path().join("m2.safetensors").exists() && !dir.path().join("m3.safetensors").exists());
}
