//! The short Python helpers behind `infer import` and `infer export`: PyTorch reads its own
//! pickled state_dicts and writes TorchScript and ONNX (checked in onnxruntime), so those steps
//! run in the venv's Python.
//! The scripts are built into the binary and written to a temporary folder to run.

use anyhow::{bail, Context, Result};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

/// reference/pe.py: the PyTorch TransformerNet (PE's names) and the any-size wrapper.
pub const PE_MODULE: &str = include_str!("../../reference/pe.py");
/// infer/python/export_torchscript.py.
pub const EXPORT_SCRIPT: &str = include_str!("../python/export_torchscript.py");
/// infer/python/export_onnx.py.
pub const EXPORT_ONNX_SCRIPT: &str = include_str!("../python/export_onnx.py");
/// infer/python/import_pe.py.
pub const IMPORT_SCRIPT: &str = include_str!("../python/import_pe.py");

/// Environment variable naming the Python to use (it must have torch and safetensors).
pub const PYTHON_ENV: &str = "FASTSTYLE_PYTHON";

/// The Python interpreter: `$FASTSTYLE_PYTHON`, else the venv this binary was built with (if
/// it is still there), else `python3` on the PATH.
pub fn interpreter() -> PathBuf {
    if let Some(p) = std::env::var_os(PYTHON_ENV) {
        return PathBuf::from(p);
    }
    match option_env!("FASTSTYLE_BUILD_PYTHON").map(PathBuf::from) {
        Some(p) if p.exists() => p,
        _ => PathBuf::from("python3"),
    }
}

/// Runs `script` (saved as `name`, with `pe.py` beside it) with `args`; returns its stdout.
///
/// # Errors
/// Python cannot be started, or the script fails (its stderr is in the message, with how to
/// get a Python that has torch).
pub fn run(name: &str, script: &str, args: &[&OsStr]) -> Result<String> {
    let dir = tempfile::tempdir().context("creating a temporary folder for the Python helper")?;
    std::fs::write(dir.path().join("pe.py"), PE_MODULE).context("writing pe.py")?;
    let path = dir.path().join(name);
    std::fs::write(&path, script).with_context(|| format!("writing {name}"))?;
    let python = interpreter();
    let out = Command::new(&python).arg(&path).args(args).output().with_context(|| {
        format!(
            "could not run {} ({name} needs Python with torch and safetensors: run `make setup`, which \
             creates .venv, or set {PYTHON_ENV})",
            python.display()
        )
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("no message");
        if stderr.contains("ModuleNotFoundError") {
            bail!(
                "{}: {last} ({name} needs torch and safetensors: run `make setup` or set {PYTHON_ENV})",
                python.display()
            );
        }
        bail!("{name} failed: {last}");
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
