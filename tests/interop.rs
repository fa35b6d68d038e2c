//! Checkpoints to and from PyTorch: `infer export --format torchscript` loaded and run by
//! `torch.jit.load` in the venv (tests/python/torchscript_check.py), and `infer import` of a
//! PyTorch reference-example state_dict made by tests/python/make_pe_state_dict.py.

use faststyle::checkpoint::save;
use faststyle::{Checkpoint, StoreDtype, TransformerNet};
use faststyle_suite::corpus::sample_meta;
use faststyle_suite::{bin, fill_var_store, read_tensors};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tch::nn::Module;
use tch::{Device, Kind, Tensor};

fn python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(name)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn infer(args: &[&str]) -> Output {
    let out = Command::new(bin("infer")).args(args).output().unwrap();
    assert!(!text(&out.stderr).contains("panicked at"), "{}", text(&out.stderr));
    out
}

/// A checkpoint whose parameters are the deterministic `fill_var_store` values.
fn write_checkpoint(path: &Path) {
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let _net = TransformerNet::new(vs.root(), &Default::default());
    fill_var_store(&vs);
    let meta = sample_meta(Default::default());
    save(path, &vs, &meta, StoreDtype::F32).unwrap();
}

#[test]
fn exported_torchscript_runs_in_pytorch_within_1e_4() {
    let dir = tempfile::tempdir().unwrap();
    let (model, pt, io) =
        (dir.path().join("m.safetensors"), dir.path().join("m.pt"), dir.path().join("io.safetensors"));
    write_checkpoint(&model);
    let out = infer(&["export", model.to_str().unwrap(), "--format", "torchscript", "-o", pt.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("TorchScript"), "{}", text(&out.stdout));

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
    let check = Command::new(python()).arg(script("torchscript_check.py")).arg(&pt).arg(&io).output().unwrap();
    assert!(check.status.success(), "{}{}", text(&check.stdout), text(&check.stderr));

    // An existing output is kept unless --overwrite.
    let again = infer(&["export", model.to_str().unwrap(), "-o", pt.to_str().unwrap()]);
    assert!(!again.status.success() && text(&again.stderr).contains("--overwrite"));
    assert!(infer(&["export", model.to_str().unwrap(), "-o", pt.to_str().unwrap(), "--overwrite"]).status.success());
    // A bad checkpoint is an error naming it, and leaves nothing behind.
    std::fs::write(dir.path().join("bad.safetensors"), b"nope").unwrap();
    let never = dir.path().join("never.pt");
    let bad = infer(&["export", dir.path().join("bad.safetensors").to_str().unwrap(), "-o", never.to_str().unwrap()]);
    assert!(!bad.status.success() && text(&bad.stderr).contains("bad.safetensors"));
    assert!(!never.exists());
}

fn make_state_dict(dir: &Path, mode: &str) -> (PathBuf, PathBuf) {
    let (pth, io) = (dir.join(format!("ref{mode}.pth")), dir.join(format!("io{mode}.safetensors")));
    let out =
        Command::new(python()).arg(script("make_pe_state_dict.py")).arg(&pth).arg(&io).arg(mode).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    (pth, io)
}

#[test]
fn a_pytorch_reference_state_dict_imports_and_stylizes_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (pth, io) = make_state_dict(dir.path(), "");
    let model = dir.path().join("imported.safetensors");
    let out = infer(&["import", pth.to_str().unwrap(), "-o", model.to_str().unwrap(), "--style-name", "mosaic"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // 4 norms × (running_mean, running_var) dropped.
    assert!(stdout.contains("dropped 8 legacy key(s)") && stdout.contains("in1.running_mean"), "{stdout}");

    let ck = Checkpoint::load(&model, Device::Cpu).unwrap();
    assert_eq!((ck.meta.style_image.as_str(), ck.meta.model.residual_blocks), ("mosaic", 5));
    let io = read_tensors(&io);
    let y = tch::no_grad(|| ck.net.forward(&io["x"]));
    let rel = (&y - &io["y"]).abs().max().double_value(&[]) / io["y"].abs().max().double_value(&[]);
    assert!(rel <= 1e-4, "faststyle vs PE eager on the imported weights: {rel:e}");

    // It is an ordinary checkpoint: infer inspect reads it.
    let inspect = infer(&["inspect", model.to_str().unwrap()]);
    assert!(inspect.status.success() && text(&inspect.stdout).contains("imported_from"));

    // A state_dict without a tensor, and a file that is not a state_dict: errors naming the file.
    let (missing, _) = make_state_dict(dir.path(), "missing");
    let out = infer(&["import", missing.to_str().unwrap(), "-o", dir.path().join("m2.safetensors").to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("refmissing.pth") && stderr.contains("deconv2.conv2d.bias"),
        "{stderr}"
    );
    let (notdict, _) = make_state_dict(dir.path(), "notdict");
    let out = infer(&["import", notdict.to_str().unwrap(), "-o", dir.path().join("m3.safetensors").to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success() && stderr.contains("not a state_dict"), "{stderr}");
    assert!(!dir.path().join("m2.safetensors").exists() && !dir.path().join("m3.safetensors").exists());
}
