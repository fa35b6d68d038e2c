//! Quality figures that no config changes, for `trainer eval` and `trainer optimize`:
//!
//! - **border band** ([`border_figures`]): the outer [`BORDER_BAND`] px of an image against the
//!   band just inside it, in detail energy (mean |Laplacian| of luma) and colour saturation;
//!   1 means no border artifact (the striped, colourful frames of jcjohnson/fast-neural-style
//!   #37, lengstrom/fast-style-transfer #273 show as ratios well above 1);
//! - **style strength** ([`StyleYardstick`]): how much closer to the painting's Gram matrices
//!   an image is than the photo it came from, on fixed VGG layers with equal weights and a
//!   fixed painting size, so models trained with different layers, weights or style sizes are
//!   measured alike.

use crate::error::{Error, Result};
use crate::image_io;
use crate::loss::{gram_matrix, mse};
use crate::tensor_file::TensorFile;
use crate::vgg::{LossNetwork, LossNetworkConfig, VggArch, VggPadding, RELU1_2, RELU2_2, RELU3_3, RELU3_4};
use image::RgbImage;
use serde::Serialize;
use std::path::Path;
use tch::{Device, Tensor};

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

/// The detail and saturation figures of the outer `band` px against the next `band` px in.
pub fn border_figures(img: &RgbImage, band: u32) -> Border {
    let (w, h) = img.dimensions();
    let luma = |x: u32, y: u32| {
        let p = img.get_pixel(x, y).0;
        0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64
    };
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
}
