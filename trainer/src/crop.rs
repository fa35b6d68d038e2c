//! One training crop from one photo (PE's `Resize(size)` + `CenterCrop(size)`), and the
//! check that refuses blank crops. The bottom of the trainer's data modules: the cache and
//! the sources build on it.

use faststyle::image_io;
use std::path::Path;

/// Training crops whose spatial standard deviation (per channel, the largest of the three,
/// 0–255 units) is below this are skipped as blank: a uniform image has zero variance at every
/// instance norm, whose backward pass then multiplies the gradient by 1/√eps ≈ 316 per layer
/// and overflows f32 (NaN weights within a few steps); it carries no content to learn from.
pub const MIN_CROP_STD: f64 = 1.0;

/// Decodes one training crop: shorter side resized to `size` (small images are upscaled),
/// centre-cropped to `size×size`.
///
/// # Errors
/// [`faststyle::Error::Decode`] (naming the file) for undecodable files and for crops that
/// are blank (see [`check_not_blank`]); [`faststyle::Error::Io`] for unreadable ones.
pub fn load_crop(path: &Path, size: u32) -> faststyle::Result<image::RgbImage> {
    let crop = image_io::resize_center_crop(&image_io::read_rgb(path)?, size);
    check_not_blank(&crop, path)?;
    Ok(crop)
}

/// Refuses a blank crop (largest channel std below [`MIN_CROP_STD`]).
///
/// # Errors
/// [`faststyle::Error::Decode`] naming `path`.
pub fn check_not_blank(crop: &image::RgbImage, path: &Path) -> faststyle::Result<()> {
    let std = max_channel_std(crop);
    if std < MIN_CROP_STD {
        return Err(faststyle::Error::Decode {
            path: path.to_path_buf(),
            reason: format!(
                "the {}x{} training crop is blank (largest channel std {std:.2} < {MIN_CROP_STD}); nothing to learn from",
                crop.width(),
                crop.height()
            ),
        });
    }
    Ok(())
}

/// The largest of the three per-channel spatial standard deviations of `img`, 0–255 units.
pub fn max_channel_std(img: &image::RgbImage) -> f64 {
    let n = (img.width() * img.height()).max(1) as f64;
    let (mut sum, mut sq) = ([0f64; 3], [0f64; 3]);
    for p in img.pixels() {
        for c in 0..3 {
            let v = p.0[c] as f64;
            sum[c] += v;
            sq[c] += v * v;
        }
    }
    (0..3).map(|c| (sq[c] / n - (sum[c] / n).powi(2)).max(0.0).sqrt()).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_means_uniform_per_channel() {
        let uniform = image::RgbImage::from_pixel(8, 8, image::Rgb([9, 99, 199]));
        assert_eq!(max_channel_std(&uniform), 0.0);
        // Only the blue channel varies (0/4 checkerboard): std 2.
        let blue = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([9, 99, if (x + y) % 2 == 0 { 0 } else { 4 }]));
        assert!((max_channel_std(&blue) - 2.0).abs() < 1e-9);
    }
}
