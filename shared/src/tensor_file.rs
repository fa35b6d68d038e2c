//! Checked reading and writing of safetensors files (HuggingFace safetensors format:
//! an 8-byte little-endian header length, a JSON header with dtype/shape/offsets per tensor
//! and an optional `__metadata__` string map, then the raw little-endian data).
//!
//! Reading validates the whole header up front, so a truncated file, a header length larger
//! than the file, or overlapping offsets are reported as [`Error::BadHeader`] naming the
//! file, before any tensor is touched.

use crate::error::{Error, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use strum::{Display, EnumString, VariantNames};
use tch::{nn, Kind, Tensor};

/// Storage dtype of the tensors [`write`] stores. F16 halves a checkpoint (3.4 MB for the
/// default TransformerNet) at an inference error far below one 8-bit level; training
/// checkpoints and resume state use F32. Written and parsed as `f32` / `f16` (also `fp32`,
/// `float32`, `fp16`, `float16`, `half`), case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Display, EnumString, VariantNames)]
#[serde(rename_all = "lowercase")]
#[strum(ascii_case_insensitive)]
pub enum StoreDtype {
    /// IEEE single precision, exact.
    #[default]
    #[strum(to_string = "f32", serialize = "fp32", serialize = "float32")]
    F32,
    /// IEEE half precision.
    #[strum(to_string = "f16", serialize = "fp16", serialize = "float16", serialize = "half")]
    F16,
}

/// A safetensors file whose header has been validated.
pub struct TensorFile {
    path: PathBuf,
    data: Box<dyn Deref<Target = [u8]> + Send + Sync>,
}

impl std::fmt::Debug for TensorFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorFile").field("path", &self.path).field("bytes", &self.data.len()).finish()
    }
}

impl TensorFile {
    /// Memory-maps and validates `path`. Large weight files (a full VGG with its classifier is
    /// over 500 MB) are not read into memory: only the tensors used are copied out.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened or mapped; [`Error::BadHeader`] when it
    /// is not a well-formed safetensors file.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let data: Box<dyn Deref<Target = [u8]> + Send + Sync> = if len == 0 {
            Box::new(Vec::new())
        } else {
            // SAFETY: the map is read-only and lives while `self` does. Concurrent truncation
            // of the file by another process is outside what we can guard against (as with
            // every mmap-based reader, e.g. the safetensors Python package).
            Box::new(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?)
        };
        Self::from_data(path.to_path_buf(), data)
    }

    /// Validates an in-memory file; `path` is used only in error messages.
    ///
    /// # Errors
    /// [`Error::BadHeader`] when `bytes` is not a well-formed safetensors file.
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<Self> {
        Self::from_data(path.into(), Box::new(bytes))
    }

    fn from_data(path: PathBuf, data: Box<dyn Deref<Target = [u8]> + Send + Sync>) -> Result<Self> {
        SafeTensors::deserialize(&data).map_err(|e| Error::BadHeader { path: path.clone(), reason: e.to_string() })?;
        Ok(TensorFile { path, data })
    }

    /// The path given when opening (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn parsed(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.data).expect("validated when the file was opened")
    }

    /// The `__metadata__` map of the header (empty when absent).
    pub fn metadata(&self) -> HashMap<String, String> {
        SafeTensors::read_metadata(&self.data).ok().and_then(|(_, m)| m.metadata().clone()).unwrap_or_default()
    }

    /// Every tensor name in the file, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.parsed().names().into_iter().map(String::from).collect();
        names.sort();
        names
    }

    /// Copies out one tensor as a CPU tensor of its stored dtype (floating dtypes only).
    ///
    /// # Errors
    /// [`Error::MissingTensors`] when absent; [`Error::BadDtype`] for a non-float dtype.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let st = self.parsed();
        let view = st
            .tensor(name)
            .map_err(|_| Error::MissingTensors { path: self.path.clone(), names: vec![name.to_string()] })?;
        self.to_tensor(name, &view)
    }

    fn to_tensor(&self, name: &str, view: &TensorView<'_>) -> Result<Tensor> {
        let kind = match view.dtype() {
            Dtype::F32 => Kind::Float,
            Dtype::F16 => Kind::Half,
            Dtype::BF16 => Kind::BFloat16,
            Dtype::F64 => Kind::Double,
            other => {
                return Err(Error::BadDtype {
                    path: self.path.clone(),
                    name: name.to_string(),
                    found: format!("{other:?}"),
                })
            }
        };
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        Ok(Tensor::f_from_data_size(view.data(), &shape, kind)?)
    }

    /// Copies every variable of `vs` from the tensor of the same name, converting dtype and
    /// device to the variable's. Tensors the store does not have are ignored (see
    /// [`TensorFile::names`] to reject them).
    ///
    /// # Errors
    /// [`Error::MissingTensors`] listing every variable the file lacks (all of them at once);
    /// [`Error::ShapeMismatch`]; [`Error::BadDtype`]; [`Error::BadCheckpoint`] when a tensor
    /// holds NaN or infinite values. On error `vs` may be partly overwritten.
    pub fn load_into(&self, vs: &nn::VarStore) -> Result<()> {
        let st = self.parsed();
        let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
        let missing: Vec<String> = vars.keys().filter(|k| st.tensor(k).is_err()).cloned().collect();
        if !missing.is_empty() {
            return Err(Error::MissingTensors { path: self.path.clone(), names: missing });
        }
        for (name, var) in &vars {
            let view = st.tensor(name).expect("checked above");
            let src = self.to_tensor(name, &view)?;
            if src.size() != var.size() {
                return Err(Error::ShapeMismatch {
                    path: self.path.clone(),
                    name: name.clone(),
                    found: src.size(),
                    expected: var.size(),
                });
            }
            if !bool::try_from(src.isfinite().all())? {
                return Err(Error::BadCheckpoint {
                    path: self.path.clone(),
                    reason: format!("tensor {name} holds NaN or infinite values"),
                });
            }
            let mut var = var.shallow_clone();
            tch::no_grad(|| var.f_copy_(&src))?;
        }
        Ok(())
    }
}

/// Writes named tensors and a metadata map as a safetensors file, atomically (temp file +
/// rename, see [`crate::fsutil::write_atomic`]). Each tensor is moved to the CPU, converted to
/// `dtype` and made contiguous. Names are written sorted, so the bytes are reproducible.
///
/// # Errors
/// [`Error::Io`] when writing fails; [`Error::WriteTensors`] when the tensors cannot be laid
/// out as safetensors; [`Error::Torch`] for tensors that cannot be converted.
pub fn write(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: &HashMap<String, String>,
    dtype: StoreDtype,
) -> Result<()> {
    let (kind, st_dtype) = match dtype {
        StoreDtype::F32 => (Kind::Float, Dtype::F32),
        StoreDtype::F16 => (Kind::Half, Dtype::F16),
    };
    let mut buffers: Vec<(String, Vec<i64>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.f_to_device(tch::Device::Cpu)?.f_to_kind(kind)?.f_contiguous()?;
        let numel = t.numel();
        let mut bytes = vec![0u8; numel * kind.elt_size_in_bytes()];
        t.f_copy_data_u8(&mut bytes, numel)?;
        buffers.push((name.clone(), t.size(), bytes));
    }
    buffers.sort_by(|a, b| a.0.cmp(&b.0));
    let views = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            let shape = shape.iter().map(|&d| d as usize).collect();
            TensorView::new(st_dtype, shape, bytes).map(|v| (name.as_str(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::WriteTensors { path: path.to_path_buf(), reason: e.to_string() })?;
    let meta = if metadata.is_empty() { None } else { Some(metadata.clone()) };
    let bytes = safetensors::serialize(views, meta)
        .map_err(|e| Error::WriteTensors { path: path.to_path_buf(), reason: e.to_string() })?;
    crate::fsutil::write_bytes_atomic(path, &bytes)
}
