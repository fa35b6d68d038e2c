//! Quality figures that no config changes, for `trainer eval` and `trainer optimize`:
//!
//! - **border band** ([`border_figures`]): the outer [`BORDER_BAND`] px of an image against the
//!   band just inside it, in detail energy (mean |Laplacian| of luma) and colour saturation;
//!   1 means no border artifact (the striped, colourful frames of jcjohnson/fast-neural-style
//!   #37, lengstrom/fast-style-transfer #273 show as ratios well above 1);
//! - **style strength** ([`StyleYardstick`]): how much closer to the painting's Gram matrices
//!   an image is than the photo it came from, on fixed VGG layers with equal weights and a
//!   fixed painting size, so models trained with different layers, weights or style sizes are
//!   measured alike;
//! - **period-2 peak** ([`period2_peak`]): the checkerboard of stride-2 upsampling (Odena et
//!   al. 2016) as a peak of the luma power spectrum at ½ cycle per pixel;
//! - **temporal stability** ([`temporal_figures`], flow-free): on consecutive video frames, how
//!   much the output changes between frames against how much the input does (the
//!   frame-difference view of Xu et al. 2021, arXiv 2102.05822), and how much it changes under a
//!   small fixed input perturbation (the instability Gupta et al. 2017 characterise).

use crate::error::{Error, Result};
use crate::image_io;
use crate::loss::{gram_matrix, mse};
use crate::tensor_file::TensorFile;
use crate::vgg::{LossNetwork, LossNetworkConfig, VggArch, VggPadding, RELU1_2, RELU2_2, RELU3_3, RELU3_4};
use image::RgbImage;
use serde::Serialize;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Width of the border band whose artifacts are measured, pixels.
pub const BORDER_BAND: u32 = 6;

/// Border figures of one image: outer band over the band just inside it.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Border {
    /// Mean |Laplacian of luma| in the outer band / in the inner band.
    pub detail_ratio: f64,
    /// Mean saturation ((max − min) / max of RGB) in the outer band / in the inner band.
    pub saturation_ratio: f64,
}

/// BT.601 luma of an 8-bit RGB pixel, 0–255.
fn luma(p: &image::Rgb<u8>) -> f64 {
    0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64
}

/// The detail and saturation figures of the outer `band` px against the next `band` px in.
pub fn border_figures(img: &RgbImage, band: u32) -> Border {
    let (w, h) = img.dimensions();
    let luma = |x: u32, y: u32| luma(img.get_pixel(x, y));
    let saturation = |x: u32, y: u32| {
        let p = img.get_pixel(x, y).0;
        let (max, min) = (p.iter().max().copied().unwrap_or(0) as f64, p.iter().min().copied().unwrap_or(0) as f64);
        if max > 0.0 {
            (max - min) / max
        } else {
            0.0
        }
    };
    // Ring index of a pixel: its distance to the nearest edge.
    let ring = |x: u32, y: u32| x.min(y).min(w - 1 - x).min(h - 1 - y);
    let (mut sums, mut counts) = ([[0f64; 2]; 2], [0f64; 2]);
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let which = match ring(x, y) {
                r if r < band => 0,
                r if r < 2 * band => 1,
                _ => continue,
            };
            let lap = 4.0 * luma(x, y) - luma(x - 1, y) - luma(x + 1, y) - luma(x, y - 1) - luma(x, y + 1);
            sums[which][0] += lap.abs();
            sums[which][1] += saturation(x, y);
            counts[which] += 1.0;
        }
    }
    let mean = |b: usize, k: usize| sums[b][k] / counts[b].max(1.0);
    let ratio = |k: usize| if mean(1, k) > 0.0 { mean(0, k) / mean(1, k) } else { f64::NAN };
    Border { detail_ratio: ratio(0), saturation_ratio: ratio(1) }
}

/// Period-2 ("checkerboard") figure of an image: in the power spectrum of its luma (BT.601
/// weights, mean removed, a symmetric Hann window along each axis), the power on the lines at
/// ½ cycle per pixel (the column at `W/2` plus the row at `H/2`) over the mean of the same
/// pair of lines 1 and 2 bins away on either side. About 1 for photos and for Gatys' results; a
/// period-2 pattern, such as the checkerboard that stride-2 upsampling leaves (Odena, Dumoulin
/// & Olah 2016, "Deconvolution and Checkerboard Artifacts"), shows as a peak (a pure
/// checkerboard gives about 8, 7.9 at 256 px: the window spreads about a quarter of its
/// amplitude into each adjacent bin).
/// The same figure as `nyq` in `benches/quality/spectrum.py`. NaN for sides under 8 px.
pub fn period2_peak(img: &RgbImage) -> f64 {
    let (w, h) = img.dimensions();
    if w < 8 || h < 8 {
        return f64::NAN;
    }
    let luma: Vec<f64> = img.pixels().map(luma).collect();
    let (w, h) = (w as i64, h as i64);
    let options = (Kind::Double, Device::Cpu);
    let luma = Tensor::from_slice(&luma).view([h, w]);
    let window = Tensor::hann_window_periodic(h, false, options).unsqueeze(1)
        * Tensor::hann_window_periodic(w, false, options).unsqueeze(0);
    let centred = (&luma - luma.mean(Kind::Double)) * window;
    let power = centred.fft_fft2(None::<&[i64]>, [-2i64, -1], "backward").abs().square();
    let sum =
        |dim: i64, index: i64, len: i64| power.select(dim, index.rem_euclid(len)).sum(Kind::Double).double_value(&[]);
    let lines = |d: i64| sum(1, w / 2 + d, w) + sum(0, h / 2 + d, h);
    let neighbours = [-2, -1, 1, 2].iter().map(|&d| lines(d)).sum::<f64>() / 4.0;
    lines(0) / neighbours
}

/// The fixed style yardstick: `S(image) = Σ_l MSE(G_l(image), G_l(painting))` over
/// [`StyleYardstick::layers`] with equal weights, the painting's shorter side at
/// [`StyleYardstick::PAINTING_SIDE`], VGG with its own zero padding; the weights and input
/// convention are the model's (the only VGG a user has). Style strength of a stylised image
/// `y` of photo `x`: `1 − S(y) / S(x)`: 0 = no closer to the painting than the photo, 1 = the
/// painting's Grams exactly; comparable between models of the same painting and VGG.
#[derive(Debug)]
pub struct StyleYardstick {
    net: LossNetwork,
    /// The layers measured.
    layers: Vec<String>,
    /// `[1, C_l, C_l]` Grams of the painting at each yardstick layer.
    grams: Vec<Tensor>,
}

impl StyleYardstick {
    /// Shorter side the painting is resized to, pixels.
    pub const PAINTING_SIDE: u32 = 256;

    /// The yardstick layers of an architecture: `relu1_2, relu2_2, relu3_3, relu3_4` for VGG19
    /// (a VGG19 file that stops after conv3_4 has them all), `relu1_2, relu2_2, relu3_3` for
    /// VGG16.
    pub fn layers(arch: VggArch) -> Vec<String> {
        let layers: &[&str] = match arch {
            VggArch::Vgg19 => &[RELU1_2, RELU2_2, RELU3_3, RELU3_4],
            VggArch::Vgg16 => &[RELU1_2, RELU2_2, RELU3_3],
        };
        layers.iter().map(|l| l.to_string()).collect()
    }

    /// Loads the VGG weights (`cfg`'s architecture and input convention; zero padding
    /// whatever `cfg` says) and computes the painting's Grams. A weights file that stops
    /// before the deepest yardstick layer gives the yardstick the layers it has (see
    /// [`StyleYardstick::layers_used`]): comparable only between models measured alike.
    ///
    /// # Errors
    /// As [`LossNetwork::load`]; [`Error::Config`] when the file lacks even `conv1_2`.
    pub fn new(vgg_weights: &Path, cfg: &LossNetworkConfig, painting: &RgbImage, device: Device) -> Result<Self> {
        let cfg = LossNetworkConfig { padding: VggPadding::Zeros, ..*cfg };
        let names = TensorFile::open(vgg_weights)?.names();
        // A ReLU's conv is the layer before it.
        let has = |layer: &String| {
            cfg.arch.layer_index(layer).is_ok_and(|i| i > 0 && names.contains(&format!("features.{}.weight", i - 1)))
        };
        let layers: Vec<String> = Self::layers(cfg.arch).into_iter().filter(has).collect();
        if layers.is_empty() {
            return Err(Error::Config(format!(
                "{}: the style yardstick needs VGG weights up to conv1_2 at least",
                vgg_weights.display()
            )));
        }
        let net = LossNetwork::load(vgg_weights, &cfg, &layers, device)?;
        let painting = image_io::image_to_tensor(&image_io::resize_shorter_side(painting, Self::PAINTING_SIDE), device);
        let grams = tch::no_grad(|| net.forward(&painting).iter().map(gram_matrix).collect());
        Ok(StyleYardstick { net, layers, grams })
    }

    /// The layers this yardstick measures (all of [`StyleYardstick::layers`] unless the
    /// weights file stops earlier).
    pub fn layers_used(&self) -> &[String] {
        &self.layers
    }

    /// `S(image)` of `[1, 3, H, W]` RGB 0–255 (see the type's docs), in caffe- or
    /// torchvision-scaled squared Gram units.
    pub fn distance(&self, image: &Tensor) -> f64 {
        tch::no_grad(|| {
            let f = self.net.forward(image);
            f.iter().zip(&self.grams).map(|(f, g)| f64::try_from(mse(&gram_matrix(f), g)).unwrap_or(f64::NAN)).sum()
        })
    }

    /// Style strength `1 − S(styled) / S(photo)` of a stylised image and its photo, both
    /// `[1, 3, H, W]` RGB 0–255.
    pub fn strength(&self, styled: &Tensor, photo: &Tensor) -> f64 {
        1.0 - self.distance(styled) / self.distance(photo)
    }
}

/// Standard deviation of the fixed perturbation of [`temporal_figures`]' noise sensitivity,
/// in 0–255 grey levels (about what JPEG or sensor noise changes between frames of a still
/// scene).
pub const NOISE_SIGMA: f64 = 2.0;

/// Flow-free temporal figures of a stylization on consecutive frames (see the module docs).
/// Differences are mean absolute differences over all pixels and channels, in 0–255 grey
/// levels, of outputs clamped to 0–255 (what is saved).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Temporal {
    /// Frames measured.
    pub frames: usize,
    /// `output_difference / input_difference`: 1 when the output changes as much as the input
    /// does; flicker shows as values well above 1.
    pub frame_difference_ratio: f64,
    /// Mean |I_t − I_{t−1}| over consecutive input frames.
    pub input_difference: f64,
    /// Mean |O_t − O_{t−1}| over consecutive output frames.
    pub output_difference: f64,
    /// Mean |f(x + η) − f(x)| over the frames, for one fixed Gaussian η of standard deviation
    /// [`NOISE_SIGMA`] (the perturbed frame clamped to 0–255).
    pub noise_sensitivity: f64,
}

/// [`Temporal`] figures of `stylize` (`[1, 3, H, W]` → `[1, 3, H, W]`, RGB 0–255) on `frames`
/// (each `[1, 3, H, W]`, RGB 0–255, one size, in time order, at least two), perturbed by
/// `noise` (`[1, 3, H, W]`, e.g. `NOISE_SIGMA ·` standard normal, fixed for all frames).
///
/// # Errors
/// [`Error::Config`] for fewer than two frames or frames of different sizes.
pub fn temporal_figures(
    frames: &[Tensor],
    noise: &Tensor,
    stylize: &mut dyn FnMut(&Tensor) -> Tensor,
) -> Result<Temporal> {
    if frames.len() < 2 {
        return Err(Error::Config(format!("temporal figures need at least 2 frames, got {}", frames.len())));
    }
    if frames.iter().any(|f| f.size() != frames[0].size()) || noise.size() != frames[0].size() {
        return Err(Error::Config("every frame (and the perturbation) must have the same size".into()));
    }
    let mean_abs = |a: &Tensor, b: &Tensor| (a - b).abs().mean(tch::Kind::Double).double_value(&[]);
    let (mut input_diff, mut output_diff, mut noise_diff) = (0.0, 0.0, 0.0);
    let mut previous: Option<(Tensor, Tensor)> = None;
    for x in frames {
        let y = stylize(x).clamp(0.0, 255.0);
        let perturbed = stylize(&(x + noise).clamp(0.0, 255.0)).clamp(0.0, 255.0);
        noise_diff += mean_abs(&perturbed, &y);
        if let Some((px, py)) = &previous {
            input_diff += mean_abs(x, px);
            output_diff += mean_abs(&y, py);
        }
        previous = Some((x.shallow_clone(), y));
    }
    let pairs = (frames.len() - 1) as f64;
    let (input_difference, output_difference) = (input_diff / pairs, output_diff / pairs);
    Ok(Temporal {
        frames: frames.len(),
        frame_difference_ratio: output_difference / input_difference.max(1e-12),
        input_difference,
        output_difference,
        noise_sensitivity: noise_diff / frames.len() as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bright_striped_border_is_measured() {
        // Flat olive inside (saturation 0.75); the outer 6 px alternate bright and dark red
        // columns (saturation 1).
        let img = RgbImage::from_fn(40, 30, |x, y| {
            let edge = x.min(y).min(39 - x).min(29 - y) < BORDER_BAND;
            match (edge, x % 2) {
                (true, 0) => image::Rgb([255, 0, 0]),
                (true, _) => image::Rgb([40, 0, 0]),
                _ => image::Rgb([90, 120, 30]),
            }
        });
        let b = border_figures(&img, BORDER_BAND);
        // The inner band sees the stripes only along its outer edge.
        assert!(b.detail_ratio > 3.0, "{b:?}");
        assert!((b.saturation_ratio - 1.0 / 0.75).abs() < 0.02, "{b:?}");
        let flat = border_figures(&RgbImage::from_pixel(40, 30, image::Rgb([90, 120, 30])), BORDER_BAND);
        assert!((flat.saturation_ratio - 1.0).abs() < 1e-12, "{flat:?}");
    }

    /// Against `benches/quality/spectrum.py`'s `nyq` (numpy) on the same synthetic 40×40 image:
    /// smooth sinusoids and a sawtooth (no peak), then the same plus a ±3-level checkerboard.
    #[test]
    fn period2_peak_matches_numpy_and_sees_a_faint_checkerboard() {
        let synth = |checker: f64| {
            RgbImage::from_fn(40, 40, |x, y| {
                let c = if (x + y) % 2 == 0 { checker } else { -checker };
                let (xf, yf) = (x as f64, y as f64);
                let v = [
                    100.0 + 60.0 * (xf / 5.0).sin() + c,
                    120.0 + 40.0 * (yf / 7.0).cos() + c,
                    ((x * 3 + y * 2) % 97) as f64 + 5.0 + c,
                ];
                image::Rgb(v.map(|v| v.round() as u8))
            })
        };
        // Golden values: spectrum.py's figures(...)["nyq"] on the same pixels.
        let (smooth, checkered) = (period2_peak(&synth(0.0)), period2_peak(&synth(3.0)));
        assert!((smooth - 0.991162324198566).abs() < 1e-9, "{smooth}");
        assert!((checkered - 7.13368212631266).abs() < 1e-9, "{checkered}");
        assert!(period2_peak(&RgbImage::new(4, 40)).is_nan());
    }

    /// The yardstick's two ends: the photo itself scores 0, the painting at the yardstick's
    /// size scores 1 (its Grams are the targets); a file that stops after relu2_2 gives a
    /// VGG16 yardstick those two layers.
    #[test]
    fn style_strength_is_0_for_the_photo_and_1_for_the_painting() {
        let dir = tempfile::tempdir().unwrap();
        let vgg = dir.path().join("vgg.safetensors");
        crate::vgg::write_random_weights(&vgg, VggArch::Vgg16, VggArch::Vgg16.layer_index(RELU2_2).unwrap(), 3)
            .unwrap();
        let painting = crate::synthetic::render_scene(300, 260, 4);
        let cfg = LossNetworkConfig::default();
        let y = StyleYardstick::new(&vgg, &cfg, &painting, Device::Cpu).unwrap();
        assert_eq!(y.layers_used(), [RELU1_2, RELU2_2]);
        let photo = image_io::image_to_tensor(&crate::synthetic::render_scene(64, 48, 9), Device::Cpu);
        assert_eq!(y.strength(&photo, &photo), 0.0);
        // [1, 3, 256, 295]: the painting as the yardstick sizes it.
        let at_size = image_io::resize_shorter_side(&painting, StyleYardstick::PAINTING_SIDE);
        let s = y.strength(&image_io::image_to_tensor(&at_size, Device::Cpu), &photo);
        assert!((s - 1.0).abs() < 1e-9, "{s}");
    }

    #[test]
    fn temporal_figures_by_hand() {
        // Three flat frames at 100, 110, 130: input steps 10 and 20 → mean 15.
        let frame = |v: f64| Tensor::full([1, 3, 4, 5], v, (tch::Kind::Float, Device::Cpu));
        let frames = [frame(100.0), frame(110.0), frame(130.0)];
        let noise = Tensor::zeros([1, 3, 4, 5], (tch::Kind::Float, Device::Cpu));
        let id = temporal_figures(&frames, &noise, &mut |x| x.shallow_clone()).unwrap();
        assert_eq!((id.frames, id.input_difference, id.output_difference), (3, 15.0, 15.0));
        assert_eq!((id.frame_difference_ratio, id.noise_sensitivity), (1.0, 0.0));
        // Doubling around 100 doubles the changes (outputs 100, 120, 160; none clamped).
        let twice = temporal_figures(&frames, &noise, &mut |x| (x - 100.0) * 2.0 + 100.0).unwrap();
        assert_eq!((twice.output_difference, twice.frame_difference_ratio), (30.0, 2.0));
        // A ±3 perturbation: the identity moves by 3, the doubling by 6; a constant by 0.
        let pm3 = (Tensor::arange(60, (tch::Kind::Float, Device::Cpu)).remainder(2.0) * 6.0 - 3.0).view([1, 3, 4, 5]);
        let id = temporal_figures(&frames, &pm3, &mut |x| x.shallow_clone()).unwrap();
        assert!((id.noise_sensitivity - 3.0).abs() < 1e-6, "{}", id.noise_sensitivity);
        let twice = temporal_figures(&frames, &pm3, &mut |x| (x - 100.0) * 2.0 + 100.0).unwrap();
        assert!((twice.noise_sensitivity - 6.0).abs() < 1e-6, "{}", twice.noise_sensitivity);
        let flat = temporal_figures(&frames, &pm3, &mut |x| x.zeros_like() + 50.0).unwrap();
        assert_eq!((flat.noise_sensitivity, flat.frame_difference_ratio), (0.0, 0.0));
        assert!(temporal_figures(&frames[..1], &noise, &mut |x| x.shallow_clone()).is_err());
    }
}
