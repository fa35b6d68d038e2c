//! Decoding: every supported format and colour type comes back as upright 8-bit RGB.

use faststyle::image_io::{read_rgb, write_image};
use faststyle_suite::corpus::exif_orientation;
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageBuffer, ImageEncoder, Luma, Rgb, RgbImage, Rgba};

/// A 16×8 image with four solid quadrants: red top-left, green top-right, blue bottom-left,
/// white bottom-right (solid blocks survive JPEG).
fn quadrants() -> RgbImage {
    RgbImage::from_fn(16, 8, |x, y| match (x < 8, y < 4) {
        (true, true) => Rgb([255, 0, 0]),
        (false, true) => Rgb([0, 255, 0]),
        (true, false) => Rgb([0, 0, 255]),
        (false, false) => Rgb([255, 255, 255]),
    })
}

fn is_red(p: &Rgb<u8>) -> bool {
    p.0[0] > 200 && p.0[1] < 60 && p.0[2] < 60
}

#[test]
fn all_eight_exif_orientations_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let src = quadrants();
    // Where the red (stored top-left) quadrant must appear after orientation, and whether
    // width and height swap (EXIF 2.3, tag 274).
    let expect = [
        (1, "TL", false), // normal
        (2, "TR", false), // mirror horizontal
        (3, "BR", false), // rotate 180
        (4, "BL", false), // mirror vertical
        (5, "TL", true),  // transpose
        (6, "TR", true),  // rotate 90 clockwise
        (7, "BR", true),  // transverse
        (8, "BL", true),  // rotate 90 counter-clockwise
    ];
    for (orientation, corner, swapped) in expect {
        let path = dir.path().join(format!("o{orientation}.jpg"));
        let mut bytes = Vec::new();
        let mut enc = JpegEncoder::new_with_quality(&mut bytes, 95);
        enc.set_exif_metadata(exif_orientation(orientation)).unwrap();
        enc.write_image(src.as_raw(), 16, 8, image::ExtendedColorType::Rgb8).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let img = read_rgb(&path).unwrap();
        let (w, h) = img.dimensions();
        assert_eq!((w, h), if swapped { (8, 16) } else { (16, 8) }, "orientation {orientation}");
        let at = |c: &str| match c {
            "TL" => img.get_pixel(1, 1),
            "TR" => img.get_pixel(w - 2, 1),
            "BL" => img.get_pixel(1, h - 2),
            _ => img.get_pixel(w - 2, h - 2),
        };
        assert!(is_red(at(corner)), "orientation {orientation}: red expected at {corner}, got {:?}", at(corner));
        for other in ["TL", "TR", "BL", "BR"].iter().filter(|c| **c != corner) {
            assert!(!is_red(at(other)), "orientation {orientation}: red also at {other}");
        }
    }
}

#[test]
fn colour_types_and_bit_depths_become_rgb8() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Grayscale 8-bit.
    ImageBuffer::<Luma<u8>, _>::from_fn(5, 3, |x, _| Luma([x as u8 * 50])).save(d.join("gray.png")).unwrap();
    let g = read_rgb(&d.join("gray.png")).unwrap();
    assert_eq!(g.get_pixel(2, 1).0, [100, 100, 100]);
    // RGBA: alpha dropped, colour kept.
    ImageBuffer::<Rgba<u8>, _>::from_pixel(4, 4, Rgba([10, 20, 30, 40])).save(d.join("rgba.png")).unwrap();
    assert_eq!(read_rgb(&d.join("rgba.png")).unwrap().get_pixel(0, 0).0, [10, 20, 30]);
    // 16-bit RGB: scaled to 8 bits (65535 → 255, 32896 → 128).
    let img16 = ImageBuffer::<Rgb<u16>, _>::from_pixel(3, 2, Rgb([65535, 32896, 0]));
    DynamicImage::ImageRgb16(img16).save(d.join("deep.png")).unwrap();
    assert_eq!(read_rgb(&d.join("deep.png")).unwrap().get_pixel(1, 1).0, [255, 128, 0]);
    // 16-bit grayscale TIFF.
    let g16 = ImageBuffer::<Luma<u16>, _>::from_pixel(3, 3, Luma([65535]));
    DynamicImage::ImageLuma16(g16).save(d.join("deep_gray.tif")).unwrap();
    assert_eq!(read_rgb(&d.join("deep_gray.tif")).unwrap().get_pixel(0, 0).0, [255, 255, 255]);
    // Lossless formats keep the pixels exactly.
    let q = quadrants();
    for ext in ["png", "tif", "bmp", "webp", "gif"] {
        let p = d.join(format!("q.{ext}"));
        q.save(&p).unwrap();
        assert_eq!(read_rgb(&p).unwrap(), q, "{ext}");
    }
}

#[test]
fn the_format_is_sniffed_not_taken_from_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("actually_png.jpg");
    quadrants().save_with_format(&p, image::ImageFormat::Png).unwrap();
    assert_eq!(read_rgb(&p).unwrap(), quadrants());
}

#[test]
fn written_images_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let q = quadrants();
    write_image(&dir.path().join("a.png"), &q).unwrap();
    assert_eq!(read_rgb(&dir.path().join("a.png")).unwrap(), q);
    write_image(&dir.path().join("a.JPEG"), &q).unwrap();
    assert!(is_red(read_rgb(&dir.path().join("a.JPEG")).unwrap().get_pixel(2, 2)));
    assert!(write_image(&dir.path().join("a.gif"), &q).is_err());
    // Nothing but the two outputs: no temporary files.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}
