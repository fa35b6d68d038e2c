//! Image decoding, encoding, resizing and conversion to and from tensors.
//!
//! Decoding goes through the `image` crate (JPEG, PNG, TIFF, WebP, BMP, GIF), sniffs the
//! format from the content rather than trusting the extension, honours the EXIF orientation
//! tag, enforces size limits (a header claiming 100000×100000 is refused, not allocated),
//! and converts every colour type (grayscale, RGBA, 16-bit) to 8-bit RGB; alpha is dropped,
//! as PE's `Image.open(...).convert('RGB')` does. Resizing uses `fast_image_resize`
//! (SIMD, antialiased convolution).

use crate::error::{Error, Result};
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// File extensions (lower case) treated as images when walking a folder.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "tif", "tiff", "webp", "bmp", "gif"];

/// The largest width or height decoded, in pixels (larger than 8K video; 4K is 3840).
pub(crate) const MAX_IMAGE_SIDE: u32 = 16_384;

/// The most memory one decode may allocate, in bytes (1 GiB).
pub(crate) const MAX_DECODE_ALLOC: u64 = 1 << 30;

/// JPEG quality of written images (libjpeg scale, 1–100; at 90 and above `jpeg-encoder`
/// keeps full-resolution chroma, 4:4:4).
pub(crate) const JPEG_QUALITY: u8 = 95;

/// Whether `path` has one of [`IMAGE_EXTENSIONS`] (case-insensitive): what folder listing
/// takes for an image, and what `infer` refuses as the output name of a folder or video job.
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// The image files of a folder, as [`list_images`] finds them.
#[derive(Debug, Clone, Default)]
pub struct ImageListing {
    /// Files with an image extension, sorted by path.
    pub files: Vec<PathBuf>,
    /// Entries that could not be visited (a dangling link, an unreadable sub-folder), with
    /// the reason: to be reported and counted as skipped, not fatal.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Lists the files with an image extension under `dir`, recursively and following symbolic
/// links, sorted by path so the order does not depend on the file system. Used for training
/// folders and for `infer` on a folder alike.
///
/// # Errors
/// [`Error::Io`] when `dir` itself cannot be read; [`Error::NoImages`] when no file under it
/// has an image extension.
pub fn list_images(dir: &Path) -> Result<ImageListing> {
    std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut listing = ImageListing::default();
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        match entry {
            Ok(e) if e.file_type().is_file() && has_image_extension(e.path()) => listing.files.push(e.into_path()),
            Ok(_) => {}
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| dir.to_path_buf());
                if has_image_extension(&path) || e.io_error().is_some() {
                    listing.unreadable.push((path, e.to_string()));
                }
            }
        }
    }
    if listing.files.is_empty() {
        return Err(Error::NoImages { path: dir.to_path_buf(), extensions: IMAGE_EXTENSIONS.join(", ") });
    }
    listing.files.sort();
    Ok(listing)
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits
}

/// Reads an image file as 8-bit RGB, upright (EXIF orientation applied).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Decode`] naming the file when it is
/// empty, not an image, corrupt, truncated or over the size limits.
pub fn read_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_rgb(&bytes, path)
}

/// Reads an image as RGB8 (see [`read_rgb`]), scaled down (keeping the aspect ratio, see
/// [`fit_within`]) so its longer side is at most `max_size` when given.
///
/// # Errors
/// As [`read_rgb`].
pub fn read_rgb_fitted(path: &Path, max_size: Option<u32>) -> Result<RgbImage> {
    let img = read_rgb(path)?;
    Ok(match max_size {
        Some(m) => {
            let (w, h) = fit_within(img.width(), img.height(), m);
            if (w, h) == img.dimensions() {
                img
            } else {
                resize(&img, w, h)
            }
        }
        None => img,
    })
}

/// Decodes image bytes as 8-bit RGB, upright. `path` is used only in error messages.
///
/// # Errors
/// [`Error::Decode`] as for [`read_rgb`].
pub(crate) fn decode_rgb(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    let fail = |reason: String| Error::Decode { path: path.to_path_buf(), reason: reason.trim_end().to_string() };
    if bytes.is_empty() {
        return Err(fail("the file is empty".into()));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| fail(e.to_string()))?;
    if reader.format().is_none() {
        return Err(fail("not a recognised image format (JPEG, PNG, TIFF, WebP, BMP, GIF)".into()));
    }
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(|e| fail(e.to_string()))?;
    let orientation = decoder.orientation().map_err(|e| fail(e.to_string()))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| fail(e.to_string()))?;
    img.apply_orientation(orientation);
    Ok(match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    })
}

/// The encoder chosen by an output path's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// `.jpg` / `.jpeg`, quality [`JPEG_QUALITY`].
    Jpeg,
    /// `.png`.
    Png,
}

impl OutputFormat {
    /// The format for `path`'s extension (case-insensitive).
    ///
    /// # Errors
    /// [`Error::UnsupportedOutputFormat`] for any other extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "jpg" | "jpeg" => Ok(OutputFormat::Jpeg),
            "png" => Ok(OutputFormat::Png),
            _ => Err(Error::UnsupportedOutputFormat { path: path.to_path_buf(), ext }),
        }
    }
}

/// Encodes `img` by `path`'s extension and writes it atomically (temp file + rename), so a
/// reader never sees a partial image.
///
/// # Errors
/// [`Error::UnsupportedOutputFormat`]; [`Error::Encode`]; [`Error::Io`].
pub fn write_image(path: &Path, img: &RgbImage) -> Result<()> {
    let format = OutputFormat::from_path(path)?;
    let enc_err = |reason: String| Error::Encode { path: path.to_path_buf(), reason };
    crate::fsutil::write_atomic(path, |w| match format {
        // jpeg-encoder rather than image's own encoder: the same baseline JFIF, about 2.8× as
        // fast with its AVX2 path (640×360: 8.3 → 2.9 ms), which matters when a light network
        // stylizes a frame in tens of milliseconds (README, "Light networks for CPUs").
        OutputFormat::Jpeg => {
            let side = |s: u32| u16::try_from(s).map_err(|_| enc_err(format!("{s} px is over JPEG's 65535 px limit")));
            let (width, height) = (side(img.width())?, side(img.height())?);
            jpeg_encoder::Encoder::new(w, JPEG_QUALITY)
                .encode(img.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| enc_err(e.to_string()))
        }
        OutputFormat::Png => img.write_with_encoder(PngEncoder::new(w)).map_err(|e| enc_err(e.to_string())),
    })
}

/// Resizes to exactly `width×height` with an antialiased bilinear filter (as torchvision's
/// `Resize` and PIL's BILINEAR do). Returns a copy when the size is unchanged.
pub fn resize(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    crop_resize(img, (0.0, 0.0, img.width() as f64, img.height() as f64), width, height)
}

/// Resizes the region `(left, top, width, height)` of `img` (in source pixels, fractional
/// allowed) to `width×height`.
fn crop_resize(img: &RgbImage, region: (f64, f64, f64, f64), width: u32, height: u32) -> RgbImage {
    let full = (0.0, 0.0, img.width() as f64, img.height() as f64);
    if region == full && img.dimensions() == (width, height) {
        return img.clone();
    }
    let (left, top, w, h) = region;
    let mut dst = RgbImage::new(width.max(1), height.max(1));
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)).crop(left, top, w, h);
    Resizer::new().resize(img, &mut dst, &options).expect("source and destination are both U8x3 and non-empty");
    dst
}

/// Scales `img` so its shorter side is `size` (keeping the aspect ratio; small images are
/// upscaled), then takes the central `size×size` square: torchvision
/// `Resize(size) + CenterCrop(size)`, the PE training transform. Done as one resampling of
/// the central region.
pub fn resize_center_crop(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let side = w.min(h);
    crop_resize(img, ((w - side) / 2.0, (h - side) / 2.0, side, side), size, size)
}

/// Scales `img` so its shorter side is `size`, keeping the aspect ratio (used for the style
/// image's `style_size`). The longer side is rounded to the nearest pixel, at least 1.
pub fn resize_shorter_side(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let scale = size as f64 / w.min(h);
    let nw = ((w * scale).round() as u32).max(1);
    let nh = ((h * scale).round() as u32).max(1);
    resize(img, nw, nh)
}

/// The size that fits `width×height` within `max_side` on its longer side, keeping the
/// aspect ratio; unchanged when it already fits.
pub fn fit_within(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longer = width.max(height);
    if longer <= max_side || max_side == 0 {
        return (width, height);
    }
    let scale = max_side as f64 / longer as f64;
    let fit = |s: u32| ((s as f64 * scale).round() as u32).clamp(1, max_side);
    (fit(width), fit(height))
}

/// An 8-bit RGB image as a `[1, 3, H, W]` f32 tensor with values 0–255, on `device`.
pub fn image_to_tensor(img: &RgbImage, device: Device) -> Tensor {
    let (w, h) = img.dimensions();
    Tensor::from_data_size(img.as_raw(), &[1, h as i64, w as i64, 3], Kind::Uint8)
        .to_device(device)
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float)
        .contiguous()
}

/// Several equally sized images as one `[N, 3, H, W]` f32 batch (0–255) on `device`, from
/// their packed HWC bytes (`N·H·W·3` bytes, image after image). On CUDA the bytes go through
/// pinned host memory with a non-blocking copy, and the float conversion runs on the GPU.
pub fn hwc_bytes_to_batch(bytes: &[u8], n: usize, height: u32, width: u32, device: Device) -> Tensor {
    let host = Tensor::from_data_size(bytes, &[n as i64, height as i64, width as i64, 3], Kind::Uint8);
    let on_device = match device {
        Device::Cuda(_) => host.pin_memory(device).to_device_(device, Kind::Uint8, true, false),
        _ => host.to_device(device),
    };
    on_device.permute([0, 3, 1, 2]).to_kind(Kind::Float).contiguous()
}

/// A `[3, H, W]` or `[1, 3, H, W]` tensor of 0–255 values (any float dtype, any device) as
/// an 8-bit RGB image: values are rounded and clamped to 0–255.
///
/// # Errors
/// [`Error::Torch`] for any other shape.
pub fn tensor_to_image(t: &Tensor) -> Result<RgbImage> {
    let t = match t.dim() {
        4 if t.size()[0] == 1 => t.squeeze_dim(0),
        3 => t.shallow_clone(),
        _ => return Err(tch::TchError::Shape(format!("expected [1, 3, H, W] or [3, H, W], got {:?}", t.size())).into()),
    };
    let (c, h, w) = t.size3()?;
    if c != 3 {
        return Err(tch::TchError::Shape(format!("expected 3 channels, got {c}")).into());
    }
    let bytes = t
        .to_kind(Kind::Float)
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
        .permute([1, 2, 0])
        .to_device(Device::Cpu)
        .contiguous();
    let numel = (h * w * 3) as usize;
    let mut raw = vec![0u8; numel];
    bytes.f_copy_data(&mut raw, numel)?;
    Ok(RgbImage::from_raw(w as u32, h as u32, raw).expect("buffer has h·w·3 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_round_trip_is_exact() {
        let img = RgbImage::from_fn(7, 5, |x, y| image::Rgb([(x * 30) as u8, (y * 50) as u8, (x + y) as u8]));
        let t = image_to_tensor(&img, Device::Cpu);
        assert_eq!(t.size(), [1, 3, 5, 7]);
        // Pixel (x=2, y=1): R = 60, G = 50, B = 3.
        assert_eq!(f64::try_from(t.get(0).get(0).get(1).get(2)).unwrap(), 60.0);
        assert_eq!(f64::try_from(t.get(0).get(1).get(1).get(2)).unwrap(), 50.0);
        assert_eq!(tensor_to_image(&t).unwrap(), img);
    }

    #[test]
    fn tensor_to_image_clamps_and_rounds() {
        let t = Tensor::from_slice(&[-20.0f32, 300.0, 127.6]).view([3, 1, 1]);
        assert_eq!(tensor_to_image(&t).unwrap().get_pixel(0, 0).0, [0, 255, 128]);
    }

    #[test]
    fn sizes() {
        assert_eq!(fit_within(1920, 1080, 960), (960, 540));
        assert_eq!(fit_within(300, 200, 960), (300, 200));
        assert_eq!(fit_within(1000, 1, 100), (100, 1));
        let img = RgbImage::new(640, 480);
        assert_eq!(resize_center_crop(&img, 256).dimensions(), (256, 256));
        assert_eq!(resize_center_crop(&RgbImage::new(224, 224), 256).dimensions(), (256, 256));
        assert_eq!(resize_shorter_side(&img, 240).dimensions(), (320, 240));
    }

    #[test]
    fn output_format_by_extension() {
        assert_eq!(OutputFormat::from_path(Path::new("a/b.JPG")).unwrap(), OutputFormat::Jpeg);
        assert_eq!(OutputFormat::from_path(Path::new("b.png")).unwrap(), OutputFormat::Png);
        let err = OutputFormat::from_path(Path::new("b.gif")).unwrap_err().to_string();
        assert!(err.contains("b.gif") && err.contains(".png"), "{err}");
    }

    #[test]
    fn decode_errors_name_the_file() {
        let p = Path::new("folder/x.jpg");
        assert!(decode_rgb(b"", p)
            .unwrap_err()
            .to_string()
            .contains("folder/x.jpg: cannot decode image: the file is empty"));
        let err = decode_rgb(b"hello, I am text", p).unwrap_err().to_string();
        assert!(err.contains("folder/x.jpg") && err.contains("not a recognised image format"), "{err}");
    }

    /// A JPEG round trip keeps a smooth image to within a few levels; a side JPEG cannot hold
    /// (over 65535 px) is an error naming the file, and no file or temp file is left.
    #[test]
    fn jpeg_output_round_trips_and_refuses_oversized_sides() {
        let dir = tempfile::tempdir().unwrap();
        let img = RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 128]));
        let path = dir.path().join("out.jpg");
        write_image(&path, &img).unwrap();
        let back = decode_rgb(&std::fs::read(&path).unwrap(), &path).unwrap();
        assert_eq!(back.dimensions(), (64, 48));
        let worst = img.as_raw().iter().zip(back.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(worst <= 4, "largest difference {worst} levels");

        let wide = dir.path().join("wide.jpg");
        let err = write_image(&wide, &RgbImage::new(65_536, 1)).unwrap_err().to_string();
        assert!(err.contains("wide.jpg") && err.contains("65535"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only out.jpg is left");
    }
}
