//! The flow-free video losses of a training step ([`faststyle::motion`]): the stability loss
//! `MSE(f(x + η), f(x))` and the temporal loss `MSE(f(T(x)), T(f(x)))` on the valid region of
//! a synthetic motion `T` (or their mean absolute forms, [`Distance::Absolute`]), each weighted
//! as the recipe's [`VideoLosses`] says. Their
//! randomness (η, T) is drawn from the run's seed and the step alone, so a resumed run draws
//! the same.

use faststyle::motion::{masked_mean_abs, masked_mse, warp, Motion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;
use tch::{Kind, Tensor};

/// How the video losses measure the difference of two outputs (`video_losses.distance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Distance {
    /// Mean squared difference of 0–255 pixels (MSE; the papers' form). The default.
    #[default]
    Squared,
    /// Mean absolute difference of 0–255 pixels (L1): the norm of `trainer eval`'s frame
    /// difference and noise sensitivity, which count a small difference at its full size where
    /// the square makes it nearly free.
    Absolute,
}

impl Distance {
    /// The mean distance of `a` and `b` (`[N, C, H, W]`) over every pixel (`mask` `None`:
    /// libtorch's `mse_loss` / `l1_loss`) or over the pixels where `mask` (`[N, 1, H, W]`,
    /// 0 or 1) is 1 ([`masked_mse`] / [`masked_mean_abs`]).
    fn between(self, a: &Tensor, b: &Tensor, mask: Option<&Tensor>) -> Tensor {
        match (self, mask) {
            (Distance::Squared, None) => a.mse_loss(b, tch::Reduction::Mean),
            (Distance::Absolute, None) => a.l1_loss(b, tch::Reduction::Mean),
            (Distance::Squared, Some(mask)) => masked_mse(a, b, mask),
            (Distance::Absolute, Some(mask)) => masked_mean_abs(a, b, mask),
        }
    }
}

/// The recipe's video losses (`video_losses` in the config; absent: both off). Units: with
/// the default [`Distance::Squared`] the losses are mean squared differences of 0–255 output
/// pixels, so their weights compare with `content_weight` times a squared feature
/// difference; with [`Distance::Absolute`], mean absolute differences in grey levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SmartDefault)]
#[serde(default, deny_unknown_fields)]
pub struct VideoLosses {
    /// Weight of the stability loss `MSE(f(x + η), f(x))` (Element AI 2018, "Stabilizing
    /// neural style-transfer for video"). Default 0 (off).
    #[default(0.0)]
    pub stability_weight: f64,
    /// Standard deviation of the stability loss's Gaussian input noise η, 0–255 grey levels
    /// (the noisy input is clamped to 0–255). Default 4.
    #[default(4.0)]
    pub stability_noise: f64,
    /// Weight of the temporal loss `MSE(f(T(x)), T(f(x)))` over the pixels `T` keeps inside
    /// the image (ReCoNet's output temporal loss, Gao et al. 2018, with a known synthetic
    /// motion instead of optical flow). Default 0 (off).
    #[default(0.0)]
    pub temporal_weight: f64,
    /// Largest shift of `T` along each axis, pixels (uniform in ±). Default 4.
    #[default(4.0)]
    pub max_shift: f64,
    /// Largest rotation of `T`, degrees (uniform in ±). Default 1.
    #[default(1.0)]
    pub max_rotation: f64,
    /// Largest zoom of `T` as a fraction (zoom uniform in 1 ± this). Default 0.03.
    #[default(0.03)]
    pub max_zoom: f64,
    /// Round `T`'s shift to whole pixels. A whole-pixel shift (without rotation or zoom) moves
    /// the image exactly; a fractional one resamples it bilinearly, which blurs the target
    /// `T(f(x))`. (Measured, README "Video": the exact form costs no less eval loss for the
    /// frame difference it buys.) Default false.
    #[default(false)]
    pub whole_pixel_shifts: bool,
    /// How both losses measure a difference: `"squared"` (MSE, default) or `"absolute"`
    /// (mean absolute difference).
    pub distance: Distance,
}

impl VideoLosses {
    /// What is wrong with the values, if anything: weights, noise and motion limits must be
    /// finite and ≥ 0, the zoom below 1.
    pub fn problem(&self) -> Option<String> {
        let fields = [
            ("stability_weight", self.stability_weight),
            ("stability_noise", self.stability_noise),
            ("temporal_weight", self.temporal_weight),
            ("max_shift", self.max_shift),
            ("max_rotation", self.max_rotation),
            ("max_zoom", self.max_zoom),
        ];
        if let Some((name, v)) = fields.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
            return Some(format!("video_losses.{name} must be finite and ≥ 0, got {v}"));
        }
        (self.max_zoom >= 1.0).then(|| format!("video_losses.max_zoom must be below 1, got {}", self.max_zoom))
    }

    /// The motion `T` of `step`: shift, rotation and zoom drawn uniformly within the limits.
    pub fn motion(&self, seed: u64, step: u64) -> Motion {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ step.wrapping_mul(0xA24B_AED4_963E_E407) ^ 0x0000_7E3F_0DA1);
        let mut within = |limit: f64| if limit > 0.0 { rng.random_range(-limit..=limit) } else { 0.0 };
        let mut shift = [within(self.max_shift), within(self.max_shift)];
        if self.whole_pixel_shifts {
            shift = shift.map(f64::round);
        }
        Motion { shift, rotation: within(self.max_rotation), zoom: 1.0 + within(self.max_zoom) }
    }
}

/// The weighted video loss terms of one step (scalars with graphs; `None` when off).
pub(crate) struct VideoTerms {
    /// `stability_weight · D(f(x + η), f(x))`, `D` the recipe's [`Distance`].
    pub stability: Option<Tensor>,
    /// `temporal_weight · D(f(T(x)), T(f(x)))` on `T`'s valid region.
    pub temporal: Option<Tensor>,
}

impl VideoTerms {
    /// The sum of the terms that are on (0 when none is).
    pub fn sum(&self) -> Option<Tensor> {
        match (&self.stability, &self.temporal) {
            (Some(a), Some(b)) => Some(a + b),
            (Some(a), None) | (None, Some(a)) => Some(a.shallow_clone()),
            (None, None) => None,
        }
    }
}

/// The video terms of step `step` for content images `x` (`[N, 3, H, W]`, 0–255) stylized as
/// `y = stylize(x)`; `stylize` runs the network again on the perturbed and moved inputs.
pub(crate) fn video_terms(
    cfg: &VideoLosses,
    seed: u64,
    step: u64,
    x: &Tensor,
    y: &Tensor,
    stylize: &dyn Fn(&Tensor) -> Tensor,
) -> VideoTerms {
    let stability = (cfg.stability_weight > 0.0).then(|| {
        // The noise of this step alone: libtorch's generator reseeded from (seed, step).
        tch::manual_seed((seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15)) as i64 & i64::MAX);
        let noise = Tensor::randn(x.size(), (Kind::Float, x.device())) * cfg.stability_noise;
        let noisy = (x + noise).clamp(0.0, 255.0);
        cfg.distance.between(&stylize(&noisy), y, None) * cfg.stability_weight
    });
    let temporal = (cfg.temporal_weight > 0.0).then(|| {
        let motion = cfg.motion(seed, step);
        let (moved, mask) = warp(x, &motion);
        let (y_moved, _) = warp(y, &motion);
        cfg.distance.between(&stylize(&moved), &y_moved, Some(&mask)) * cfg.temporal_weight
    });
    VideoTerms { stability, temporal }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn motions_are_within_limits_differ_by_step_and_repeat_by_seed() {
        let cfg = VideoLosses::default();
        let a = cfg.motion(42, 7);
        assert_eq!(a, cfg.motion(42, 7), "the same step draws the same motion");
        assert_ne!(a, cfg.motion(42, 8));
        for step in 1..200 {
            let m = cfg.motion(1, step);
            assert!(m.shift.iter().all(|s| s.abs() <= 4.0) && m.rotation.abs() <= 1.0 && (m.zoom - 1.0).abs() <= 0.03);
        }
        let whole = VideoLosses { whole_pixel_shifts: true, ..cfg.clone() };
        assert!((1..200).all(|step| whole.motion(1, step).shift.iter().all(|s| s.fract() == 0.0 && s.abs() <= 4.0)));
        assert!((1..200).any(|step| whole.motion(1, step).shift != [0.0, 0.0]), "not all shifts round to 0");
        let still = VideoLosses { max_shift: 0.0, max_rotation: 0.0, max_zoom: 0.0, ..cfg.clone() };
        assert_eq!(still.motion(3, 3), Motion::IDENTITY);
        assert!(VideoLosses { max_zoom: 1.0, ..cfg.clone() }.problem().unwrap().contains("max_zoom"));
        assert!(VideoLosses { stability_weight: -1.0, ..cfg }.problem().unwrap().contains("stability_weight"));
    }

    #[test]
    fn video_losses_vanish_for_networks_that_commute_with_motion_and_ignore_noise() {
        let cfg = VideoLosses { stability_weight: 1.0, temporal_weight: 1.0, ..Default::default() };
        let x = Tensor::rand([2, 3, 16, 16], (Kind::Float, tch::Device::Cpu)) * 255.0;
        // The identity commutes with every motion: temporal loss 0. Its stability loss is the
        // clamped noise's: σ = 4 → MSE a little under 16.
        let id = video_terms(&cfg, 1, 5, &x, &x, &|t| t.shallow_clone());
        assert!(id.temporal.unwrap().double_value(&[]) < 1e-6);
        let noisy = id.stability.unwrap().double_value(&[]);
        assert!(noisy > 10.0 && noisy < 17.0, "σ = 4 noise, clamped: MSE ≈ 16, got {noisy}");
        // A constant output ignores noise; a column ramp does not commute with a shift.
        let flat = video_terms(&cfg, 1, 5, &x, &x.zeros_like(), &|t| t.zeros_like());
        assert_eq!(flat.stability.unwrap().double_value(&[]), 0.0);
        let ramp = Tensor::arange(16, (Kind::Float, tch::Device::Cpu)).view([1, 1, 1, 16]);
        let f = |t: &Tensor| t * &ramp;
        let tilted = video_terms(&cfg, 1, 5, &x, &f(&x), &f);
        assert!(tilted.temporal.unwrap().double_value(&[]) > 1.0);
        let off = video_terms(&VideoLosses::default(), 1, 5, &x, &x, &|t| t.shallow_clone());
        assert!(off.sum().is_none(), "both off by default");
    }

    #[test]
    fn absolute_distance_measures_the_noise_in_grey_levels() {
        let cfg = VideoLosses {
            stability_weight: 1.0,
            temporal_weight: 1.0,
            distance: Distance::Absolute,
            ..Default::default()
        };
        let x = Tensor::rand([2, 3, 16, 16], (Kind::Float, tch::Device::Cpu)) * 200.0 + 28.0;
        // The identity's stability term is the mean |η| of σ = 4 noise, 4·√(2/π) ≈ 3.19 (the
        // clamp never bites inside 28–228); its temporal term is 0.
        let id = video_terms(&cfg, 1, 5, &x, &x, &|t| t.shallow_clone());
        let noisy = id.stability.unwrap().double_value(&[]);
        assert!((noisy - 4.0 * (2.0 / std::f64::consts::PI).sqrt()).abs() < 0.15, "mean |η| = {noisy}");
        assert!(id.temporal.unwrap().double_value(&[]) < 1e-6);
        // Doubling a difference doubles the absolute term and quadruples the squared one.
        let squared = VideoLosses { distance: Distance::Squared, ..cfg.clone() };
        let ramp = Tensor::arange(16, (Kind::Float, tch::Device::Cpu)).view([1, 1, 1, 16]);
        let term = |c: &VideoLosses, k: f64| {
            let f = |t: &Tensor| t * &ramp * k;
            video_terms(c, 1, 5, &x, &f(&x), &f).temporal.unwrap().double_value(&[])
        };
        assert!((term(&cfg, 2.0) / term(&cfg, 1.0) - 2.0).abs() < 1e-3);
        assert!((term(&squared, 2.0) / term(&squared, 1.0) - 4.0).abs() < 1e-3);
    }

    #[test]
    fn distance_reads_from_the_config_and_defaults_to_squared() {
        let v: VideoLosses = serde_json::from_str(r#"{"distance": "absolute"}"#).unwrap();
        assert_eq!(v.distance, Distance::Absolute);
        assert_eq!(serde_json::from_str::<VideoLosses>("{}").unwrap().distance, Distance::Squared);
        let err = serde_json::from_str::<VideoLosses>(r#"{"distance": "l3"}"#).unwrap_err().to_string();
        assert!(err.contains("l3") && err.contains("absolute"), "{err}");
    }
}
