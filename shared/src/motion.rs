//! Flow-free video losses: a synthetic frame pair made by a known small motion, and the two
//! output-level losses that train flicker out of a per-frame network.
//!
//! - **Synthetic motion** ([`Motion`], [`warp`]): `T(x)` shifts, rotates and zooms images by
//!   a known amount, as between consecutive video frames, by bilinear resampling (PyTorch's
//!   `F.affine_grid` + `F.grid_sample`, `align_corners=False`, zero padding), with the mask of
//!   output pixels that come from inside the image. Integer shifts are exact copies.
//! - **Temporal loss** ([`masked_mse`] of `f(T(x))` against `T(f(x))` on the mask): the
//!   output-level temporal loss of ReCoNet (Gao et al. 2018, eq. 5), with the optical flow
//!   known because the motion was made, so no flow network is needed.
//! - **Stability loss**: `MSE(f(x + η), f(x))` for Gaussian input noise η ("Stabilizing neural
//!   style-transfer for video", Element AI 2018; the instability Gupta et al. 2017 describe):
//!   libtorch's plain `mse_loss` on the two outputs.
//!
//! Both losses also come in a mean absolute (L1) form, [`masked_mean_abs`] and PyTorch's
//! `l1_loss`, in the units of `trainer eval`'s frame-difference measures.
//!
//! All images `[N, C, H, W]`, any value range (the squared losses are in its units squared,
//! the L1 forms in its units).

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// A small motion of the image content: shift by `shift` pixels (`[x right, y down]`), then
/// rotate by `rotation` degrees (counter-clockwise on screen) and zoom by `zoom` (> 1
/// enlarges) about the image centre.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Motion {
    /// Content shift, pixels `[x, y]`.
    pub shift: [f64; 2],
    /// Rotation, degrees.
    pub rotation: f64,
    /// Zoom factor.
    pub zoom: f64,
}

impl Motion {
    /// No motion.
    pub const IDENTITY: Motion = Motion { shift: [0.0, 0.0], rotation: 0.0, zoom: 1.0 };

    /// The `[1, 2, 3]` matrix `theta` of `F.affine_grid` for `[.., H, W]` images: output pixel
    /// `p` (pixel units about the centre) samples the input at `M (p − shift)` with
    /// `M = R(−rotation) / zoom`, written in normalised coordinates (`x·2/W`, `y·2/H`).
    pub fn theta(&self, height: i64, width: i64) -> Tensor {
        let (w, h) = (width as f64, height as f64);
        // Screen y points down, so a counter-clockwise rotation on screen is clockwise in
        // (x, y) maths: the inverse map rotates by +rotation.
        let (s, c) = self.rotation.to_radians().sin_cos();
        let m = [[c / self.zoom, -s / self.zoom], [s / self.zoom, c / self.zoom]];
        let t = [
            -(m[0][0] * self.shift[0] + m[0][1] * self.shift[1]),
            -(m[1][0] * self.shift[0] + m[1][1] * self.shift[1]),
        ];
        // D⁻¹ M D and D⁻¹ t with D = diag(W/2, H/2).
        let theta = [
            m[0][0] as f32,
            (m[0][1] * h / w) as f32,
            (2.0 * t[0] / w) as f32,
            (m[1][0] * w / h) as f32,
            m[1][1] as f32,
            (2.0 * t[1] / h) as f32,
        ];
        Tensor::from_slice(&theta).view([1, 2, 3])
    }
}

/// `images` (`[N, C, H, W]`) moved by `motion` (see the module docs), and the `[N, 1, H, W]`
/// float mask of output pixels wholly inside the input (bilinear coverage ≥ 0.999). Both on
/// `images`' device; differentiable in `images`.
pub fn warp(images: &Tensor, motion: &Motion) -> (Tensor, Tensor) {
    let (n, c, h, w) = images.size4().expect("warp takes [N, C, H, W] images");
    let theta = motion.theta(h, w).to_device(images.device()).to_kind(images.kind()).expand([n, 2, 3], false);
    let grid = Tensor::affine_grid_generator(&theta, [n, c, h, w], false);
    // Interpolation 0 = bilinear, padding 0 = zeros (grid_sample's defaults).
    let warped = images.grid_sampler(&grid, 0, 0, false);
    let ones = Tensor::ones([n, 1, h, w], (images.kind(), images.device()));
    let coverage = tch::no_grad(|| ones.grid_sampler(&grid, 0, 0, false));
    (warped, coverage.ge(0.999).to_kind(images.kind()))
}

/// Mean squared difference of `a` and `b` (`[N, C, H, W]`) over the pixels where `mask`
/// (`[N, 1, H, W]`, 0 or 1) is 1, in f32: `Σ mask·(a − b)² / (C · Σ mask)`; 0 for an empty mask.
pub fn masked_mse(a: &Tensor, b: &Tensor, mask: &Tensor) -> Tensor {
    masked_mean(&(a.to_kind(Kind::Float) - b.to_kind(Kind::Float)).square(), mask)
}

/// Mean absolute difference of `a` and `b` (`[N, C, H, W]`) over the pixels where `mask`
/// (`[N, 1, H, W]`, 0 or 1) is 1, in f32: `Σ mask·|a − b| / (C · Σ mask)`; 0 for an empty
/// mask. The L1 form of [`masked_mse`], in the same units as the frame-difference measures
/// (mean |ΔO|, grey levels).
pub fn masked_mean_abs(a: &Tensor, b: &Tensor, mask: &Tensor) -> Tensor {
    masked_mean(&(a.to_kind(Kind::Float) - b.to_kind(Kind::Float)).abs(), mask)
}

/// `Σ mask·d / (C · Σ mask)` for a per-element penalty `d` `[N, C, H, W]` and `mask`
/// `[N, 1, H, W]`; 0 for an empty mask.
fn masked_mean(d: &Tensor, mask: &Tensor) -> Tensor {
    let (c, mask) = (d.size()[1] as f64, mask.to_kind(Kind::Float));
    (d * &mask).sum(Kind::Float) / (mask.sum(Kind::Float) * c).clamp_min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn ramp(h: i64, w: i64) -> Tensor {
        (Tensor::arange(2 * h * w, (Kind::Float, Device::Cpu)) * 7.0).remainder(251.0).view([1, 2, h, w])
    }

    #[test]
    fn integer_shifts_are_exact_copies_with_the_uncovered_band_masked() {
        let x = ramp(6, 9);
        let (y, mask) = warp(&x, &Motion { shift: [2.0, -1.0], ..Motion::IDENTITY });
        // Content moves right by 2 and up by 1: y[.., i, j] = x[.., i + 1, j − 2].
        let want = x.narrow(2, 1, 5).narrow(3, 0, 7);
        let got = y.narrow(2, 0, 5).narrow(3, 2, 7);
        let diff = (&got - &want).abs().max().double_value(&[]);
        assert!(diff < 1e-3, "max |Δ| = {diff}");
        // Valid: rows 0..5, columns 2..9.
        let m = mask.squeeze();
        assert_eq!(m.sum(Kind::Float).double_value(&[]), 35.0);
        assert_eq!(m.narrow(0, 0, 5).narrow(1, 2, 7).min().double_value(&[]), 1.0);
        let (same, full) = warp(&x, &Motion::IDENTITY);
        assert!((&same - &x).abs().max().double_value(&[]) < 1e-3);
        assert_eq!(full.sum(Kind::Float).double_value(&[]), 54.0);
    }

    #[test]
    fn masked_mse_by_hand() {
        // Two channels, 1×2 pixels; only pixel 0 counts: ((1−0)² + (3−1)²) / 2 = 2.5.
        let a = Tensor::from_slice(&[1.0f32, 9.0, 3.0, 9.0]).view([1, 2, 1, 2]);
        let b = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 0.0]).view([1, 2, 1, 2]);
        let mask = Tensor::from_slice(&[1.0f32, 0.0]).view([1, 1, 1, 2]);
        assert_eq!(masked_mse(&a, &b, &mask).double_value(&[]), 2.5);
        assert_eq!(masked_mse(&a, &b, &mask.zeros_like()).double_value(&[]), 0.0);
        // The same pixels by absolute difference: (|1−0| + |3−1|) / 2 = 1.5.
        assert_eq!(masked_mean_abs(&a, &b, &mask).double_value(&[]), 1.5);
        assert_eq!(masked_mean_abs(&a, &b, &mask.zeros_like()).double_value(&[]), 0.0);
    }
}
