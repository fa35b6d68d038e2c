//! Moving checkpoints between faststyle and other runtimes: `infer export` (TorchScript,
//! ONNX) and `infer import` (a pytorch/examples fast_neural_style state_dict).

use crate::python;
use anyhow::{bail, Context, Result};
use faststyle::checkpoint::{self, CheckpointMeta, LossNetworkInfo, FORMAT_VERSION};
use faststyle::tensor_file::{self, TensorFile};
use faststyle::{Checkpoint, StoreDtype, TransformerConfig};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Input size of the export check: odd sides, so the padding path is exercised.
pub const EXPORT_CHECK_SIZE: (i64, i64) = (37, 53);
/// Largest relative difference (max |a − b| / max |a|) accepted between the exported model
/// and faststyle on the check input.
pub const EXPORT_TOLERANCE: f64 = 1e-4;

fn refuse_existing(output: &Path, overwrite: bool) -> Result<()> {
    if output.exists() && !overwrite {
        bail!("{}: the output exists; pass --overwrite to replace it", output.display());
    }
    Ok(())
}

/// What `infer export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A TorchScript module for `torch.jit.load`.
    TorchScript,
    /// An ONNX graph (opset 17) for onnxruntime and other ONNX runtimes.
    Onnx,
}

/// Writes `model` for another runtime and checks the file before putting it in place: the
/// exported model is run on a random 37×53 input (TorchScript through libtorch here, ONNX in
/// onnxruntime in the venv's Python) and compared with faststyle's forward (for a multi-style
/// model with a random blend of its styles). Returns the relative difference measured.
///
/// - **TorchScript**: `torch.jit.load(file)(x)` on `[N, 3, H, W]` RGB 0–255 of any size
///   (traced TransformerNet in a scripted pad-and-crop wrapper, reference/pe.py `AnySize`).
/// - **ONNX** (opset 17): input `image` `[N, 3, H, W]` float32 RGB 0–255, dynamic N, H, W
///   (H, W ≥ 5; the pad to a multiple of 4 is in the graph, reference/pe.py `OnnxAnySize`),
///   output `stylized` of the same size.
///
/// A multi-style model takes the style weights `[N, S]` (or `[1, S]` for TorchScript; rows
/// non-negative, summing to 1) as a second input: `module(x, styles)`, ONNX input `styles`.
///
/// # Errors
/// The checkpoint is invalid, Python/torch (and onnxruntime for ONNX) is missing, or the
/// exported model differs by more than [`EXPORT_TOLERANCE`]; nothing is written then.
pub fn export(model: &Path, output: &Path, format: ExportFormat, overwrite: bool) -> Result<f64> {
    refuse_existing(output, overwrite)?;
    let ck = Checkpoint::load(model, Device::Cpu)?;
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let weights = dir.path().join("weights.safetensors");
    let tensors: Vec<(String, Tensor)> = ck.vs.variables().into_iter().collect();
    tensor_file::write(&weights, &tensors, &HashMap::new(), StoreDtype::F32)?;
    // Deleted on any error below; renamed onto `output` once checked.
    let tmp = faststyle::fsutil::temp_path_beside(output)?;
    let model_json = serde_json::to_string(&ck.meta.model)?;
    let (h, w) = EXPORT_CHECK_SIZE;
    tch::manual_seed(0);
    let x = Tensor::rand([1, 3, h, w], (Kind::Float, Device::Cpu)) * 255.0;
    let styles = match ck.net.num_styles() {
        1 => None,
        s => {
            let r = Tensor::rand([1, s as i64], (Kind::Float, Device::Cpu)) + 0.1;
            Some(&r / r.sum(Kind::Float))
        }
    };
    // Against what `infer` runs.
    let ours = tch::no_grad(|| match &styles {
        Some(s) => ck.net.forward_fast_styled(&x, s),
        None => ck.net.forward_fast(&x),
    });
    let theirs = match format {
        ExportFormat::TorchScript => {
            python::run(
                "export_torchscript.py",
                python::EXPORT_SCRIPT,
                &[weights.as_os_str(), OsStr::new(&model_json), tmp.as_os_str()],
            )?;
            let module = tch::CModule::load(&tmp).with_context(|| format!("loading the exported {}", tmp.display()))?;
            let inputs: Vec<&Tensor> = std::iter::once(&x).chain(styles.as_ref()).collect();
            tch::no_grad(|| module.forward_ts(&inputs)).context("running the exported module")?
        }
        ExportFormat::Onnx => {
            let (check_in, check_out) =
                (dir.path().join("check_in.safetensors"), dir.path().join("check_out.safetensors"));
            let mut io = vec![("x".to_string(), x.shallow_clone())];
            io.extend(styles.as_ref().map(|s| ("styles".to_string(), s.shallow_clone())));
            tensor_file::write(&check_in, &io, &HashMap::new(), StoreDtype::F32)?;
            python::run(
                "export_onnx.py",
                python::EXPORT_ONNX_SCRIPT,
                &[
                    weights.as_os_str(),
                    OsStr::new(&model_json),
                    tmp.as_os_str(),
                    check_in.as_os_str(),
                    check_out.as_os_str(),
                ],
            )?;
            TensorFile::open(&check_out)?.tensor("y")?
        }
    };
    if theirs.size() != ours.size() {
        bail!("the exported model returned {:?} for {:?}", theirs.size(), x.size());
    }
    let diff = (&ours - &theirs).abs().max().double_value(&[]) / ours.abs().max().double_value(&[]).max(1e-12);
    if diff.is_nan() || diff > EXPORT_TOLERANCE {
        bail!("the exported model differs from faststyle by {diff:e} (relative), over {EXPORT_TOLERANCE:e}");
    }
    tmp.persist(output).map_err(|e| e.error).with_context(|| format!("renaming onto {}", output.display()))?;
    Ok(diff)
}

/// What [`import_reference`] did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// Tensors kept (the TransformerNet's parameters).
    pub kept: usize,
    /// Legacy keys dropped (`inN.running_mean`, `inN.running_var`, …).
    pub dropped: Vec<String>,
    /// The architecture read off the tensors.
    pub model: TransformerConfig,
}

/// The TransformerNet config a set of PE tensor names and shapes describes: channels from
/// `conv1`–`conv3`'s output channels, residual blocks from the `resN.` prefixes.
fn config_from_tensors(file: &TensorFile) -> Result<TransformerConfig> {
    let out_channels = |name: &str| -> Result<i64> {
        Ok(file.tensor(name).with_context(|| format!("{}: no {name}", file.path().display()))?.size()[0])
    };
    let blocks = file
        .names()
        .iter()
        .filter_map(|n| n.strip_prefix("res")?.split('.').next()?.parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    Ok(TransformerConfig {
        channels: [
            out_channels("conv1.conv2d.weight")?,
            out_channels("conv2.conv2d.weight")?,
            out_channels("conv3.conv2d.weight")?,
        ],
        residual_blocks: blocks,
        num_styles: 1,
    })
}

/// Converts a PyTorch reference-example TransformerNet state_dict (`torch.save(
/// transformer.state_dict(), "x.pth")`) into a faststyle checkpoint at `output` (F32),
/// dropping the legacy InstanceNorm running statistics. The metadata records the source file;
/// the style name defaults to the file's stem; the loss network is PE's (VGG16,
/// torchvision preprocessing).
///
/// # Errors
/// Python/torch is missing; the file is not a state_dict; tensors are missing, unexpected,
/// misshapen or non-finite (as [`Checkpoint::load`]), each naming the file.
pub fn import_reference(reference: &Path, output: &Path, style: Option<&str>, overwrite: bool) -> Result<ImportReport> {
    refuse_existing(output, overwrite)?;
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let converted = dir.path().join("state_dict.safetensors");
    let stdout = python::run("import_pe.py", python::IMPORT_SCRIPT, &[reference.as_os_str(), converted.as_os_str()])
        .with_context(|| format!("reading {}", reference.display()))?;
    let listed: serde_json::Value = serde_json::from_str(stdout.trim()).context("import_pe.py output")?;
    let dropped: Vec<String> = listed["dropped"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    // Name the original file in errors about its tensors.
    let file = TensorFile::from_bytes(reference, std::fs::read(&converted).context("reading the converted tensors")?)?;
    let model = config_from_tensors(&file)?;
    let style_image = style
        .map(String::from)
        .unwrap_or_else(|| reference.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    let meta = CheckpointMeta {
        format_version: FORMAT_VERSION,
        model: model.clone(),
        train_config: serde_json::json!({
            "imported_from": reference.display().to_string(),
            "source": "pytorch/examples fast_neural_style state_dict",
            "dropped_keys": dropped,
        }),
        style_image,
        step: 0,
        loss_network: LossNetworkInfo {
            arch: faststyle::VggArch::Vgg16,
            preprocessing: faststyle::Preprocessing::Torchvision,
            weights: "torchvision vgg16 (pytorch/examples)".into(),
        },
        faststyle_version: faststyle::VERSION.into(),
        styles: Vec::new(),
        averaged_steps: Vec::new(),
    };
    let ck = Checkpoint::from_parts(&file, meta, Device::Cpu)?;
    checkpoint::save(output, &ck.vs, &ck.meta, StoreDtype::F32)?;
    Ok(ImportReport { kept: file.names().len(), dropped, model })
}
