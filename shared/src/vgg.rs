//! The frozen VGG loss network (Simonyan & Zisserman 2015) with named taps.
//!
//! Layers follow torchvision's `vgg16().features` / `vgg19().features` numbering, ReLU and
//! max-pool layers counted, so weights load from torchvision-named files
//! (`features.N.weight`, `features.N.bias`). Each layer has a name: `convB_K`, `reluB_K`
//! (block B, conv K) and `poolB`. Indices are torchvision's (Simonyan & Zisserman 2015, Table 1,
//! configurations D and E, counted as torchvision does), e.g. VGG16 `relu2_2` = 8,
//! `relu3_3` = 15, `relu4_3` = 22; VGG19 `relu3_4` = 17, `relu4_2` = 22.
//!
//! The network is built only up to the deepest layer a config taps, so weight files that stop
//! after that layer (such as a VGG19 file holding only conv1_1–conv3_4) load.

use crate::error::{Error, Result};
use crate::tensor_file::TensorFile;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::Path;
use strum::{Display, EnumString, VariantNames};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// `relu1_2`: a style layer of Johnson et al. (JJ, PE).
pub const RELU1_2: &str = "relu1_2";
/// `relu2_2`: the content layer of Johnson et al. and PE; a style layer.
pub const RELU2_2: &str = "relu2_2";
/// `relu3_3`: JJ's content layer; a style layer.
pub const RELU3_3: &str = "relu3_3";
/// `relu3_4`: VGG19 only; the deepest layer of a VGG19 file that stops after conv3_4.
pub const RELU3_4: &str = "relu3_4";
/// `relu4_3`: the deepest style layer of Johnson et al.
pub const RELU4_3: &str = "relu4_3";

/// Output channels of the five VGG blocks (both variants).
const BLOCK_CHANNELS: [i64; 5] = [64, 128, 256, 512, 512];

/// Which VGG: the number of 3×3 convs per block is 2-2-3-3-3 (VGG16) or 2-2-4-4-4 (VGG19).
/// Written `vgg16` / `vgg19` in configs, on the command line and in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Display, EnumString, VariantNames)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum VggArch {
    /// VGG16 (configuration D).
    #[default]
    Vgg16,
    /// VGG19 (configuration E).
    Vgg19,
}

impl VggArch {
    fn convs_per_block(self) -> [usize; 5] {
        match self {
            VggArch::Vgg16 => [2, 2, 3, 3, 3],
            VggArch::Vgg19 => [2, 2, 4, 4, 4],
        }
    }

    /// Every layer of `features`, in order: index, name and operation.
    pub fn layers(self) -> Vec<VggLayer> {
        let mut layers = Vec::new();
        let mut c_in = 3;
        for (b, (&n, &c_out)) in self.convs_per_block().iter().zip(&BLOCK_CHANNELS).enumerate() {
            for k in 1..=n {
                let i = layers.len();
                let op = VggOp::Conv { c_in, c_out };
                layers.push(VggLayer { index: i, name: format!("conv{}_{k}", b + 1), op });
                layers.push(VggLayer { index: i + 1, name: format!("relu{}_{k}", b + 1), op: VggOp::Relu });
                c_in = c_out;
            }
            let i = layers.len();
            layers.push(VggLayer { index: i, name: format!("pool{}", b + 1), op: VggOp::MaxPool });
        }
        layers
    }

    /// The `features` index of a named layer.
    ///
    /// # Errors
    /// [`Error::UnknownLayer`] listing every valid name when `name` is not a layer of `self`.
    pub fn layer_index(self, name: &str) -> Result<usize> {
        let layers = self.layers();
        layers.iter().find(|l| l.name == name).map(|l| l.index).ok_or_else(|| Error::UnknownLayer {
            name: name.to_string(),
            arch: self.to_string(),
            valid: layers.into_iter().map(|l| l.name).collect(),
        })
    }
}

/// One layer of VGG `features`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VggLayer {
    /// torchvision index in `features` (the `N` of `features.N.weight`).
    pub index: usize,
    /// `convB_K`, `reluB_K` or `poolB`.
    pub name: String,
    /// What the layer computes.
    pub op: VggOp,
}

/// The operation of a VGG layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VggOp {
    /// 3×3 convolution, zero padding 1, with bias: `[N, c_in, H, W] → [N, c_out, H, W]`.
    Conv {
        /// Input channels.
        c_in: i64,
        /// Output channels.
        c_out: i64,
    },
    /// ReLU.
    Relu,
    /// 2×2 max-pool, stride 2: `[N, C, H, W] → [N, C, ⌊H/2⌋, ⌊W/2⌋]`.
    MaxPool,
}

/// How images are turned into VGG input; it must match how the weights were trained.
/// Written `torchvision` / `caffe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Display, EnumString, VariantNames)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum Preprocessing {
    /// torchvision's ImageNet models (PE): RGB, `x/255`, then `(x − mean) / std` with mean
    /// `[0.485, 0.456, 0.406]` and std `[0.229, 0.224, 0.225]`.
    #[default]
    Torchvision,
    /// The original Caffe VGG (JJ, and VGG weights converted from Caffe): BGR, 0–255, minus the
    /// BGR mean `[103.939, 116.779, 123.68]`, no std.
    Caffe,
}

impl Preprocessing {
    /// torchvision's ImageNet mean, RGB, in [0, 1] units.
    pub(crate) const TORCHVISION_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
    /// torchvision's ImageNet std, RGB, in [0, 1] units.
    pub(crate) const TORCHVISION_STD: [f64; 3] = [0.229, 0.224, 0.225];
    /// Caffe VGG mean, **BGR** order, in 0–255 units.
    pub(crate) const CAFFE_MEAN_BGR: [f64; 3] = [103.939, 116.779, 123.68];

    /// Maps `[N, 3, H, W]` RGB 0–255 images to the loss network's input convention.
    pub fn apply(self, rgb_0_255: &Tensor) -> Tensor {
        let (kind, device) = (rgb_0_255.kind(), rgb_0_255.device());
        let per_channel = |v: [f64; 3]| Tensor::from_slice(&v).to_kind(kind).to_device(device).view([1, 3, 1, 1]);
        match self {
            Preprocessing::Torchvision => {
                let std = Self::TORCHVISION_STD;
                let scale = [1.0 / (255.0 * std[0]), 1.0 / (255.0 * std[1]), 1.0 / (255.0 * std[2])];
                let m = Self::TORCHVISION_MEAN;
                let shift = [m[0] / std[0], m[1] / std[1], m[2] / std[2]];
                rgb_0_255 * per_channel(scale) - per_channel(shift)
            }
            Preprocessing::Caffe => rgb_0_255.flip([1]) - per_channel(Self::CAFFE_MEAN_BGR),
        }
    }
}

/// How the loss network's 3×3 convolutions pad their input by one pixel. Written `zeros` /
/// `reflect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Display, EnumString, VariantNames)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum VggPadding {
    /// Zero padding, as VGG was trained (Simonyan & Zisserman 2015) and every reference loss
    /// network runs. Near the image edge the activations see a black frame, so a loss on them
    /// scores the edge differently from the interior.
    #[default]
    Zeros,
    /// Reflection padding (`reflection_pad2d` then an unpadded conv): the edge looks like the
    /// interior to the loss, so it neither rewards nor punishes a band along the border.
    Reflect,
}

/// Which VGG, which input convention and which padding; recorded in checkpoints as the loss
/// network used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossNetworkConfig {
    /// VGG16 or VGG19. Default: VGG16.
    pub arch: VggArch,
    /// The input convention of the weights file. Default: torchvision.
    pub preprocessing: Preprocessing,
    /// Padding of the convolutions. Default (and for configs that predate the field): zeros.
    #[serde(default)]
    pub padding: VggPadding,
}

/// A frozen VGG trunk, built up to its deepest tap, that returns the activations of the
/// requested layers.
///
/// Input: `[N, 3, H, W]` RGB 0–255 (the preprocessing is applied inside). Output of
/// [`LossNetwork::forward`]: one tensor per tap, in the order the taps were given,
/// `[N, C_l, H_l, W_l]` with `H_l = ⌊H / 2^p⌋` after `p` pools.
#[derive(Debug)]
pub struct LossNetwork {
    /// Owns the (frozen) parameters.
    vs: nn::VarStore,
    /// The layers up to the deepest tap, with their conv modules.
    layers: Vec<(VggLayer, Option<nn::Conv2D>)>,
    /// `(name, features index)` per tap, in the caller's order.
    taps: Vec<(String, usize)>,
    cfg: LossNetworkConfig,
    /// Dtype the trunk runs in (f32 unless [`LossNetwork::set_kind`] changed it).
    kind: Kind,
}

impl LossNetwork {
    /// Builds the trunk up to the deepest of `taps` with randomly initialised parameters at
    /// `vs.root() / "features" / N`. Use [`LossNetwork::load`] for real weights.
    ///
    /// # Errors
    /// [`Error::UnknownLayer`] for a tap the architecture lacks; [`Error::Config`] for no taps.
    pub fn new(device: Device, cfg: &LossNetworkConfig, taps: &[String]) -> Result<Self> {
        if taps.is_empty() {
            return Err(Error::Config("the loss network needs at least one layer".into()));
        }
        let taps = taps.iter().map(|t| Ok((t.clone(), cfg.arch.layer_index(t)?))).collect::<Result<Vec<_>>>()?;
        let deepest = taps.iter().map(|t| t.1).max().unwrap_or(0);
        let vs = nn::VarStore::new(device);
        let features = vs.root() / "features";
        let layers = cfg
            .arch
            .layers()
            .into_iter()
            .take(deepest + 1)
            .map(|l| {
                let conv = match l.op {
                    VggOp::Conv { c_in, c_out } => Some(nn::conv2d(
                        &features / l.index,
                        c_in,
                        c_out,
                        3,
                        nn::ConvConfig {
                            padding: match cfg.padding {
                                VggPadding::Zeros => 1,
                                VggPadding::Reflect => 0,
                            },
                            ..Default::default()
                        },
                    )),
                    _ => None,
                };
                (l, conv)
            })
            .collect();
        Ok(LossNetwork { vs, layers, taps, cfg: *cfg, kind: Kind::Float })
    }

    /// Builds the trunk for `taps` and loads its weights from a torchvision-keyed safetensors
    /// file (`features.N.weight` `[c_out, c_in, 3, 3]`, `features.N.bias` `[c_out]`, any float
    /// dtype, converted to f32). Tensors beyond the deepest tap (deeper convs, `classifier.*`)
    /// are ignored. The parameters are frozen (no gradients).
    ///
    /// # Errors
    /// [`Error::UnknownLayer`] for a bad tap; [`Error::Io`]/[`Error::BadHeader`] for an
    /// unreadable file; [`Error::MissingTensors`] listing every needed tensor the file lacks;
    /// [`Error::ShapeMismatch`], [`Error::BadDtype`] or [`Error::BadCheckpoint`] (non-finite
    /// values) for a wrong tensor; [`Error::Config`] when the file declares the other input
    /// convention (see [`declared_preprocessing`]).
    pub fn load(path: &Path, cfg: &LossNetworkConfig, taps: &[String], device: Device) -> Result<Self> {
        let mut net = Self::new(device, cfg, taps)?;
        let file = TensorFile::open(path)?;
        if let Some((declared, evidence)) = declared_preprocessing(&file.metadata()) {
            if declared != cfg.preprocessing {
                return Err(Error::Config(format!(
                    "{}: the weights declare {declared} input ({evidence}) but the config says {}: set \
                     loss_network.preprocessing to \"{declared}\" (trainer --preprocessing {declared}); with the \
                     wrong convention the features, and so the loss weights, are meaningless",
                    path.display(),
                    cfg.preprocessing
                )));
            }
        }
        file.load_into(&net.vs)?;
        net.vs.freeze();
        Ok(net)
    }

    /// Runs the trunk in `kind` (`BFloat16` or `Half` for mixed precision on CUDA): the
    /// weights are converted once and each input is cast after preprocessing (which stays
    /// f32). Activations come back in `kind`; [`crate::loss`] computes Grams and losses in
    /// f32 from them.
    pub fn set_kind(&mut self, kind: Kind) {
        self.vs.set_kind(kind);
        self.kind = kind;
    }

    /// The tap names, in output order.
    pub fn taps(&self) -> Vec<&str> {
        self.taps.iter().map(|t| t.0.as_str()).collect()
    }

    /// The parameters (frozen after [`LossNetwork::load`]).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// Activations at every tap for `[N, 3, H, W]` RGB 0–255 images, in tap order.
    pub fn forward(&self, images: &Tensor) -> Vec<Tensor> {
        let all: Vec<usize> = (0..self.taps.len()).collect();
        self.forward_taps(images, &all)
    }

    /// Activations at the taps with the given positions (into [`LossNetwork::taps`]) only,
    /// stopping after the deepest of them: cheaper when only shallow taps are needed (the
    /// content target). Returned in the order of `which`.
    pub(crate) fn forward_taps(&self, images: &Tensor, which: &[usize]) -> Vec<Tensor> {
        let want: Vec<usize> = which.iter().map(|&i| self.taps[i].1).collect();
        let deepest = want.iter().copied().max().unwrap_or(0);
        let mut out: Vec<Option<Tensor>> = (0..want.len()).map(|_| None).collect();
        let _deepest = self.run_layers(self.preprocess(images), 0..deepest + 1, &mut |index, x| {
            for (slot, &idx) in out.iter_mut().zip(&want) {
                if idx == index {
                    *slot = Some(x.shallow_clone());
                }
            }
        });
        out.into_iter().map(|t| t.expect("every tap index is within the built layers")).collect()
    }

    /// `[N, 3, H, W]` RGB 0–255 images as the trunk's input: preprocessed in f32 (see
    /// [`Preprocessing::apply`]), then cast to the trunk's dtype.
    pub(crate) fn preprocess(&self, images: &Tensor) -> Tensor {
        self.cfg.preprocessing.apply(&images.to_kind(Kind::Float)).to_kind(self.kind)
    }

    /// Runs the layers whose `features` indices are in `layers` on `x` (the input of layer
    /// `layers.start`: preprocessed images for 0, else the previous layer's activation),
    /// calling `visit(index, activation)` after each layer. Returns the last activation.
    ///
    /// # Panics
    /// When `layers` reaches beyond the built trunk (the deepest tap).
    pub(crate) fn run_layers(
        &self,
        mut x: Tensor,
        layers: Range<usize>,
        visit: &mut dyn FnMut(usize, &Tensor),
    ) -> Tensor {
        for (layer, conv) in &self.layers[layers] {
            x = match (layer.op, conv) {
                (VggOp::Conv { .. }, Some(conv)) => match self.cfg.padding {
                    VggPadding::Zeros => conv.forward(&x),
                    VggPadding::Reflect => conv.forward(&x.reflection_pad2d([1, 1, 1, 1])),
                },
                (VggOp::Relu, _) => x.relu(),
                (VggOp::MaxPool, _) => x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false),
                (VggOp::Conv { .. }, None) => unreachable!("conv layers are built with a module"),
            };
            visit(layer.index, &x);
        }
        x
    }

    /// The `features` index of each tap, in tap order.
    pub(crate) fn tap_indices(&self) -> Vec<usize> {
        self.taps.iter().map(|t| t.1).collect()
    }

    /// The built trunk cut into consecutive runs of `features` indices, each ending after a
    /// max-pool or at the deepest tap: the segments that gradient checkpointing recomputes
    /// (see [`crate::PerceptualLoss::backward_checkpointed`]). Their boundaries are the pooled,
    /// hence 4× smaller, activations.
    pub(crate) fn segments(&self) -> Vec<Range<usize>> {
        let mut segments = Vec::new();
        let mut start = 0;
        for (layer, _) in &self.layers {
            if layer.op == VggOp::MaxPool || layer.index + 1 == self.layers.len() {
                segments.push(start..layer.index + 1);
                start = layer.index + 1;
            }
        }
        segments
    }
}

/// The input convention a weights file declares about itself, with the evidence: the
/// `preprocessing` metadata key (`caffe` or `torchvision`, as faststyle writes it), or else
/// unambiguous words about the input in any metadata value (`caffe`, `BGR` or the caffe mean
/// `103.939`, against torchvision's normalisation numbers `0.485` or `0.229`; a bare
/// "torchvision" usually describes the key names, so it is not taken as evidence). `None`
/// when the file says nothing, or says both. Weight values alone do not
/// tell the conventions apart reliably (first-layer magnitudes of caffe- and
/// torchvision-trained VGGs are of the same order), so they are not used.
pub(crate) fn declared_preprocessing(
    metadata: &std::collections::HashMap<String, String>,
) -> Option<(Preprocessing, String)> {
    if let Some(v) = metadata.get("preprocessing") {
        if let Ok(p) = v.parse::<Preprocessing>() {
            return Some((p, format!("metadata preprocessing = {v:?}")));
        }
    }
    let mut keys: Vec<&String> = metadata.keys().collect();
    keys.sort();
    let (mut caffe, mut tv) = (None, None);
    for k in keys {
        let v = metadata[k].to_ascii_lowercase();
        if caffe.is_none() && ["caffe", "bgr", "103.939"].iter().any(|w| v.contains(w)) {
            caffe = Some(format!("metadata {k} = {:?}", metadata[k]));
        }
        if tv.is_none() && ["0.485", "0.229"].iter().any(|w| v.contains(w)) {
            tv = Some(format!("metadata {k} = {:?}", metadata[k]));
        }
    }
    match (caffe, tv) {
        (Some(e), None) => Some((Preprocessing::Caffe, e)),
        (None, Some(e)) => Some((Preprocessing::Torchvision, e)),
        _ => None,
    }
}

/// Writes randomly initialised VGG weights, keyed like torchvision, up to and including
/// `features.{last_index}`: for tests and benches that need a loss network but have no real
/// weights. Weights ~ U(−1/√fan_in, 1/√fan_in)·√6 (Kaiming-uniform for ReLU), biases 0.01.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn write_random_weights(path: &Path, arch: VggArch, last_index: usize, seed: i64) -> Result<()> {
    tch::manual_seed(seed);
    let mut tensors = Vec::new();
    for l in arch.layers().into_iter().take(last_index + 1) {
        if let VggOp::Conv { c_in, c_out } = l.op {
            let bound = (6.0 / (c_in as f64 * 9.0)).sqrt();
            let w = Tensor::rand([c_out, c_in, 3, 3], (Kind::Float, Device::Cpu)) * (2.0 * bound) - bound;
            tensors.push((format!("features.{}.weight", l.index), w));
            tensors
                .push((format!("features.{}.bias", l.index), Tensor::full([c_out], 0.01, (Kind::Float, Device::Cpu))));
        }
    }
    crate::tensor_file::write(path, &tensors, &Default::default(), crate::tensor_file::StoreDtype::F32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_match_design_md() {
        // torchvision `vgg16().features` / `vgg19().features` indices (ReLU and pool counted).
        for (name, idx) in [
            ("conv1_1", 0),
            ("relu1_1", 1),
            ("conv1_2", 2),
            ("relu1_2", 3),
            ("pool1", 4),
            ("conv2_1", 5),
            ("relu2_2", 8),
            ("pool2", 9),
            ("conv3_1", 10),
            ("conv3_2", 12),
            ("conv3_3", 14),
            ("relu3_3", 15),
            ("pool3", 16),
            ("conv4_1", 17),
            ("conv4_3", 21),
            ("relu4_3", 22),
        ] {
            assert_eq!(VggArch::Vgg16.layer_index(name).unwrap(), idx, "vgg16 {name}");
        }
        for (name, idx) in [
            ("relu1_1", 1),
            ("relu1_2", 3),
            ("relu2_1", 6),
            ("relu2_2", 8),
            ("relu3_1", 11),
            ("relu3_2", 13),
            ("relu3_3", 15),
            ("relu3_4", 17),
            ("pool3", 18),
            ("relu4_1", 20),
            ("relu4_2", 22),
        ] {
            assert_eq!(VggArch::Vgg19.layer_index(name).unwrap(), idx, "vgg19 {name}");
        }
        // A VGG19 file that stops after conv3_4 ends at features.16.
        assert_eq!(VggArch::Vgg19.layer_index("conv3_4").unwrap(), 16);
        assert_eq!(VggArch::Vgg16.layers().len(), 31);
        assert_eq!(VggArch::Vgg19.layers().len(), 37);
    }

    #[test]
    fn unknown_layer_lists_valid_names() {
        let err = VggArch::Vgg16.layer_index(RELU3_4).unwrap_err().to_string();
        assert!(err.contains("relu3_4") && err.contains("vgg16"), "{err}");
        assert!(err.contains("relu4_3") && err.contains("pool5"), "{err}");
    }

    #[test]
    fn builds_only_to_deepest_tap_and_shapes() {
        let cfg =
            LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: Preprocessing::Torchvision, ..Default::default() };
        let taps = vec![RELU2_2.to_string(), RELU1_2.to_string()];
        let net = LossNetwork::new(Device::Cpu, &cfg, &taps).unwrap();
        // conv1_1, conv1_2, conv2_1, conv2_2: 4 convs × (weight, bias).
        assert_eq!(net.var_store().variables().len(), 8);
        let x = Tensor::rand([2, 3, 16, 20], (Kind::Float, Device::Cpu)) * 255.0;
        let f = tch::no_grad(|| net.forward(&x));
        assert_eq!(f[0].size(), [2, 128, 8, 10]); // relu2_2 after one pool
        assert_eq!(f[1].size(), [2, 64, 16, 20]); // relu1_2
    }

    /// The border fix at its source: a flat image must look the same to the loss network at
    /// the edge as inside, or the loss scores (and Gatys and training paint) a band along the
    /// border. With reflection padding every activation of a flat image is flat; with VGG's
    /// zero padding (the old behaviour) the outer ring of each tap differs from the interior.
    #[test]
    fn reflect_padding_sees_a_flat_image_as_flat_at_the_border() {
        let taps = [RELU1_2, RELU2_2, RELU3_3].map(String::from);
        // Max |activation − interior value| over the outer 2-pixel ring, relative to the
        // interior value's magnitude, worst over the taps.
        let border_deviation = |padding: VggPadding| {
            tch::manual_seed(11);
            let cfg = LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: Preprocessing::Caffe, padding };
            let net = LossNetwork::new(Device::Cpu, &cfg, &taps).unwrap();
            // [1, 3, 32, 32] flat colour → relu1_2 32², relu2_2 16², relu3_3 8².
            let flat = Tensor::from_slice(&[180.0f32, 90.0, 40.0]).view([1, 3, 1, 1]).expand([1, 3, 32, 32], false);
            let f = tch::no_grad(|| net.forward(&flat));
            f.iter()
                .map(|a| {
                    let (h, w) = (a.size()[2], a.size()[3]);
                    let inside = a.narrow(2, h / 2, 1).narrow(3, w / 2, 1);
                    let ring = (a - &inside).abs().amax([1], false);
                    let mask = Tensor::ones([h, w], (Kind::Float, Device::Cpu));
                    let _ = mask.narrow(0, 2, h - 4).narrow(1, 2, w - 4).fill_(0.0);
                    let worst = f64::try_from((ring * mask).max()).unwrap();
                    worst / f64::try_from(inside.abs().max()).unwrap().max(1e-6)
                })
                .fold(0.0, f64::max)
        };
        let (zeros, reflect) = (border_deviation(VggPadding::Zeros), border_deviation(VggPadding::Reflect));
        assert!(zeros > 0.1, "zero padding makes the border differ: {zeros}");
        assert!(reflect < 1e-5, "reflection padding must keep a flat image flat to the edge: {reflect}");
    }

    #[test]
    fn declared_conventions() {
        let m = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(declared_preprocessing(&m(&[("preprocessing", "caffe")])).unwrap().0, Preprocessing::Caffe);
        let shared = m(&[
            ("input", "Keras caffe-mode: BGR channel order, 0-255 range"),
            ("layout", "OIHW (PyTorch), keys = torchvision vgg19.features indices 0..16"),
        ]);
        let (p, why) = declared_preprocessing(&shared).unwrap();
        assert_eq!(p, Preprocessing::Caffe);
        assert!(why.contains("caffe-mode"), "{why}");
        let tv = m(&[("note", "RGB in [0, 1], mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]")]);
        assert_eq!(declared_preprocessing(&tv).unwrap().0, Preprocessing::Torchvision);
        assert!(declared_preprocessing(&m(&[("a", "caffe"), ("b", "std 0.229")])).is_none());
        assert!(declared_preprocessing(&m(&[("keys", "torchvision names")])).is_none());
        assert!(declared_preprocessing(&m(&[])).is_none());
    }

    #[test]
    fn preprocessing_matches_formulas() {
        let x = Tensor::from_slice(&[255.0f32, 0.0, 127.5]).view([1, 3, 1, 1]);
        let tv = Vec::<f32>::try_from(Preprocessing::Torchvision.apply(&x).flatten(0, -1)).unwrap();
        let expect = [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (0.5 - 0.406) / 0.225];
        for (a, b) in tv.iter().zip(expect) {
            assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
        }
        let caffe = Vec::<f32>::try_from(Preprocessing::Caffe.apply(&x).flatten(0, -1)).unwrap();
        // BGR: B = 127.5, G = 0, R = 255.
        let expect = [127.5 - 103.939, 0.0 - 116.779, 255.0 - 123.68];
        for (a, b) in caffe.iter().zip(expect) {
            assert!((*a as f64 - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}
