//! Perceptual losses of Johnson et al. 2016 (§3.2–3.3) plus total variation.
//!
//! For a loss-network activation `F` of shape `[N, C, H, W]` (`F̃` = `F` viewed as
//! `[N, C, H·W]`):
//!
//! - **Gram matrix** (eq. 3): `G(F) = F̃ F̃ᵀ / (C·H·W)`, `[N, C, C]`; JJ and PE both
//!   normalise by `C·H·W` (PE `utils.gram_matrix`).
//! - **Content (feature reconstruction) loss** (eq. 2): `Σ_l w_l · MSE(F_l(ŷ), F_l(x))`,
//!   MSE = mean of squared differences over all `N·C·H·W` elements (PE `mse_loss`).
//! - **Style reconstruction loss** (eq. 4, squared Frobenius norm as a mean):
//!   `Σ_l w_l · MSE(G(F_l(ŷ)), G_l(style))`, the style image's Grams broadcast over the batch
//!   (PE computes them once and slices them to the batch).
//! - **Total variation** (Johnson §3.3, JJ `TotalVariation.lua`): `TV(ŷ) = 1/(2N) ·
//!   Σ_{n,c,i,j} [(ŷ_{i,j+1} − ŷ_{i,j})² + (ŷ_{i+1,j} − ŷ_{i,j})²]` on 0–255 pixels. JJ's
//!   backward pass is the gradient of this sum taken over the batch; we average over the
//!   batch so that the weight does not depend on the batch size (JJ's weight × N = ours).
//!
//! Total: `content_weight · content + style_weight · style + tv_weight · TV`. Grams and losses
//! are always computed in f32, whatever the activations' dtype.

use crate::error::{Error, Result};
use crate::vgg::LossNetwork;
use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

/// Gram matrix `F̃ F̃ᵀ / (C·H·W)` of activations `[N, C, H, W]` → `[N, C, C]`, in f32.
pub fn gram_matrix(features: &Tensor) -> Tensor {
    let f = features.to_kind(Kind::Float);
    let (n, c, h, w) = f.size4().expect("gram_matrix takes [N, C, H, W] activations");
    let flat = f.view([n, c, h * w]);
    flat.bmm(&flat.transpose(1, 2)) / ((c * h * w) as f64)
}

/// Mean squared error over all elements, in f32 (PE `torch.nn.MSELoss()`).
pub(crate) fn mse(a: &Tensor, b: &Tensor) -> Tensor {
    a.to_kind(Kind::Float).mse_loss(&b.to_kind(Kind::Float), Reduction::Mean)
}

/// Total-variation loss of `[N, C, H, W]` images (see the module docs for the formula):
/// half the sum of squared horizontal and vertical neighbour differences, averaged over the
/// batch. A scalar in (pixel units)², f32. A side of 1 contributes no differences.
pub(crate) fn tv_loss(images: &Tensor) -> Tensor {
    let y = images.to_kind(Kind::Float);
    let (n, _, h, w) = y.size4().expect("tv_loss takes [N, C, H, W] images");
    let dx = y.narrow(3, 1, w - 1) - y.narrow(3, 0, w - 1);
    let dy = y.narrow(2, 1, h - 1) - y.narrow(2, 0, h - 1);
    (dx.square().sum(Kind::Float) + dy.square().sum(Kind::Float)) / (2.0 * n as f64)
}

/// A loss-network layer and its weight within the content or style loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerWeight {
    /// Tap name, e.g. `relu2_2` (see [`crate::vgg`]).
    pub layer: String,
    /// Relative weight of this layer in its loss (dimensionless). Default 1.
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

impl LayerWeight {
    /// A layer with weight 1.
    pub fn new(layer: &str) -> Self {
        LayerWeight { layer: layer.to_string(), weight: 1.0 }
    }
}

/// Global weights of the three loss terms (λ_c, λ_s, λ_TV of Johnson et al.).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossWeights {
    /// Content (feature) loss weight.
    pub content: f64,
    /// Style (Gram) loss weight.
    pub style: f64,
    /// Total-variation weight.
    pub tv: f64,
}

/// The loss terms of one batch, each already multiplied by its global weight. Scalars, f32.
#[derive(Debug)]
pub struct LossParts {
    /// `content_weight · Σ_l w_l MSE(F_l(ŷ), F_l(x))`.
    pub content: Tensor,
    /// `style_weight · mean_s Σ_l w_l MSE(G_l(ŷ↓s), G_l(style↓s))` over the style scales `s`.
    pub style: Tensor,
    /// `tv_weight · TV(ŷ)`.
    pub tv: Tensor,
    /// The sum of the three: what is minimised.
    pub total: Tensor,
    /// Each style layer's part of `style` (summed over the scales), in the order of the style
    /// layers; they add up to `style`. Without a graph.
    pub style_layers: Vec<Tensor>,
    /// `[N]`: each image's own weighted style loss (`style` is their mean). Without a graph.
    /// A multi-style batch's per-style losses come from it.
    pub style_per_image: Tensor,
}

impl LossParts {
    /// The four parts as numbers (one device sync each); a part that cannot be read is NaN.
    pub fn values(&self) -> LossValues {
        let v = |t: &Tensor| f64::try_from(t).unwrap_or(f64::NAN);
        LossValues { total: v(&self.total), content: v(&self.content), style: v(&self.style), tv: v(&self.tv) }
    }

    /// Each style layer's share of the style loss (fractions summing to 1; all 0 when the
    /// style loss is 0), in the order of the style layers: which layer's Grams the loss is
    /// about (caffe-scale relu1_2 Grams can dwarf the deeper ones).
    pub fn style_shares(&self) -> Vec<f64> {
        let parts: Vec<f64> = self.style_layers.iter().map(|t| f64::try_from(t).unwrap_or(f64::NAN)).collect();
        let sum: f64 = parts.iter().sum();
        parts.iter().map(|p| if sum > 0.0 { p / sum } else { 0.0 }).collect()
    }
}

/// [`LossParts`] as numbers: the weighted loss terms and their sum, in the loss's units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LossValues {
    /// The sum of the three.
    pub total: f64,
    /// Weighted content loss.
    pub content: f64,
    /// Weighted style loss.
    pub style: f64,
    /// Weighted total-variation loss.
    pub tv: f64,
}

impl LossValues {
    /// The part-by-part mean of `all` (zeros when empty).
    pub fn mean(all: &[LossValues]) -> Self {
        let n = all.len().max(1) as f64;
        let sum = |f: fn(&LossValues) -> f64| all.iter().map(f).sum::<f64>() / n;
        LossValues { total: sum(|l| l.total), content: sum(|l| l.content), style: sum(|l| l.style), tv: sum(|l| l.tv) }
    }

    /// `loss T (content C, style S, tv V)`, for progress lines.
    pub fn describe(&self) -> String {
        format!("loss {:.4e} (content {:.3e}, style {:.3e}, tv {:.3e})", self.total, self.content, self.style, self.tv)
    }
}

/// The full training objective: a frozen [`LossNetwork`] tapped at the content and style
/// layers, with the Gram matrices of one or more style targets computed once at each style
/// scale. A target is one style image or a blend of several ([`PerceptualLoss::blended`]);
/// a multi-style loss ([`PerceptualLoss::per_style`]) has one target per style and each image
/// of a batch is measured against its own ([`PerceptualLoss::compute_styled`]).
#[derive(Debug)]
pub struct PerceptualLoss {
    net: LossNetwork,
    /// `(tap position, layer weight)` of the content layers.
    content: Vec<(usize, f64)>,
    /// `(tap position, layer weight)` of the style layers.
    style: Vec<(usize, f64)>,
    /// The style scales (fractions of the image size, `(0, 1]`).
    style_scales: Vec<f64>,
    /// `[scale][style layer]`: `[T, C_l, C_l]`, the Gram matrices of the `T` style targets
    /// downscaled by the scale, at each style layer.
    style_grams: Vec<Vec<Tensor>>,
    weights: LossWeights,
}

impl PerceptualLoss {
    /// The taps a [`LossNetwork`] must have for these layers (each name once, in order of
    /// first appearance: content layers, then style layers).
    pub fn required_taps(content: &[LayerWeight], style: &[LayerWeight]) -> Vec<String> {
        let mut taps: Vec<String> = Vec::new();
        for l in content.iter().chain(style) {
            if !taps.contains(&l.layer) {
                taps.push(l.layer.clone());
            }
        }
        taps
    }

    /// Builds the objective and computes the style targets from `style_image`
    /// (`[1, 3, H, W]` RGB 0–255, any size), at the image's own scale only.
    ///
    /// # Errors
    /// [`Error::Config`] when there are no content or no style layers, a layer is not one
    /// of the network's taps, or a weight is negative or not finite.
    pub fn new(
        net: LossNetwork,
        content: &[LayerWeight],
        style: &[LayerWeight],
        weights: LossWeights,
        style_image: &Tensor,
    ) -> Result<Self> {
        Self::blended(net, content, style, weights, &[(style_image.shallow_clone(), 1.0)], &[1.0])
    }

    /// Like [`PerceptualLoss::new`] with several style images and style scales.
    ///
    /// Each style layer's target is `Σᵢ wᵢ G(styleᵢ) / Σᵢ wᵢ`, the Gram matrices blended with
    /// the weights normalised to sum 1 (jcjohnson/neural-style's `-style_blend_weights`).
    ///
    /// `style_scales` (each in `(0, 1]`, e.g. `[1.0, 0.5]`): the **multi-scale style loss**.
    /// At scale `s` the stylised image and the style images are downscaled to `s×` their size
    /// (area averaging: adaptive average pooling, 2×2 means at ½) before the loss network, so
    /// a layer's 3×3 receptive field covers structures `1/s` times larger: bigger strokes from
    /// a shallow loss network. The style loss is the mean over the scales. `[1.0]` is the
    /// single-scale loss of Johnson et al.
    ///
    /// # Errors
    /// As [`PerceptualLoss::new`]; also no style image, blend weights that are negative,
    /// not finite, or all zero, and no style scale or one outside `(0, 1]`.
    pub fn blended(
        net: LossNetwork,
        content: &[LayerWeight],
        style: &[LayerWeight],
        weights: LossWeights,
        styles: &[(Tensor, f64)],
        style_scales: &[f64],
    ) -> Result<Self> {
        Self::with_targets(net, content, style, weights, &[styles], style_scales)
    }

    /// A multi-style loss: one Gram target per image of `styles` (each `[1, 3, H, W]` RGB
    /// 0–255, any size), in order, so that target `s` is style `s` of a conditional
    /// TransformerNet (Dumoulin et al. 2017 §2: each style keeps its own targets; magenta
    /// `image_stylization`), at each of `style_scales` as in [`PerceptualLoss::blended`].
    /// [`PerceptualLoss::compute_styled`] picks each batch image's target.
    ///
    /// # Errors
    /// As [`PerceptualLoss::blended`]; also no style image.
    pub fn per_style(
        net: LossNetwork,
        content: &[LayerWeight],
        style: &[LayerWeight],
        weights: LossWeights,
        styles: &[Tensor],
        style_scales: &[f64],
    ) -> Result<Self> {
        if styles.is_empty() {
            return Err(Error::Config("a multi-style loss needs at least one style image".into()));
        }
        let groups: Vec<[(Tensor, f64); 1]> = styles.iter().map(|t| [(t.shallow_clone(), 1.0)]).collect();
        let groups: Vec<&[(Tensor, f64)]> = groups.iter().map(|g| g.as_slice()).collect();
        Self::with_targets(net, content, style, weights, &groups, style_scales)
    }

    /// The loss with one style target per group of `(image, blend weight)`.
    fn with_targets(
        net: LossNetwork,
        content: &[LayerWeight],
        style: &[LayerWeight],
        weights: LossWeights,
        groups: &[&[(Tensor, f64)]],
        style_scales: &[f64],
    ) -> Result<Self> {
        for &styles in groups {
            let blend_sum: f64 = styles.iter().map(|s| s.1).sum();
            if styles.is_empty() || styles.iter().any(|s| !s.1.is_finite() || s.1 < 0.0) || blend_sum <= 0.0 {
                return Err(Error::Config(format!(
                    "style blend weights must be finite, ≥ 0 and not all 0, one per style image; got {:?}",
                    styles.iter().map(|s| s.1).collect::<Vec<_>>()
                )));
            }
        }
        if let Some(problem) = style_scales_problem(style_scales) {
            return Err(Error::Config(problem));
        }
        for (what, w) in [("content", weights.content), ("style", weights.style), ("tv", weights.tv)] {
            if !w.is_finite() || w < 0.0 {
                return Err(Error::Config(format!("{what} weight must be finite and ≥ 0, got {w}")));
            }
        }
        let taps = net.taps();
        let position = |l: &LayerWeight| -> Result<(usize, f64)> {
            if !l.weight.is_finite() || l.weight < 0.0 {
                return Err(Error::Config(format!(
                    "layer {} has weight {}; use a finite value ≥ 0",
                    l.layer, l.weight
                )));
            }
            taps.iter()
                .position(|t| *t == l.layer)
                .map(|p| (p, l.weight))
                .ok_or_else(|| Error::Config(format!("layer {} is not tapped by the loss network", l.layer)))
        };
        if content.is_empty() || style.is_empty() {
            return Err(Error::Config("at least one content layer and one style layer are needed".into()));
        }
        let content = content.iter().map(position).collect::<Result<Vec<_>>>()?;
        let style = style.iter().map(position).collect::<Result<Vec<_>>>()?;
        let style_positions: Vec<usize> = style.iter().map(|s| s.0).collect();
        let device = net.var_store().device();
        // One target's Grams at one scale: the blend of its images' Grams, `[1, C, C]` each.
        let target_grams = |styles: &[(Tensor, f64)], scale: f64| -> Vec<Tensor> {
            let blend_sum: f64 = styles.iter().map(|s| s.1).sum();
            let mut blended: Vec<Tensor> = Vec::new();
            for (image, w) in styles {
                let image = downscale(&image.to_device(device).to_kind(Kind::Float), scale);
                let grams = net.forward_taps(&image, &style_positions).iter().map(gram_matrix).collect::<Vec<_>>();
                let share = w / blend_sum;
                blended = match blended.is_empty() {
                    true => grams.into_iter().map(|g| g * share).collect(),
                    false => blended.iter().zip(grams).map(|(b, g)| b + g * share).collect(),
                };
            }
            blended
        };
        let style_grams = tch::no_grad(|| {
            style_scales
                .iter()
                .map(|&scale| {
                    let per_target: Vec<Vec<Tensor>> = groups.iter().map(|g| target_grams(g, scale)).collect();
                    (0..style.len())
                        .map(|j| Tensor::cat(&per_target.iter().map(|t| &t[j]).collect::<Vec<_>>(), 0))
                        .collect()
                })
                .collect()
        });
        Ok(PerceptualLoss { net, content, style, style_scales: style_scales.to_vec(), style_grams, weights })
    }

    /// How many style targets the loss holds (1 unless built by [`PerceptualLoss::per_style`]).
    pub fn num_targets(&self) -> usize {
        self.style_grams[0][0].size()[0] as usize
    }

    /// The loss network.
    pub fn network(&self) -> &LossNetwork {
        &self.net
    }

    /// Loss of stylised images `y` against their content images `x`, both `[N, 3, H, W]`
    /// RGB 0–255 on the loss network's device. Gradients flow into `y` only: the content
    /// targets are computed without a graph, and only down to the deepest content layer.
    /// With several style targets every image is measured against the first; see
    /// [`PerceptualLoss::compute_styled`].
    pub fn compute(&self, y: &Tensor, x: &Tensor) -> LossParts {
        self.compute_with_targets(y, &self.content_targets(x))
    }

    /// [`PerceptualLoss::compute`] with each image's style target picked by `styles` (`[N]`
    /// int64 indices `< num_targets()`, on the loss network's device): the loss of a
    /// multi-style batch, where image `n` was stylized as style `styles[n]`.
    pub fn compute_styled(&self, y: &Tensor, x: &Tensor, styles: &Tensor) -> LossParts {
        self.compute_selected(y, &self.content_targets(x), Some(styles))
    }

    /// The content targets of images `x` (`[N, 3, H, W]`, RGB 0–255): their activations at
    /// the content layers, without a graph. Computed once when the content image is fixed
    /// (Gatys' optimisation), then passed to [`PerceptualLoss::compute_with_targets`].
    pub fn content_targets(&self, x: &Tensor) -> Vec<Tensor> {
        let content_positions: Vec<usize> = self.content.iter().map(|c| c.0).collect();
        tch::no_grad(|| self.net.forward_taps(x, &content_positions))
    }

    /// [`PerceptualLoss::compute`] with the content targets given (see
    /// [`PerceptualLoss::content_targets`]).
    pub fn compute_with_targets(&self, y: &Tensor, fx: &[Tensor]) -> LossParts {
        self.compute_selected(y, fx, None)
    }

    /// The loss with the style target of each image picked by `styles` (`[N]` indices;
    /// `None`: the first target for all).
    fn compute_selected(&self, y: &Tensor, fx: &[Tensor], styles: Option<&Tensor>) -> LossParts {
        let all: Vec<usize> = (0..self.net.taps().len()).collect();
        let fy = self.net.forward_taps(y, &all);
        let mut terms = Terms::default();
        for (pos, f) in fy.iter().enumerate() {
            self.terms_at(pos, f, Some(fx), self.full_scale(), styles, &mut terms);
        }
        self.downscaled_style_terms(y, styles, &mut terms);
        self.parts(terms, tv_loss(y) * self.weights.tv)
    }

    /// What [`PerceptualLoss::compute_with_targets`] followed by `total.backward()` does (the
    /// gradient accumulates into `y.grad`; `y` must require it), in far less memory: gradient
    /// checkpointing (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"). A
    /// forward pass without a graph keeps only the input of each trunk segment
    /// ([`LossNetwork`] cut after every max-pool); then, deepest segment first, the segment is
    /// recomputed with a graph and back-propagated with its own loss terms plus
    /// `⟨output, ∂L/∂output⟩` from the segments above it, which gives `∂L/∂input`. Peak memory
    /// is one segment's graph instead of the whole trunk's (at 2048² the first VGG block alone
    /// holds about 2.5 GB of the trunk's 5), for one extra forward pass of all but the
    /// deepest segment. Downscaled style passes (style scales below 1) are back-propagated
    /// whole: they are at most a quarter of the full-size one. Returns the loss parts without
    /// a graph.
    pub fn backward_checkpointed(&self, y: &Tensor, fx: &[Tensor]) -> LossParts {
        let segments = self.net.segments();
        let tap_indices = self.net.tap_indices();
        // The input of each segment after the first, computed without a graph.
        let mut inputs: Vec<Tensor> = tch::no_grad(|| {
            let mut x = self.net.preprocess(y);
            let mut inputs = Vec::new();
            for seg in &segments[..segments.len() - 1] {
                x = self.net.run_layers(x, seg.clone(), &mut |_, _| {});
                inputs.push(x.shallow_clone());
            }
            inputs
        });
        let mut terms = Terms::default();
        // ∂L/∂(output of the segment being recomputed), from the segments above it.
        let mut grad_out: Option<Tensor> = None;
        let mut tv = None;
        for (k, seg) in segments.iter().enumerate().rev() {
            let input = match k {
                0 => self.net.preprocess(y),
                _ => inputs.pop().expect("one input per later segment").detach().set_requires_grad(true),
            };
            let mut here = Terms::default();
            let out = self.net.run_layers(input.shallow_clone(), seg.clone(), &mut |index, f| {
                for pos in tap_indices.iter().enumerate().filter(|t| *t.1 == index).map(|t| t.0) {
                    self.terms_at(pos, f, Some(fx), self.full_scale(), None, &mut here);
                }
            });
            let mut surrogate = self.weighted(&here);
            if let Some(g) = grad_out.take() {
                surrogate += (out * g).sum(Kind::Float);
            }
            if k == 0 {
                let t = tv_loss(y) * self.weights.tv;
                surrogate += &t;
                tv = Some(t.detach());
                surrogate.backward();
            } else {
                grad_out = Tensor::run_backward(&[surrogate], &[&input], false, false).pop();
            }
            terms.extend_detached(here);
        }
        let mut small = Terms::default();
        self.downscaled_style_terms(y, None, &mut small);
        if !small.style.is_empty() {
            self.weighted(&small).backward();
            terms.extend_detached(small);
        }
        self.parts(terms, tv.expect("the first segment is always run"))
    }

    /// The position of scale 1 among the style scales, if there.
    fn full_scale(&self) -> Option<usize> {
        self.style_scales.iter().position(|&s| s == 1.0)
    }

    /// Pushes the layer-weighted loss terms of the tap at position `pos` (its activations
    /// `f`, `[N, C, H, W]`) onto `terms`: content terms when `fx` (the content targets, one per
    /// content layer) is given, style terms against the Grams of style scale `scale` when
    /// given (divided by the number of scales: the style loss is their mean), each image
    /// against the target `styles` picks for it (`None`: the first).
    fn terms_at(
        &self,
        pos: usize,
        f: &Tensor,
        fx: Option<&[Tensor]>,
        scale: Option<usize>,
        styles: Option<&Tensor>,
        terms: &mut Terms,
    ) {
        for ((p, w), target) in self.content.iter().zip(fx.unwrap_or_default()) {
            if *p == pos {
                terms.content.push(mse(f, target) * *w);
            }
        }
        let Some(scale) = scale else { return };
        let per_scale = 1.0 / self.style_scales.len() as f64;
        for (j, ((p, w), target)) in self.style.iter().zip(&self.style_grams[scale]).enumerate() {
            if *p == pos {
                let (n, c1, c2) = (f.size()[0], target.size()[1], target.size()[2]);
                let target = match styles {
                    Some(s) => target.index_select(0, s),
                    None => target.narrow(0, 0, 1).expand([n, c1, c2], false),
                };
                // MSE per image: the mean over the batch of these is PE's mse_loss.
                let per_image =
                    (gram_matrix(f) - target).square().mean_dim(Some([1i64, 2].as_slice()), false, Kind::Float);
                terms.style.push((j, per_image * (*w * per_scale)));
            }
        }
    }

    /// The style terms of the style scales below 1: `y` downscaled, through the loss
    /// network down to the deepest style layer.
    fn downscaled_style_terms(&self, y: &Tensor, styles: Option<&Tensor>, terms: &mut Terms) {
        let mut positions: Vec<usize> = self.style.iter().map(|s| s.0).collect();
        positions.sort_unstable();
        positions.dedup();
        for (scale, &s) in self.style_scales.iter().enumerate().filter(|s| *s.1 != 1.0) {
            let f = self.net.forward_taps(&downscale(y, s), &positions);
            for (pos, f) in positions.iter().zip(&f) {
                self.terms_at(*pos, f, None, Some(scale), styles, terms);
            }
        }
    }

    /// `content_weight · Σ content + style_weight · Σ style` of `terms` (0 when empty).
    fn weighted(&self, terms: &Terms) -> Tensor {
        let device = self.net.var_store().device();
        let mut total = Tensor::zeros([], (Kind::Float, device));
        for t in &terms.content {
            total += t * self.weights.content;
        }
        for (_, t) in &terms.style {
            total += t.mean(Kind::Float) * self.weights.style;
        }
        total
    }

    /// The loss parts from all the terms of a batch and its weighted TV term.
    fn parts(&self, terms: Terms, tv: Tensor) -> LossParts {
        let style_layers = (0..self.style.len())
            .map(|j| {
                let mine = terms.style.iter().filter(|t| t.0 == j).map(|t| t.1.detach().mean(Kind::Float)).collect();
                sum(mine) * self.weights.style
            })
            .collect();
        let style_per_image = sum(terms.style.iter().map(|t| t.1.detach()).collect()) * self.weights.style;
        let content = sum(terms.content) * self.weights.content;
        let style = sum(terms.style.into_iter().map(|t| t.1.mean(Kind::Float)).collect()) * self.weights.style;
        let total = &content + &style + &tv;
        LossParts { content, style, tv, total, style_layers, style_per_image }
    }
}

/// Layer-weighted content terms (scalars) and `(style layer, per-image term)` style terms
/// (`[N]`, the term is their mean), before the global weights.
#[derive(Default)]
struct Terms {
    content: Vec<Tensor>,
    style: Vec<(usize, Tensor)>,
}

impl Terms {
    /// Appends `other`'s terms without their graphs.
    fn extend_detached(&mut self, other: Terms) {
        self.content.extend(other.content.iter().map(Tensor::detach));
        self.style.extend(other.style.into_iter().map(|(j, t)| (j, t.detach())));
    }
}

/// What is wrong with a list of style scales (see [`PerceptualLoss::blended`]), if anything:
/// there must be at least one, each a fraction of the image size in `(0, 1]`.
pub fn style_scales_problem(scales: &[f64]) -> Option<String> {
    (scales.is_empty() || scales.iter().any(|s| !(s.is_finite() && *s > 0.0 && *s <= 1.0)))
        .then(|| format!("style scales must be fractions of the image size in (0, 1], at least one; got {scales:?}"))
}

/// `[N, C, H, W]` images downscaled to `scale×` their size (rounded, at least 1 px) by area
/// averaging (adaptive average pooling: exact 2×2 means at ½); unchanged at 1.
pub(crate) fn downscale(images: &Tensor, scale: f64) -> Tensor {
    if scale == 1.0 {
        return images.shallow_clone();
    }
    let (_, _, h, w) = images.size4().expect("downscale takes [N, C, H, W] images");
    let side = |v: i64| ((v as f64 * scale).round() as i64).max(1);
    images.adaptive_avg_pool2d([side(h), side(w)])
}

/// Element-wise sum of tensors of one shape (scalars or `[N]`; at least one: every loss has a
/// content and a style layer).
fn sum(terms: Vec<Tensor>) -> Tensor {
    Tensor::stack(&terms, 0).sum_dim_intlist(0, false, Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn gram_by_hand() {
        // F = [[1, 2], [3, 4]] as [1, 2, 1, 2]: F̃F̃ᵀ = [[5, 11], [11, 25]], C·H·W = 4.
        let f = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([1, 2, 1, 2]);
        let g = Vec::<f32>::try_from(gram_matrix(&f).flatten(0, -1)).unwrap();
        assert_eq!(g, [1.25, 2.75, 2.75, 6.25]);
    }

    #[test]
    fn tv_by_hand() {
        // One 2×2 image [[0, 1], [3, 5]]: dx = 1, 2; dy = 3, 4 → (1+4+9+16)/2 = 15.
        let y = Tensor::from_slice(&[0.0f32, 1.0, 3.0, 5.0]).view([1, 1, 2, 2]);
        assert_eq!(f64::try_from(tv_loss(&y)).unwrap(), 15.0);
        // Batch mean: two copies give the same value.
        let y2 = Tensor::cat(&[&y, &y], 0);
        assert_eq!(f64::try_from(tv_loss(&y2)).unwrap(), 15.0);
        // A constant image has none; a 1-pixel image has no neighbours.
        assert_eq!(f64::try_from(tv_loss(&Tensor::ones([1, 3, 4, 4], (Kind::Float, Device::Cpu)))).unwrap(), 0.0);
        assert_eq!(f64::try_from(tv_loss(&Tensor::ones([1, 3, 1, 1], (Kind::Float, Device::Cpu)))).unwrap(), 0.0);
    }

    #[test]
    fn required_taps_are_unique() {
        let c = [LayerWeight::new("relu2_2")];
        let s = [LayerWeight::new("relu1_2"), LayerWeight::new("relu2_2")];
        assert_eq!(PerceptualLoss::required_taps(&c, &s), ["relu2_2", "relu1_2"]);
    }
}
