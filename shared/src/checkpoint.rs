//! The faststyle checkpoint: one self-describing safetensors file.
//!
//! Tensors are the [`TransformerNet`] parameters under their PE names
//! (`conv1.conv2d.weight`, `in1.weight`, …), stored as F32 or F16. The header's
//! `__metadata__` (a string → string map) holds:
//!
//! | key                 | value                                                         |
//! |---------------------|---------------------------------------------------------------|
//! | `format`            | [`FORMAT`]                                                    |
//! | `format_version`    | integer, [`FORMAT_VERSION`] when written by this build        |
//! | `model_config`      | JSON [`TransformerConfig`]: enough to rebuild the net          |
//! | `train_config`      | JSON of the full, resolved training config                    |
//! | `style_image`       | file name of the style image                                  |
//! | `step`              | training step at which the weights were saved                 |
//! | `loss_network`      | JSON [`LossNetworkInfo`]: VGG variant, preprocessing, weights |
//! | `faststyle_version` | version of the faststyle that wrote the file                  |
//! | `styles`            | multi-style nets only: JSON list of [`StyleInfo`], one per style |
//! | `averaged_steps`    | averaged weights only: JSON list of the steps averaged ([`average`]) |
//! | `train_state`       | optional: the trainer's resume state (JSON; see the trainer)  |
//!
//! Tensors whose names start with [`TRAIN_STATE_PREFIX`] are the trainer's optimizer state
//! (Adam moments), present in training checkpoints so a run can resume exactly. Inference
//! ignores them and the `train_state` key; `infer convert` drops them.
//!
//! A checkpoint loads on the CPU or on CUDA whatever device it was trained on (tensors are
//! always stored from CPU copies), and in F32 whatever dtype it was stored in.

use crate::error::{Error, Result};
use crate::tensor_file::{self, StoreDtype, TensorFile};
use crate::transformer::{TransformerConfig, TransformerNet};
use crate::vgg::{Preprocessing, VggArch};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{nn, Device, Tensor};

/// Value of the `format` metadata key.
pub(crate) const FORMAT: &str = "faststyle.transformer_net";
/// The newest format version this build reads, and the one it writes.
pub const FORMAT_VERSION: u32 = 1;

const KEY_FORMAT: &str = "format";
const KEY_FORMAT_VERSION: &str = "format_version";
const KEY_MODEL: &str = "model_config";
const KEY_TRAIN: &str = "train_config";
const KEY_STYLE: &str = "style_image";
const KEY_STEP: &str = "step";
const KEY_LOSS_NET: &str = "loss_network";
const KEY_SOFTWARE: &str = "faststyle_version";
const KEY_STYLES: &str = "styles";
const KEY_AVERAGED: &str = "averaged_steps";
/// Metadata key of the trainer's resume state (JSON); inference ignores it.
pub const KEY_TRAIN_STATE: &str = "train_state";
/// Prefix of the tensors holding the trainer's resume state; inference ignores them.
pub const TRAIN_STATE_PREFIX: &str = "train_state.";

/// The loss network a checkpoint was trained with (for provenance; inference needs none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossNetworkInfo {
    /// VGG16 or VGG19.
    pub arch: VggArch,
    /// Input convention the weights were used with.
    pub preprocessing: Preprocessing,
    /// File name of the VGG weights (no folder).
    pub weights: String,
}

/// One style of a multi-style net (conditional instance norm; index = position in
/// [`CheckpointMeta::styles`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StyleInfo {
    /// What `infer --style` calls it: the style image's file stem unless set otherwise.
    pub name: String,
    /// File name of the style image (no folder).
    pub image: String,
    /// `[width, height]` the style image was used at in training, pixels.
    pub size: [u32; 2],
}

/// Everything a checkpoint records besides its tensors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointMeta {
    /// Format version of the file (see [`FORMAT_VERSION`]).
    pub format_version: u32,
    /// The architecture: what `infer` needs to rebuild the net.
    pub model: TransformerConfig,
    /// The full, resolved training config (as JSON; its schema belongs to the trainer).
    pub train_config: serde_json::Value,
    /// File name of the style image.
    pub style_image: String,
    /// Training step of these weights.
    pub step: u64,
    /// The loss network used in training.
    pub loss_network: LossNetworkInfo,
    /// Version of the faststyle that wrote the file.
    pub faststyle_version: String,
    /// The styles of a multi-style net, in index order (as many as `model.num_styles`);
    /// empty for a single-style net, whose one style is [`CheckpointMeta::style_image`].
    pub styles: Vec<StyleInfo>,
    /// For weights that are the mean of several checkpoints ([`average`]): the steps of the
    /// checkpoints averaged, ascending (then `step` is the newest of them); empty otherwise.
    pub averaged_steps: Vec<u64>,
}

impl CheckpointMeta {
    /// The `__metadata__` map written into the file (see the module docs for the keys).
    ///
    /// # Errors
    /// [`Error::Config`] if a field cannot be serialised (not expected for valid values).
    pub fn to_map(&self) -> Result<HashMap<String, String>> {
        let mut map = HashMap::from([
            (KEY_FORMAT.into(), FORMAT.into()),
            (KEY_FORMAT_VERSION.into(), self.format_version.to_string()),
            (KEY_MODEL.into(), json(&self.model)?),
            (KEY_TRAIN.into(), json(&self.train_config)?),
            (KEY_STYLE.into(), self.style_image.clone()),
            (KEY_STEP.into(), self.step.to_string()),
            (KEY_LOSS_NET.into(), json(&self.loss_network)?),
            (KEY_SOFTWARE.into(), self.faststyle_version.clone()),
        ]);
        if !self.styles.is_empty() {
            map.insert(KEY_STYLES.into(), json(&self.styles)?);
        }
        if !self.averaged_steps.is_empty() {
            map.insert(KEY_AVERAGED.into(), json(&self.averaged_steps)?);
        }
        Ok(map)
    }

    /// The names `infer --style` accepts, in index order: the [`StyleInfo`] names of a
    /// multi-style net, or the style image's file stem for a single-style one.
    pub fn style_names(&self) -> Vec<String> {
        if self.styles.is_empty() {
            let stem = Path::new(&self.style_image).file_stem().map(|s| s.to_string_lossy().into_owned());
            return vec![stem.unwrap_or_else(|| "style".into())];
        }
        self.styles.iter().map(|s| s.name.clone()).collect()
    }

    /// Parses and checks the metadata map of a file. `path` is for messages.
    ///
    /// # Errors
    /// [`Error::BadCheckpoint`] when the map is absent, of another format, or has a missing or
    /// malformed entry (including a model config of another architecture);
    /// [`Error::FutureFormat`] for a version newer than [`FORMAT_VERSION`].
    pub fn from_map(path: &Path, map: &HashMap<String, String>) -> Result<Self> {
        let bad = |reason: String| Error::BadCheckpoint { path: path.to_path_buf(), reason };
        let get = |key: &str| map.get(key).ok_or_else(|| bad(format!("metadata lacks {key:?}")));
        match map.get(KEY_FORMAT) {
            Some(f) if f == FORMAT => {}
            Some(f) => return Err(bad(format!("format is {f:?}, not a faststyle checkpoint ({FORMAT:?})"))),
            None => {
                return Err(bad("no faststyle metadata: not a faststyle checkpoint (a plain state_dict of \
                     weights has to be converted first)"
                    .into()))
            }
        }
        let version: u32 = get(KEY_FORMAT_VERSION)?
            .parse()
            .map_err(|_| bad(format!("format_version {:?} is not an integer", map[KEY_FORMAT_VERSION])))?;
        if version > FORMAT_VERSION {
            return Err(Error::FutureFormat { path: path.to_path_buf(), found: version, supported: FORMAT_VERSION });
        }
        if version == 0 {
            return Err(bad("format_version 0 does not exist".into()));
        }
        let model: TransformerConfig = serde_json::from_str(get(KEY_MODEL)?)
            .map_err(|e| bad(format!("model_config is not a TransformerNet config (wrong architecture?): {e}")))?;
        model.validate().map_err(|e| bad(e.to_string()))?;
        let train_config =
            serde_json::from_str(get(KEY_TRAIN)?).map_err(|e| bad(format!("train_config is not valid JSON: {e}")))?;
        let loss_network =
            serde_json::from_str(get(KEY_LOSS_NET)?).map_err(|e| bad(format!("loss_network is invalid: {e}")))?;
        let step = get(KEY_STEP)?.parse().map_err(|_| bad(format!("step {:?} is not an integer", map[KEY_STEP])))?;
        let styles: Vec<StyleInfo> = match map.get(KEY_STYLES) {
            Some(j) => serde_json::from_str(j).map_err(|e| bad(format!("styles is invalid: {e}")))?,
            None => Vec::new(),
        };
        let averaged_steps: Vec<u64> = match map.get(KEY_AVERAGED) {
            Some(j) => serde_json::from_str(j).map_err(|e| bad(format!("averaged_steps is invalid: {e}")))?,
            None => Vec::new(),
        };
        let listed = if styles.is_empty() { 1 } else { styles.len() };
        if listed != model.num_styles {
            return Err(bad(format!("the net holds {} style(s) but the metadata names {listed}", model.num_styles)));
        }
        Ok(CheckpointMeta {
            format_version: version,
            model,
            train_config,
            style_image: get(KEY_STYLE)?.clone(),
            step,
            loss_network,
            faststyle_version: get(KEY_SOFTWARE)?.clone(),
            styles,
            averaged_steps,
        })
    }

    /// Reads and checks only the metadata of a checkpoint file (for `infer inspect`).
    ///
    /// # Errors
    /// As [`TensorFile::open`] and [`CheckpointMeta::from_map`].
    pub fn read(path: &Path) -> Result<Self> {
        let file = TensorFile::open(path)?;
        Self::from_map(path, &file.metadata())
    }
}

fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Config(e.to_string()))
}

/// Saves the parameters of `vs` (a [`TransformerNet`]'s store) with `meta`, as `dtype`,
/// atomically (temp file + rename): an interrupted save leaves any previous file intact.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written; [`Error::Torch`] on conversion failure.
pub fn save(path: &Path, vs: &nn::VarStore, meta: &CheckpointMeta, dtype: StoreDtype) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    tensor_file::write(path, &tensors, &meta.to_map()?, dtype)
}

/// Saves like [`save`] and adds the trainer's resume state: `state_tensors` (stored under
/// [`TRAIN_STATE_PREFIX`], always F32 so resuming is exact) and `state_json` (under
/// [`KEY_TRAIN_STATE`]). The network tensors are stored as F32 too.
///
/// # Errors
/// As [`save`].
pub fn save_with_state(
    path: &Path,
    vs: &nn::VarStore,
    meta: &CheckpointMeta,
    state_tensors: &[(String, Tensor)],
    state_json: &str,
) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    tensors.extend(state_tensors.iter().map(|(n, t)| (format!("{TRAIN_STATE_PREFIX}{n}"), t.shallow_clone())));
    let mut map = meta.to_map()?;
    map.insert(KEY_TRAIN_STATE.into(), state_json.to_string());
    tensor_file::write(path, &tensors, &map, StoreDtype::F32)
}

/// A loaded checkpoint: its metadata and a ready [`TransformerNet`] (F32, on the requested
/// device, parameters frozen).
#[derive(Debug)]
pub struct Checkpoint {
    /// The file's metadata.
    pub meta: CheckpointMeta,
    /// The parameters (owned here so the net stays valid).
    pub vs: nn::VarStore,
    /// The network.
    pub net: TransformerNet,
    /// Where it was loaded from.
    pub path: PathBuf,
}

impl Checkpoint {
    /// Loads a checkpoint file onto `device`.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::BadHeader`] for a corrupt or truncated file;
    /// [`Error::BadCheckpoint`] for missing/invalid metadata, another architecture, unexpected
    /// tensors or non-finite weights; [`Error::FutureFormat`]; [`Error::MissingTensors`];
    /// [`Error::ShapeMismatch`]; [`Error::BadDtype`].
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        Self::from_file(&TensorFile::open(path)?, device)
    }

    /// Loads an already opened (validated) file; see [`Checkpoint::load`].
    ///
    /// # Errors
    /// As [`Checkpoint::load`].
    pub fn from_file(file: &TensorFile, device: Device) -> Result<Self> {
        let meta = CheckpointMeta::from_map(file.path(), &file.metadata())?;
        Self::from_parts(file, meta, device)
    }

    /// Builds a checkpoint from `file`'s tensors and the given metadata (for files that carry
    /// no faststyle metadata, such as an imported PyTorch state_dict), with the same checks as
    /// [`Checkpoint::load`]: no unexpected tensors, none missing, right shapes, finite values.
    ///
    /// # Errors
    /// As [`Checkpoint::load`], less the metadata errors.
    pub fn from_parts(file: &TensorFile, meta: CheckpointMeta, device: Device) -> Result<Self> {
        let path = file.path().to_path_buf();
        let mut vs = nn::VarStore::new(device);
        let net = TransformerNet::new(vs.root(), &meta.model);
        let expected = vs.variables();
        let unexpected: Vec<String> = file
            .names()
            .into_iter()
            .filter(|n| !expected.contains_key(n) && !n.starts_with(TRAIN_STATE_PREFIX))
            .collect();
        if !unexpected.is_empty() {
            return Err(Error::BadCheckpoint {
                path,
                reason: format!(
                    "unexpected tensors for a TransformerNet with {:?} (wrong architecture?): {}",
                    meta.model,
                    unexpected.join(", ")
                ),
            });
        }
        file.load_into(&vs)?;
        vs.freeze();
        Ok(Checkpoint { meta, vs, net, path })
    }
}

/// The mean of the weights of several checkpoints of one network and style(s): Polyak
/// averaging of the iterates (Polyak & Juditsky 1992), taken over the periodic checkpoints of
/// a run as in stochastic weight averaging (Izmailov et al. 2018, Eq. 2 with equal weights).
/// Averaging the last few checkpoints of a run at a constant learning rate smooths the noise
/// of the last steps the way a final learning-rate decay does, for no training.
///
/// Every file is loaded on the CPU in F32 (Adam state ignored); the result is the element-wise
/// mean of each parameter, on the CPU. Its metadata is the newest checkpoint's (highest
/// `step`), with [`CheckpointMeta::averaged_steps`] listing the steps averaged.
///
/// # Errors
/// [`Error::Config`] for an empty list; as [`Checkpoint::load`] for each file;
/// [`Error::BadCheckpoint`] naming a file whose architecture or style(s) differ from the first
/// file's (averaging weights of different networks or styles has no meaning).
pub fn average<P: AsRef<Path>>(paths: &[P]) -> Result<Checkpoint> {
    let (first, rest) = paths.split_first().ok_or_else(|| Error::Config("no checkpoints to average".into()))?;
    let mut sum = Checkpoint::load(first.as_ref(), Device::Cpu)?;
    let mut newest = sum.meta.clone();
    let mut steps = vec![sum.meta.step];
    let sums = sum.vs.variables();
    for path in rest.iter().map(AsRef::as_ref) {
        let ck = Checkpoint::load(path, Device::Cpu)?;
        let (a, b) = (&sum.meta, &ck.meta);
        if (&b.model, &b.style_image, &b.styles) != (&a.model, &a.style_image, &a.styles) {
            return Err(Error::BadCheckpoint {
                path: path.to_path_buf(),
                reason: format!(
                    "holds {:?} for {:?}, but {} holds {:?} for {:?}: only checkpoints of one network and style \
                     can be averaged",
                    b.model,
                    b.style_names(),
                    sum.path.display(),
                    a.model,
                    a.style_names()
                ),
            });
        }
        steps.push(b.step);
        let vars = ck.vs.variables();
        tch::no_grad(|| {
            for (name, s) in &sums {
                let _ = s.shallow_clone().g_add_(&vars[name]);
            }
        });
        if b.step >= newest.step {
            newest = b.clone();
        }
    }
    let n = paths.len() as f64;
    tch::no_grad(|| {
        for s in sums.values() {
            let _ = s.shallow_clone().g_div_scalar_(n);
        }
    });
    steps.sort_unstable();
    newest.averaged_steps = steps;
    sum.meta = newest;
    Ok(sum)
}
