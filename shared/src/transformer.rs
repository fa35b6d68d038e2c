//! The image transformation network of Johnson et al. 2016 ("TransformerNet").
//!
//! Architecture (JJ notation `c9s1-32, d64, d128, R128 ×5, u64, u32, c9s1-3`) with the choices
//! of the PyTorch reference example (pytorch/examples `fast_neural_style/transformer_net.py`,
//! "PE"): reflection padding, affine instance norm (eps 1e-5, no running statistics), and
//! nearest-neighbour ×2 upsampling followed by a 3×3 convolution instead of transposed
//! convolutions (no checkerboard artifacts; JJ issue #37). Parameter names are exactly PE's
//! `state_dict` keys (`conv1.conv2d.weight`, `in1.weight`, `res1.conv1.conv2d.weight`,
//! `deconv1.conv2d.weight`, …), so weights move between the two implementations unchanged.
//!
//! | layer   | op                                                      | shape (input H×W, mult. of 4) |
//! |---------|---------------------------------------------------------|--------------------------------|
//! | conv1   | reflect pad 4, conv 9×9, 3→32, stride 1; in1 + ReLU      | [N, 32, H, W]                  |
//! | conv2   | reflect pad 1, conv 3×3, 32→64, stride 2; in2 + ReLU     | [N, 64, H/2, W/2]              |
//! | conv3   | reflect pad 1, conv 3×3, 64→128, stride 2; in3 + ReLU    | [N, 128, H/4, W/4]             |
//! | res1..5 | x + IN(conv(ReLU(IN(conv(x)))))                          | [N, 128, H/4, W/4]             |
//! | deconv1 | nearest ×2, reflect pad 1, conv 3×3, 128→64; in4 + ReLU  | [N, 64, H/2, W/2]              |
//! | deconv2 | nearest ×2, reflect pad 1, conv 3×3, 64→32; in5 + ReLU   | [N, 32, H, W]                  |
//! | deconv3 | reflect pad 4, conv 9×9, 32→3 (no norm, no activation)   | [N, 3, H, W]                   |
//!
//! With the default [`TransformerConfig`] this is 1,679,235 parameters (6.7 MB in f32).

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::Tensor;

/// Instance-norm epsilon: PyTorch's `InstanceNorm2d` default, as PE uses.
pub(crate) const INSTANCE_NORM_EPS: f64 = 1e-5;

/// The smallest padded side the network accepts: conv3's output (side/4) must be at least 2
/// for the residual blocks' reflection pad of 1, and conv1's reflection pad of 4 needs a side
/// of at least 5. Smaller inputs are padded up to this and cropped back.
pub const MIN_PADDED_SIDE: i64 = 8;

/// The net halves the resolution twice and doubles it twice, so sides must be multiples of 4
/// for the output to come back the input's size; other sides are padded up and cropped back.
pub(crate) const SIDE_MULTIPLE: i64 = 4;

/// Hyper-parameters of [`TransformerNet`]. Stored in every checkpoint (`model_config`) so
/// that `infer` can rebuild the net without the training config.
///
/// Read from JSON it may name a [`Preset`] (`{"preset": "half"}`), whose widths and block count
/// then apply unless `channels` or `residual_blocks` are given too; it is always written
/// resolved (`channels`, `residual_blocks`, and `num_styles` when above 1), so checkpoints of
/// every preset keep the reference's layer names and load anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TransformerSpec")]
pub struct TransformerConfig {
    /// Output channels of conv1, conv2 and conv3; the upsampling path mirrors them
    /// (deconv1 → `channels[1]`, deconv2 → `channels[0]`). Default `[32, 64, 128]` (PE, JJ).
    pub channels: [i64; 3],
    /// Number of residual blocks at `channels[2]`. Default 5 (PE, JJ).
    pub residual_blocks: usize,
    /// Styles the net holds (conditional instance norm, Dumoulin et al. 2017): every
    /// instance norm keeps a scale and shift per style, `[S, C]`, and a style-weight vector
    /// picks or blends them. Default 1: today's single-style net, with PE's `[C]` norms and
    /// names; 1 is left out of the stored config, so such checkpoints read as before.
    #[serde(skip_serializing_if = "is_one")]
    pub num_styles: usize,
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl Default for TransformerConfig {
    fn default() -> Self {
        Preset::Johnson.config()
    }
}

/// Named TransformerNet sizes; each keeps the reference's layers and names, only widths
/// differ. Per-pixel cost in [`TransformerConfig::flops_per_pixel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumString, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Preset {
    /// 32-64-128, 5 residual blocks: Johnson et al. and PE (the default).
    Johnson,
    /// 16-32-64, 5 blocks: jcjohnson/fast-neural-style's instance-norm models, "smaller and
    /// faster without sacrificing quality".
    Half,
    /// 8-16-32, 5 blocks: magenta's width multiplier 0.25 for mobile.
    Mobile,
}

impl Preset {
    /// The preset's single-style config.
    pub fn config(self) -> TransformerConfig {
        let channels = match self {
            Preset::Johnson => [32, 64, 128],
            Preset::Half => [16, 32, 64],
            Preset::Mobile => [8, 16, 32],
        };
        TransformerConfig { channels, residual_blocks: 5, num_styles: 1 }
    }
}

/// [`TransformerConfig`] as written in JSON: an optional preset, and fields that override it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransformerSpec {
    preset: Option<Preset>,
    channels: Option<[i64; 3]>,
    residual_blocks: Option<usize>,
    num_styles: Option<usize>,
}

impl TryFrom<TransformerSpec> for TransformerConfig {
    type Error = String;

    fn try_from(s: TransformerSpec) -> Result<Self, String> {
        let base = s.preset.unwrap_or(Preset::Johnson).config();
        let cfg = TransformerConfig {
            channels: s.channels.unwrap_or(base.channels),
            residual_blocks: s.residual_blocks.unwrap_or(base.residual_blocks),
            num_styles: s.num_styles.unwrap_or(1),
        };
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }
}

impl TransformerConfig {
    /// Checks that every channel count is positive.
    ///
    /// # Errors
    /// [`crate::Error::Config`] naming the bad value.
    pub fn validate(&self) -> crate::Result<()> {
        if self.residual_blocks > 64 {
            return Err(crate::Error::Config(format!(
                "model.residual_blocks is {}; more than 64 is surely a mistake",
                self.residual_blocks
            )));
        }
        if self.channels.iter().any(|&c| c <= 0) {
            return Err(crate::Error::Config(format!("model.channels must all be positive, got {:?}", self.channels)));
        }
        if self.num_styles == 0 {
            return Err(crate::Error::Config("model.num_styles must be at least 1".into()));
        }
        Ok(())
    }
}

impl TransformerConfig {
    /// Floating-point operations per input pixel of one forward pass as `infer` runs it
    /// ([`TransformerNet::forward_fast`]: the two upsampling convs in sub-pixel form, 4/9 of
    /// their direct multiply-adds), counting a multiply-add as 2 and the convolutions only
    /// (norms, ReLUs and padding are a few per cent more). `[32, 64, 128]`, 5 blocks: about
    /// 267 kFLOP/pixel. Per layer, multiply-adds per input pixel are `c_in·c_out·k²` times the
    /// layer's output area relative to the input (1, ¼ or 1/16).
    pub fn flops_per_pixel(&self) -> f64 {
        let [c1, c2, c3] = self.channels.map(|c| c as f64);
        let macs = 3.0 * c1 * 81.0 // conv1, full size
            + c1 * c2 * 9.0 / 4.0 // conv2, ½ size
            + c2 * c3 * 9.0 / 16.0 // conv3, ¼ size
            + self.residual_blocks as f64 * 2.0 * c3 * c3 * 9.0 / 16.0 // residual convs, ¼ size
            + c3 * c2 * 9.0 / 4.0 * 4.0 / 9.0 // deconv1, ½ size, sub-pixel
            + c2 * c1 * 9.0 * 4.0 / 9.0 // deconv2, full size, sub-pixel
            + c1 * 3.0 * 81.0; // deconv3, full size
        2.0 * macs
    }
}

/// PyTorch's default initialisation for a conv layer (`kaiming_uniform_(a=√5)` for the
/// weight and `U(−1/√fan_in, 1/√fan_in)` for the bias, both of which are
/// `U(−1/√fan_in, 1/√fan_in)`), so training starts where PE's does.
fn torch_default_conv_init(c_in: i64, kernel: i64) -> nn::Init {
    let bound = 1.0 / ((c_in * kernel * kernel) as f64).sqrt();
    nn::Init::Uniform { lo: -bound, up: bound }
}

/// Reflection-padded convolution (PE `ConvLayer`): reflect-pad by `kernel / 2`, then a
/// `kernel×kernel` convolution with the given stride. Input `[N, c_in, H, W]`, output
/// `[N, c_out, ⌈H/stride⌉, ⌈W/stride⌉]` for odd kernels. Parameters at `p / "conv2d"`.
#[derive(Debug)]
pub(crate) struct ConvLayer {
    /// The convolution; its padding mode does the reflection padding.
    pub(crate) conv2d: nn::Conv2D,
    /// The convolution's stride (1 or 2 in TransformerNet); not a parameter.
    pub(crate) stride: i64,
}

impl ConvLayer {
    /// Creates the layer's `conv2d.weight` `[c_out, c_in, k, k]` and `conv2d.bias` `[c_out]`.
    pub(crate) fn new(p: nn::Path, c_in: i64, c_out: i64, kernel: i64, stride: i64) -> Self {
        let init = torch_default_conv_init(c_in, kernel);
        let cfg = nn::ConvConfig {
            stride,
            padding: kernel / 2,
            padding_mode: nn::PaddingMode::Reflect,
            ws_init: init,
            bs_init: init,
            ..Default::default()
        };
        ConvLayer { conv2d: nn::conv2d(p / "conv2d", c_in, c_out, kernel, cfg), stride }
    }
}

impl Module for ConvLayer {
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.conv2d.forward(xs)
    }
}

impl ConvLayer {
    /// The same result as `forward` for stride 1, an odd kernel `k` and even H, W (up to
    /// float rounding), computed as its four output phases at half resolution: one stride-2
    /// convolution of the reflect-padded input (`[N, C, H+k−1, W+k−1]`) with
    /// [`phase_weights`] (`(k+1)`-square kernels) gives `[N, 4·O, H/2, W/2]`, and
    /// `pixel_shuffle(2)` interleaves the phases back to `[N, O, H, W]`. More multiply-adds
    /// than the direct conv (`(k+1)²/k²`, 1.23× for 9×9), but for few output channels
    /// (deconv3: 3) the direct kernel wastes most of each vector, and this form runs 2.5–3×
    /// as fast on CPU (measured, README). Other shapes fall back to `forward`.
    /// Differentiable.
    pub(crate) fn forward_phases(&self, xs: &Tensor) -> Tensor {
        let ws = &self.conv2d.ws;
        let (k, (h, w)) = (ws.size()[2], (xs.size()[2], xs.size()[3]));
        if self.stride != 1 || k % 2 == 0 || h % 2 != 0 || w % 2 != 0 {
            return self.forward(xs);
        }
        let p = k / 2;
        let padded = xs.pad([p, p, p, p], "reflect", None);
        let bias = self.conv2d.bs.as_ref().map(|b| b.repeat_interleave_self_int(4, 0, None));
        padded.conv2d(&phase_weights(ws), bias.as_ref(), [2, 2], [0, 0], [1, 1], 1).pixel_shuffle(2)
    }
}

/// Weights of the phase form of a stride-1 `k×k` convolution (`k` odd), for a stride-2
/// convolution over the same padded input: `[O, C, k, k]` → `[4·O, C, k+1, k+1]`. Output
/// channel `4o + 2a + b` (the `pixel_shuffle(2)` order) makes output pixels `(2i + a, 2j + b)`
/// of channel `o`: its window starts at padded pixel `(2i, 2j)`, so it is the kernel shifted by
/// `a` rows and `b` columns (`a`, `b` zeros before, `1 − a`, `1 − b` after).
pub(crate) fn phase_weights(w: &Tensor) -> Tensor {
    let (o, c, k) = (w.size()[0], w.size()[1], w.size()[2]);
    let phases: Vec<Tensor> =
        [(0, 0), (0, 1), (1, 0), (1, 1)].iter().map(|&(a, b)| w.constant_pad_nd([b, 1 - b, a, 1 - a])).collect();
    // [O, 4, C, k+1, k+1] → [4·O, C, k+1, k+1].
    Tensor::stack(&phases, 1).reshape([4 * o, c, k + 1, k + 1])
}

/// Weights of the sub-pixel form of "nearest ×2 upsample, reflect-pad 1, 3×3 conv":
/// `[O, C, 3, 3]` → `[4·O, C, 2, 2]`, phase-major (phase `2a + b` makes output pixels
/// `(2i + a, 2j + b)`). Along each axis, output phase 0 reads input pixels `i−1, i` with taps
/// `(k0, k1 + k2)` and phase 1 reads `i, i+1` with `(k0 + k1, k2)`, because the upsampled
/// image repeats every input pixel twice.
pub(crate) fn subpixel_weights(w: &Tensor) -> Tensor {
    let along = |w: &Tensor, dim: i64, phase: i64| -> Tensor {
        let k = |i: i64| w.narrow(dim, i, 1);
        if phase == 0 {
            Tensor::cat(&[k(0), k(1) + k(2)], dim)
        } else {
            Tensor::cat(&[k(0) + k(1), k(2)], dim)
        }
    };
    let phases: Vec<Tensor> =
        [(0, 0), (0, 1), (1, 0), (1, 1)].iter().map(|&(a, b)| along(&along(w, 2, a), 3, b)).collect();
    Tensor::cat(&phases, 0)
}

/// Nearest-neighbour upsampling by an integer factor, then a [`ConvLayer`]-style
/// reflection-padded convolution (PE `UpsampleConvLayer`). Input `[N, c_in, H, W]`, output
/// `[N, c_out, H·f, W·f]` for stride 1. Parameters at `p / "conv2d"`.
#[derive(Debug)]
pub(crate) struct UpsampleConvLayer {
    /// The convolution after upsampling.
    pub(crate) conv2d: nn::Conv2D,
    /// Upsampling factor (2 in TransformerNet).
    pub(crate) upsample: i64,
}

impl UpsampleConvLayer {
    /// Creates the layer's `conv2d.weight` `[c_out, c_in, k, k]` and `conv2d.bias` `[c_out]`.
    pub(crate) fn new(p: nn::Path, c_in: i64, c_out: i64, kernel: i64, upsample: i64) -> Self {
        let ConvLayer { conv2d, .. } = ConvLayer::new(p, c_in, c_out, kernel, 1);
        UpsampleConvLayer { conv2d, upsample }
    }
}

impl Module for UpsampleConvLayer {
    fn forward(&self, xs: &Tensor) -> Tensor {
        let (h, w) = (xs.size()[2], xs.size()[3]);
        let f = self.upsample;
        let up = xs.upsample_nearest2d([h * f, w * f], f as f64, f as f64);
        self.conv2d.forward(&up)
    }
}

impl UpsampleConvLayer {
    /// The same result as `forward` (up to float rounding) without materialising the
    /// upsampled image: one 2×2 convolution with [`subpixel_weights`] over the input padded by
    /// edge replication (reflect-padding the ×2 image by 1 repeats its edge pixels, which are
    /// the input's), the four phases then copied into their interleaved places. 4/9 of the
    /// multiply-adds; about 3× faster on CPU for deconv1 (README). Needs factor 2 and a 3×3
    /// kernel, else falls back to `forward`.
    pub(crate) fn forward_subpixel(&self, xs: &Tensor) -> Tensor {
        let ws = &self.conv2d.ws;
        if self.upsample != 2 || ws.size()[2..] != [3, 3] {
            return self.forward(xs);
        }
        let (n, _, h, w) = xs.size4().expect("[N, C, H, W]");
        let o = ws.size()[0];
        let bias = self.conv2d.bs.as_ref().map(|b| b.repeat([4]));
        let padded = xs.pad([1, 1, 1, 1], "replicate", None);
        // [N, 4·O, h+1, w+1]: window q covers input pixels q−1, q (padded indices q, q+1).
        let y = padded.conv2d(&subpixel_weights(ws), bias.as_ref(), [1, 1], [0, 0], [1, 1], 1).view([
            n,
            2,
            2,
            o,
            h + 1,
            w + 1,
        ]);
        // Phase (a, b) of output pixel (i, j) is window (i + a, j + b): each phase is copied
        // once, straight into its interleaved place in the output (`[N, O, h, 2, w, 2]`),
        // rather than stacked and then pixel-shuffled (two copies).
        let out = Tensor::empty([n, o, 2 * h, 2 * w], (xs.kind(), xs.device()));
        let interleaved = out.view([n, o, h, 2, w, 2]);
        for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let phase = y.select(1, a).select(1, b).narrow(2, a, h).narrow(3, b, w);
            interleaved.select(3, a).select(4, b).copy_(&phase);
        }
        out
    }
}

/// Affine instance normalisation (Ulyanov et al. 2016; PyTorch `InstanceNorm2d(c,
/// affine=True)`): each sample's channel is normalised by its own spatial mean and variance
/// (biased, eps [`INSTANCE_NORM_EPS`]), then scaled and shifted. No running statistics: the
/// same computation in training and inference. Parameters `weight` and `bias`, initialised to
/// 1 and 0: `[C]` for one style, `[S, C]` for `S > 1` styles (conditional instance norm,
/// Dumoulin et al. 2017, eq. 1: sample `n` with style weights `w_n` (`[S]`, non-negative,
/// summing to 1) is scaled by `Σ_s w_ns·weight[s]` and shifted by `Σ_s w_ns·bias[s]`).
#[derive(Debug)]
pub(crate) struct InstanceNorm {
    /// Per-channel scale, `[C]` or `[S, C]`.
    pub(crate) weight: Tensor,
    /// Per-channel shift, `[C]` or `[S, C]`.
    pub(crate) bias: Tensor,
}

impl InstanceNorm {
    /// Creates `p / "weight"` (ones) and `p / "bias"` (zeros), `[channels]` for one style,
    /// `[styles, channels]` for more.
    pub(crate) fn new(p: nn::Path, channels: i64, styles: usize) -> Self {
        let shape: Vec<i64> = if styles == 1 { vec![channels] } else { vec![styles as i64, channels] };
        InstanceNorm { weight: p.ones("weight", &shape), bias: p.zeros("bias", &shape) }
    }

    /// Normalises `[N, C, H, W]`; `styles` (`[N, S]`) blends the per-style scales and shifts
    /// of a conditional norm (`None`: the first style's). A single-style norm ignores it.
    pub(crate) fn forward_styled(&self, xs: &Tensor, styles: Option<&Tensor>) -> Tensor {
        // Group norm with one group per channel is instance norm (Wu & He 2018, §3.1), affine
        // step included; libtorch's group-norm kernel is 3–8× faster on CPU than its
        // instance norm (a batch norm over `[1, N·C, H, W]`), forward and backward (README).
        let plain = |w: Option<&Tensor>, b: Option<&Tensor>| xs.group_norm(xs.size()[1], w, b, INSTANCE_NORM_EPS, true);
        if self.weight.dim() == 1 {
            return plain(Some(&self.weight), Some(&self.bias));
        }
        let per_sample = |t: &Tensor| -> Tensor {
            let mixed = match styles {
                Some(w) => w.to_kind(t.kind()).matmul(t),
                None => t.get(0).unsqueeze(0).expand([xs.size()[0], -1], false),
            };
            mixed.unsqueeze(-1).unsqueeze(-1)
        };
        // shift + normalised · scale in one pass (`addcmul` broadcasts the `[N, C, 1, 1]` terms).
        per_sample(&self.bias).addcmul(&plain(None, None), &per_sample(&self.weight))
    }
}

impl Module for InstanceNorm {
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.forward_styled(xs, None)
    }
}

/// Residual block (He et al. 2016, as in Johnson's supplementary material and PE):
/// `x + in2(conv2(relu(in1(conv1(x)))))`, two 3×3 reflection-padded convs at constant
/// width. Shape-preserving: `[N, C, H, W] → [N, C, H, W]`, needs H, W ≥ 2.
#[derive(Debug)]
pub(crate) struct ResidualBlock {
    /// First 3×3 conv, at `p / "conv1"`.
    pub(crate) conv1: ConvLayer,
    /// First instance norm, at `p / "in1"`.
    pub(crate) in1: InstanceNorm,
    /// Second 3×3 conv, at `p / "conv2"`.
    pub(crate) conv2: ConvLayer,
    /// Second instance norm, at `p / "in2"`.
    pub(crate) in2: InstanceNorm,
}

impl ResidualBlock {
    /// Creates a block of width `channels` with norms for `styles` styles.
    pub(crate) fn new(p: nn::Path, channels: i64, styles: usize) -> Self {
        ResidualBlock {
            conv1: ConvLayer::new(&p / "conv1", channels, channels, 3, 1),
            in1: InstanceNorm::new(&p / "in1", channels, styles),
            conv2: ConvLayer::new(&p / "conv2", channels, channels, 3, 1),
            in2: InstanceNorm::new(&p / "in2", channels, styles),
        }
    }

    /// The block with the norms' styles blended by `styles` (`[N, S]`; see
    /// [`InstanceNorm::forward_styled`]).
    pub(crate) fn forward_styled(&self, xs: &Tensor, styles: Option<&Tensor>) -> Tensor {
        let y = self.in1.forward_styled(&self.conv1.forward(xs), styles).relu_();
        let mut out = self.in2.forward_styled(&self.conv2.forward(&y), styles);
        out += xs;
        out
    }
}

impl Module for ResidualBlock {
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.forward_styled(xs, None)
    }
}

/// Johnson et al.'s image transformation network, PE variant (see the module docs).
///
/// Input and output are `[N, 3, H, W]` RGB with values in 0–255. The output is not clamped
/// (training needs the raw values; clamp when saving images). Any `H, W ≥ 1` is accepted and
/// the output is exactly `H×W`: the input is padded (reflect where the side allows it, else
/// replicate) up to a multiple of [`SIDE_MULTIPLE`] and at least [`MIN_PADDED_SIDE`], and the
/// output is cropped back. PE itself returns a different size for sides that are not
/// multiples of 4: the two stride-2 convs floor, the two ×2 upsamplings double.
///
/// Each field sits at the `nn::Path` of its own name, so field, path and checkpoint key are
/// one string; the residual blocks are `res1`, `res2`, … as in PE.
#[derive(Debug)]
pub struct TransformerNet {
    /// 9×9 conv, 3 → `channels[0]`.
    pub(crate) conv1: ConvLayer,
    /// Instance norm after conv1.
    pub(crate) in1: InstanceNorm,
    /// 3×3 stride-2 conv, `channels[0]` → `channels[1]`.
    pub(crate) conv2: ConvLayer,
    /// Instance norm after conv2.
    pub(crate) in2: InstanceNorm,
    /// 3×3 stride-2 conv, `channels[1]` → `channels[2]`.
    pub(crate) conv3: ConvLayer,
    /// Instance norm after conv3.
    pub(crate) in3: InstanceNorm,
    /// Residual blocks `res1..resN` at `channels[2]`.
    pub(crate) res: Vec<ResidualBlock>,
    /// Nearest ×2 + 3×3 conv, `channels[2]` → `channels[1]`.
    pub(crate) deconv1: UpsampleConvLayer,
    /// Instance norm after deconv1.
    pub(crate) in4: InstanceNorm,
    /// Nearest ×2 + 3×3 conv, `channels[1]` → `channels[0]`.
    pub(crate) deconv2: UpsampleConvLayer,
    /// Instance norm after deconv2.
    pub(crate) in5: InstanceNorm,
    /// 9×9 conv, `channels[0]` → 3, no norm and no activation.
    pub(crate) deconv3: ConvLayer,
}

impl TransformerNet {
    /// Creates the net's parameters under `p` (PE initialisation: PyTorch's conv defaults,
    /// instance-norm scale 1 and shift 0, for each of `cfg.num_styles` styles).
    pub fn new(p: nn::Path, cfg: &TransformerConfig) -> Self {
        let [c1, c2, c3] = cfg.channels;
        let s = cfg.num_styles.max(1);
        TransformerNet {
            conv1: ConvLayer::new(&p / "conv1", 3, c1, 9, 1),
            in1: InstanceNorm::new(&p / "in1", c1, s),
            conv2: ConvLayer::new(&p / "conv2", c1, c2, 3, 2),
            in2: InstanceNorm::new(&p / "in2", c2, s),
            conv3: ConvLayer::new(&p / "conv3", c2, c3, 3, 2),
            in3: InstanceNorm::new(&p / "in3", c3, s),
            res: (1..=cfg.residual_blocks).map(|i| ResidualBlock::new(&p / format!("res{i}"), c3, s)).collect(),
            deconv1: UpsampleConvLayer::new(&p / "deconv1", c3, c2, 3, 2),
            in4: InstanceNorm::new(&p / "in4", c2, s),
            deconv2: UpsampleConvLayer::new(&p / "deconv2", c2, c1, 3, 2),
            in5: InstanceNorm::new(&p / "in5", c1, s),
            deconv3: ConvLayer::new(&p / "deconv3", c1, 3, 9, 1),
        }
    }

    /// How many styles the net holds (`S`; 1 for a PE-compatible net).
    pub fn num_styles(&self) -> usize {
        match self.in1.weight.dim() {
            1 => 1,
            _ => self.in1.weight.size()[0] as usize,
        }
    }

    /// The network proper, without size handling: `[N, 3, H, W] → [N, 3, H, W]` for H, W
    /// multiples of 4 and at least 8 (PE's `forward`), the norms' styles blended by
    /// `styles` (`[N, S]`, `None`: the first style).
    pub(crate) fn forward_aligned(&self, xs: &Tensor, styles: Option<&Tensor>) -> Tensor {
        let mut y = self.downsample_and_residuals(xs, styles);
        y = self.in4.forward_styled(&self.deconv1.forward(&y), styles).relu_();
        y = self.in5.forward_styled(&self.deconv2.forward(&y), styles).relu_();
        self.deconv3.forward(&y)
    }

    /// [`TransformerNet::forward_aligned`] computed faster: the upsampling convolutions in
    /// sub-pixel form ([`UpsampleConvLayer::forward_subpixel`]) and deconv3 in phase form
    /// ([`ConvLayer::forward_phases`]). The same function, so the same values and
    /// gradients within float rounding (tests: outputs ≤ 1e-5 relative, PyTorch golden
    /// ≤ 1e-4, parameter gradients ≤ 1e-9 in f64); differentiable. On CPU at 640×360 the two
    /// forms took 1.35× less time per forward than PE's, and deconv3's phase form cuts that
    /// layer 2.5–3× again (README, "Light networks for CPUs").
    pub(crate) fn forward_aligned_fast(&self, xs: &Tensor, styles: Option<&Tensor>) -> Tensor {
        let mut y = self.downsample_and_residuals(xs, styles);
        y = self.in4.forward_styled(&self.deconv1.forward_subpixel(&y), styles).relu_();
        y = self.in5.forward_styled(&self.deconv2.forward_subpixel(&y), styles).relu_();
        self.deconv3.forward_phases(&y)
    }

    /// Stylizes any size like `forward` (pad to a multiple of 4, crop back), with
    /// [`TransformerNet::forward_aligned_fast`]. `[N, 3, H, W]` RGB 0–255 in and out. What
    /// `infer` runs (under `no_grad`) and what `trainer` trains through; `forward` stays PE's
    /// exact formulation, the reference the golden tests check. A multi-style net paints its
    /// first style; see [`TransformerNet::forward_fast_styled`].
    pub fn forward_fast(&self, xs: &Tensor) -> Tensor {
        at_any_size(xs, |x| self.forward_aligned_fast(x, None))
    }

    /// [`TransformerNet::forward_fast`] with the styles of a multi-style net picked or
    /// blended per sample: `styles` is `[N, S]` (or `[1, S]` for the whole batch), each row
    /// non-negative and summing to 1 (see [`style_weights`]). A single-style net ignores it.
    pub fn forward_fast_styled(&self, xs: &Tensor, styles: &Tensor) -> Tensor {
        let styles = styles.expand([xs.size()[0], -1], false);
        at_any_size(xs, |x| self.forward_aligned_fast(x, Some(&styles)))
    }

    /// [`TransformerNet::forward_fast`] with image `n` stylized as style `picks[n]` (`[N]`
    /// int64 style indices, each `< num_styles()`): how training stylizes a batch whose
    /// images take the styles in turn. A single-style net ignores `picks`.
    pub fn forward_fast_each(&self, xs: &Tensor, picks: &Tensor) -> Tensor {
        match self.num_styles() {
            1 => self.forward_fast(xs),
            s => self.forward_fast_styled(xs, &picks.one_hot(s as i64).to_kind(tch::Kind::Float)),
        }
    }

    /// PE's exact formulation (`Module::forward`) with the styles blended per sample as in
    /// [`TransformerNet::forward_fast_styled`].
    pub fn forward_styled(&self, xs: &Tensor, styles: &Tensor) -> Tensor {
        let styles = styles.expand([xs.size()[0], -1], false);
        at_any_size(xs, |x| self.forward_aligned(x, Some(&styles)))
    }

    /// conv1 … the residual blocks: `[N, 3, H, W]` → `[N, channels[2], H/4, W/4]`.
    fn downsample_and_residuals(&self, xs: &Tensor, styles: Option<&Tensor>) -> Tensor {
        let mut y = self.in1.forward_styled(&self.conv1.forward(xs), styles).relu_();
        y = self.in2.forward_styled(&self.conv2.forward(&y), styles).relu_();
        y = self.in3.forward_styled(&self.conv3.forward(&y), styles).relu_();
        for block in &self.res {
            y = block.forward_styled(&y, styles);
        }
        y
    }
}

/// A `[1, S]` style-weight row for a net of `num_styles` styles from `(style index, weight)`
/// pairs: weights must be finite and non-negative with a positive sum, and are normalised to
/// sum 1 (Dumoulin et al. blend unnormalised weights; normalised, a blend stays a convex mix
/// of the learnt scales and shifts). Indices may repeat (their weights add).
///
/// # Errors
/// [`crate::Error::Config`] for an index `≥ num_styles`, a negative or non-finite weight, or
/// weights that sum to 0.
pub fn style_weights(picks: &[(usize, f64)], num_styles: usize, device: tch::Device) -> crate::Result<Tensor> {
    let mut w = vec![0f32; num_styles];
    for &(i, v) in picks {
        if i >= num_styles {
            return Err(crate::Error::Config(format!(
                "style {i} does not exist: the model holds {num_styles} style(s), 0..{}",
                num_styles - 1
            )));
        }
        if !v.is_finite() || v < 0.0 {
            return Err(crate::Error::Config(format!("style weight {v} must be a non-negative number")));
        }
        w[i] += v as f32;
    }
    let sum: f32 = w.iter().sum();
    if sum <= 0.0 {
        return Err(crate::Error::Config("style weights are all zero".into()));
    }
    Ok(Tensor::from_slice(&w.iter().map(|v| v / sum).collect::<Vec<_>>())
        .view([1, num_styles as i64])
        .to_device(device))
}

/// Padding `(left, right, top, bottom)` that brings an `h×w` image to a side that is a
/// multiple of [`SIDE_MULTIPLE`] and at least [`MIN_PADDED_SIDE`], split as evenly as
/// possible between the two edges (the extra pixel goes right/bottom).
pub fn alignment_padding(h: i64, w: i64) -> [i64; 4] {
    let target = |s: i64| ((s + SIDE_MULTIPLE - 1) / SIDE_MULTIPLE * SIDE_MULTIPLE).max(MIN_PADDED_SIDE);
    let (dh, dw) = (target(h) - h, target(w) - w);
    [dw / 2, dw - dw / 2, dh / 2, dh - dh / 2]
}

/// Pads `[N, C, H, W]` by `pad = [left, right, top, bottom]`: reflection where every pad is
/// smaller than its side (as reflection requires), else edge replication.
pub fn pad_reflect_or_replicate(xs: &Tensor, pad: [i64; 4]) -> Tensor {
    let (h, w) = (xs.size()[2], xs.size()[3]);
    let [l, r, t, b] = pad;
    let mode = if l < w && r < w && t < h && b < h { "reflect" } else { "replicate" };
    xs.pad(pad, mode, None)
}

impl Module for TransformerNet {
    /// `[N, 3, H, W]` (0–255 RGB) → `[N, 3, H, W]` (≈0–255 RGB, unclamped), any H, W ≥ 1.
    fn forward(&self, xs: &Tensor) -> Tensor {
        at_any_size(xs, |x| self.forward_aligned(x, None))
    }
}

/// Runs `aligned` on `xs` padded by [`alignment_padding`] (reflect, or replicate for tiny
/// sides) and crops the result back to `xs`'s H×W.
fn at_any_size(xs: &Tensor, aligned: impl Fn(&Tensor) -> Tensor) -> Tensor {
    let (h, w) = (xs.size()[2], xs.size()[3]);
    let pad = alignment_padding(h, w);
    if pad == [0; 4] {
        return aligned(xs);
    }
    let y = aligned(&pad_reflect_or_replicate(xs, pad));
    y.narrow(2, pad[2], h).narrow(3, pad[0], w)
}

/// Total number of scalar parameters in a `VarStore` (1,679,235 for the default net).
pub fn num_parameters(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn parameter_count_and_names_match_pe() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = TransformerNet::new(vs.root(), &TransformerConfig::default());
        // PE's TransformerNet: sum(p.numel() for p in TransformerNet().parameters()) = 1,679,235.
        assert_eq!(num_parameters(&vs), 1_679_235);
        let vars = vs.variables();
        for key in [
            "conv1.conv2d.weight",
            "in1.weight",
            "in1.bias",
            "res1.conv1.conv2d.weight",
            "res5.in2.bias",
            "deconv1.conv2d.weight",
            "deconv3.conv2d.bias",
            "in5.weight",
        ] {
            assert!(vars.contains_key(key), "missing {key}");
        }
        assert_eq!(vars["conv1.conv2d.weight"].size(), [32, 3, 9, 9]);
        assert_eq!(vars["deconv1.conv2d.weight"].size(), [64, 128, 3, 3]);
        // conv1-3, 5·2 residual convs and deconv1-3, with weight and bias: 2·16;
        // in1-5 and 5·2 residual norms, with weight and bias: 2·15.
        assert_eq!(vars.len(), 2 * (3 + 10 + 3) + 2 * (5 + 10));
    }

    #[test]
    fn style_weights_are_checked_and_normalised() {
        let w = style_weights(&[(0, 3.0), (2, 1.0)], 3, Device::Cpu).unwrap();
        assert_eq!(Vec::<f32>::try_from(w.view([-1])).unwrap(), [0.75, 0.0, 0.25]);
        // A repeated index adds up.
        let w = style_weights(&[(1, 1.0), (1, 1.0)], 2, Device::Cpu).unwrap();
        assert_eq!(Vec::<f32>::try_from(w.view([-1])).unwrap(), [0.0, 1.0]);
        for (picks, needle) in [
            (vec![(3, 1.0)], "style 3 does not exist"),
            (vec![(0, -0.5), (1, 1.0)], "non-negative"),
            (vec![(0, f64::NAN)], "non-negative"),
            (vec![(0, 0.0)], "all zero"),
        ] {
            let e = style_weights(&picks, 3, Device::Cpu).unwrap_err().to_string();
            assert!(e.contains(needle), "{picks:?}: {e}");
        }
    }

    #[test]
    fn a_single_style_config_is_stored_as_before_and_many_styles_have_per_style_norms() {
        // Checkpoints from before conditional instance norm have no num_styles: they read as 1
        // and a 1-style config writes the same JSON.
        let old: TransformerConfig = serde_json::from_str(r#"{"channels":[32,64,128],"residual_blocks":5}"#).unwrap();
        assert_eq!(old, TransformerConfig::default());
        assert_eq!(serde_json::to_string(&old).unwrap(), r#"{"channels":[32,64,128],"residual_blocks":5}"#);
        let cfg = TransformerConfig { num_styles: 4, ..Default::default() };
        assert!(serde_json::to_string(&cfg).unwrap().contains(r#""num_styles":4"#));
        let vs = nn::VarStore::new(Device::Cpu);
        let net = TransformerNet::new(vs.root(), &cfg);
        assert_eq!(net.num_styles(), 4);
        // Only the 15 norms grow: 4·(2·(32+64+128+64+32) + 5·2·2·128) − that once.
        let extra = 3 * (2 * (32 + 64 + 128 + 64 + 32) + 5 * 2 * 2 * 128);
        assert_eq!(num_parameters(&vs), 1_679_235 + extra);
        assert!(TransformerConfig { num_styles: 0, ..Default::default() }.validate().is_err());
        // Different styles give different outputs; no weights give the first style.
        let x = Tensor::rand([1, 3, 16, 16], (Kind::Float, Device::Cpu)) * 255.0;
        tch::no_grad(|| {
            for (name, mut v) in vs.variables() {
                if name.contains(".in") || name.starts_with("in") {
                    v.copy_(&(Tensor::rand(v.size(), (Kind::Float, Device::Cpu)) + 0.5));
                }
            }
        });
        let at = |picks: &[(usize, f64)]| {
            tch::no_grad(|| net.forward_fast_styled(&x, &style_weights(picks, 4, Device::Cpu).unwrap()))
        };
        let (a, b) = (at(&[(0, 1.0)]), at(&[(3, 1.0)]));
        assert!((&a - &b).abs().max().double_value(&[]) > 1.0);
        assert!((at(&[(0, 1.0)]) - tch::no_grad(|| net.forward_fast(&x))).abs().max().double_value(&[]) < 1e-3);
    }

    #[test]
    fn presets_resolve_and_can_be_overridden() {
        let parse = |j: &str| serde_json::from_str::<TransformerConfig>(j);
        assert_eq!(parse(r#"{"preset": "half"}"#).unwrap().channels, [16, 32, 64]);
        let m = parse(r#"{"preset": "mobile", "residual_blocks": 3}"#).unwrap();
        assert_eq!((m.channels, m.residual_blocks), ([8, 16, 32], 3));
        assert_eq!(parse("{}").unwrap(), TransformerConfig::default());
        // Written resolved: no preset key, so older readers and PE-named files agree.
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"channels":[8,16,32],"residual_blocks":3}"#);
        let e = parse(r#"{"preset": "tiny"}"#).unwrap_err().to_string();
        assert!(e.contains("tiny") && e.contains("half"), "{e}");
        assert!(parse(r#"{"channels": [0, 16, 32]}"#).unwrap_err().to_string().contains("positive"));
        assert!(parse(r#"{"chanels": [8, 16, 32]}"#).is_err(), "unknown fields are refused");
        // 2·(3·32·81 + 32·64·9/4 + 64·128·9/16 + 5·2·128²·9/16 + (128·64/4 + 64·32)·9·4/9 + 32·3·81).
        assert_eq!(TransformerConfig::default().flops_per_pixel(), 266_624.0);
        // Half the widths: ¼ the FLOPs of the c·c layers, ½ of the RGB-facing 9×9 convs.
        assert_eq!(Preset::Half.config().flops_per_pixel(), 74_432.0);
    }

    #[test]
    fn preset_parameter_counts_and_shapes_match_pe() {
        // PyTorch golden values: sum(p.numel() for p in TransformerNet(channels, 5).parameters())
        // with reference/pe.py, for johnson (32-64-128), half (16-32-64) and mobile (8-16-32).
        for (preset, params, conv1, deconv1) in [
            (Preset::Johnson, 1_679_235, [32, 3, 9, 9], [64, 128, 3, 3]),
            (Preset::Half, 424_899, [16, 3, 9, 9], [32, 64, 3, 3]),
            (Preset::Mobile, 108_771, [8, 3, 9, 9], [16, 32, 3, 3]),
        ] {
            let vs = nn::VarStore::new(Device::Cpu);
            let _net = TransformerNet::new(vs.root(), &preset.config());
            assert_eq!(num_parameters(&vs), params, "{preset}");
            let vars = vs.variables();
            assert_eq!(vars["conv1.conv2d.weight"].size(), conv1, "{preset}");
            assert_eq!(vars["deconv1.conv2d.weight"].size(), deconv1, "{preset}");
            // The same 62 tensors under the same names whatever the widths.
            assert_eq!(vars.len(), 62, "{preset}");
        }
    }

    #[test]
    fn alignment_padding_rules() {
        assert_eq!(alignment_padding(256, 256), [0, 0, 0, 0]);
        // 1×1 → 8×8: 7 = 3 + 4 on each axis.
        assert_eq!(alignment_padding(1, 1), [3, 4, 3, 4]);
        // 255×257 → 256×260.
        assert_eq!(alignment_padding(255, 257), [1, 2, 0, 1]);
    }

    #[test]
    fn output_has_input_size() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = TransformerNet::new(vs.root(), &TransformerConfig::default());
        for (h, w) in [(8, 8), (12, 20), (7, 9)] {
            let x = Tensor::rand([2, 3, h, w], (Kind::Float, Device::Cpu)) * 255.0;
            let y = tch::no_grad(|| net.forward(&x));
            assert_eq!(y.size(), [2, 3, h, w]);
        }
    }

    /// The phase form equals the direct reflection-padded conv, values and gradients
    /// (f64, random weights and biases), for the output conv's shapes (9×9, 32/16/8 → 3) and
    /// others; stride 2 and odd sides fall back to `forward` and so are equal exactly.
    #[test]
    fn phase_conv_matches_direct() {
        tch::manual_seed(3);
        for (c_in, c_out, k, stride, h, w) in [
            (32, 3, 9, 1, 12, 20),
            (8, 3, 9, 1, 16, 8),
            (5, 7, 3, 1, 6, 10),
            (4, 6, 5, 1, 10, 14),
            (4, 3, 9, 1, 13, 20),
            (4, 3, 3, 2, 12, 12),
        ] {
            let mut vs = nn::VarStore::new(Device::Cpu);
            let layer = ConvLayer::new(vs.root() / "c", c_in, c_out, k, stride);
            vs.double();
            let x = (Tensor::rand([2, c_in, h, w], (Kind::Double, Device::Cpu)) * 10.0).set_requires_grad(true);
            let (direct, folded) = (layer.forward(&x), layer.forward_phases(&x));
            assert_eq!(folded.size(), direct.size(), "{c_in}→{c_out} {k}×{k} at {h}×{w}");
            let e = (&folded - &direct).abs().max().double_value(&[]) / direct.abs().max().double_value(&[]);
            assert!(e < 1e-12, "{c_in}→{c_out} {k}×{k} at {h}×{w}: relative error {e:e}");
            let weights = Tensor::rand(direct.size(), (Kind::Double, Device::Cpu));
            let grads = |y: &Tensor| {
                let g = Tensor::run_backward(
                    &[(y * &weights).sum(Kind::Double)],
                    &[&x, &layer.conv2d.ws, layer.conv2d.bs.as_ref().unwrap()],
                    false,
                    false,
                );
                g.into_iter().map(|t| t.copy()).collect::<Vec<_>>()
            };
            for (ga, gb) in grads(&direct).iter().zip(&grads(&folded)) {
                let e = (gb - ga).abs().max().double_value(&[]) / ga.abs().max().double_value(&[]);
                assert!(e < 1e-12, "{c_in}→{c_out} {k}×{k} at {h}×{w}: gradient relative error {e:e}");
            }
        }
    }

    /// Hand-computed layout for a 3×3 kernel `1..=9` (one channel in and out): output phase
    /// `(a, b)` (channel `2a + b`) is the kernel in a 4×4 window, shifted `a` rows down and `b`
    /// columns right, zeros elsewhere.
    #[test]
    fn phase_weight_layout() {
        let w = Tensor::arange_start(1, 10, (Kind::Float, Device::Cpu)).view([1, 1, 3, 3]);
        let f = phase_weights(&w);
        assert_eq!(f.size(), [4, 1, 4, 4]);
        let phase = |c: i64| Vec::<f32>::try_from(f.get(c).flatten(0, -1)).unwrap();
        #[rustfmt::skip]
        let expected: [[f32; 16]; 4] = [
            [1., 2., 3., 0., 4., 5., 6., 0., 7., 8., 9., 0., 0., 0., 0., 0.],
            [0., 1., 2., 3., 0., 4., 5., 6., 0., 7., 8., 9., 0., 0., 0., 0.],
            [0., 0., 0., 0., 1., 2., 3., 0., 4., 5., 6., 0., 7., 8., 9., 0.],
            [0., 0., 0., 0., 0., 1., 2., 3., 0., 4., 5., 6., 0., 7., 8., 9.],
        ];
        for (c, e) in expected.iter().enumerate() {
            assert_eq!(phase(c as i64), e, "phase {c}");
        }
    }
}
