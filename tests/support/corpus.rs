//! A generated corpus of hostile and unusual images (issue: hostile inputs). Every file is
//! made here, by code; none comes from elsewhere.

use faststyle::synthetic::render_scene;
use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::{Delay, Frame, ImageBuffer, ImageEncoder, Luma, Rgb, Rgba, RgbaImage};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a corpus file should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Decodes to an upright RGB image of this width and height.
    Decodes(u32, u32),
    /// Must be refused with an error that names the file.
    Refused,
}

/// One corpus file.
#[derive(Debug, Clone)]
pub struct Case {
    /// Short description.
    pub what: &'static str,
    /// The file (or link) in the corpus folder.
    pub path: PathBuf,
    /// The behaviour the tests check.
    pub expect: Expect,
    /// A uniform image: stylized by `infer`, but skipped by `trainer` as blank.
    pub blank: bool,
}

/// A minimal little-endian EXIF (TIFF) chunk holding only the Orientation tag.
pub fn exif_orientation(value: u16) -> Vec<u8> {
    let mut e = b"II*\0".to_vec();
    e.extend(8u32.to_le_bytes());
    e.extend(1u16.to_le_bytes());
    e.extend(0x0112u16.to_le_bytes());
    e.extend(3u16.to_le_bytes());
    e.extend(1u32.to_le_bytes());
    e.extend(value.to_le_bytes());
    e.extend([0, 0]);
    e.extend(0u32.to_le_bytes());
    e
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend(kind);
    c.extend(data);
    let mut h = crc32fast::Hasher::new();
    h.update(kind);
    h.update(data);
    c.extend(h.finalize().to_be_bytes());
    c
}

/// A valid-looking PNG whose header claims `width×height` RGB pixels but holds almost no
/// data: a decompression bomb if a decoder allocated what the header asks.
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, no filter, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])); // empty zlib stream
    png.extend(png_chunk(b"IEND", &[]));
    png
}

fn jpeg_bytes(img: &image::RgbImage, exif: Option<u16>) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut bytes, 90);
    if let Some(o) = exif {
        enc.set_exif_metadata(exif_orientation(o)).unwrap();
    }
    enc.write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8).unwrap();
    bytes
}

/// Writes the corpus into `dir` and returns its cases. `dir` must exist.
pub fn write_image_corpus(dir: &Path) -> Vec<Case> {
    let scene = render_scene(48, 32, 11);
    let mut cases = Vec::new();
    let mut add = |what, name: &str, bytes: Vec<u8>, expect| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let blank = ["one_pixel.png", "animated.gif"].contains(&name);
        cases.push(Case { what, path, expect, blank });
    };
    let jpeg = jpeg_bytes(&scene, None);
    let mut png = Vec::new();
    scene.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();

    add("plain JPEG", "good.jpg", jpeg.clone(), Expect::Decodes(48, 32));
    add("truncated JPEG (first third)", "truncated.jpg", jpeg[..jpeg.len() / 3].to_vec(), Expect::Refused);
    add("truncated PNG (first half)", "truncated.png", png[..png.len() / 2].to_vec(), Expect::Refused);
    add("zero-byte file", "empty.jpg", Vec::new(), Expect::Refused);
    add("text file named .jpg", "text.jpg", b"This is a note, not a picture.\n".to_vec(), Expect::Refused);
    add("PNG header claiming 100000x100000", "bomb.png", png_bomb(100_000, 100_000), Expect::Refused);

    let mut cmyk = Vec::new();
    let cmyk_px: Vec<u8> = scene.pixels().flat_map(|p| [255 - p.0[0], 255 - p.0[1], 255 - p.0[2], 0]).collect();
    jpeg_encoder::Encoder::new(&mut cmyk, 90).encode(&cmyk_px, 48, 32, jpeg_encoder::ColorType::Cmyk).unwrap();
    add("CMYK JPEG", "cmyk.jpg", cmyk, Expect::Decodes(48, 32));

    let mut buf = Vec::new();
    let deep = ImageBuffer::<Rgb<u16>, _>::from_fn(20, 10, |x, y| Rgb([x as u16 * 3000, y as u16 * 6000, 40000]));
    image::DynamicImage::ImageRgb16(deep)
        .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
        .unwrap();
    add("16-bit PNG", "deep16.png", buf, Expect::Decodes(20, 10));

    let mut buf = Vec::new();
    RgbaImage::from_fn(12, 9, |x, y| Rgba([200, (y * 25) as u8, (x * 20) as u8, (x * 20) as u8]))
        .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
        .unwrap();
    add("RGBA PNG", "rgba.png", buf, Expect::Decodes(12, 9));

    let mut buf = Vec::new();
    ImageBuffer::<Luma<u8>, _>::from_fn(15, 11, |x, y| Luma([(x * 10 + y) as u8]))
        .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
        .unwrap();
    add("grayscale PNG", "gray.png", buf, Expect::Decodes(15, 11));

    let mut buf = Vec::new();
    image::RgbImage::from_pixel(1, 1, Rgb([9, 99, 199]))
        .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
        .unwrap();
    add("1x1 PNG", "one_pixel.png", buf, Expect::Decodes(1, 1));

    let mut buf = Vec::new();
    {
        let mut gif = GifEncoder::new(&mut buf);
        let frame = |c: [u8; 4]| {
            Frame::from_parts(RgbaImage::from_pixel(10, 6, Rgba(c)), 0, 0, Delay::from_numer_denom_ms(100, 1))
        };
        gif.encode_frames([frame([255, 0, 0, 255]), frame([0, 0, 255, 255])]).unwrap();
    }
    add("animated GIF (2 frames; the first is red)", "animated.gif", buf, Expect::Decodes(10, 6));

    for o in 1..=8u16 {
        let name = format!("exif_{o}.jpg");
        let size = if o >= 5 { (32, 48) } else { (48, 32) };
        let what: &'static str = Box::leak(format!("JPEG with EXIF orientation {o}").into_boxed_str());
        add(what, &name, jpeg_bytes(&scene, Some(o)), Expect::Decodes(size.0, size.1));
    }

    let link = dir.join("dangling.jpg");
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("no_such_target.jpg"), &link).unwrap();
    cases.push(Case { what: "dangling symbolic link", path: link, expect: Expect::Refused, blank: false });
    cases
}

/// Makes `path` unreadable (mode 000). Returns false when the process can still read it
/// (running as root, whom permission bits do not stop), so callers can say so.
pub fn make_unreadable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    std::fs::read(path).is_err()
}

/// Metadata of a plausible checkpoint with the given model config (for crafting files).
pub fn sample_meta(model: faststyle::TransformerConfig) -> faststyle::CheckpointMeta {
    use faststyle::checkpoint::{LossNetworkInfo, FORMAT_VERSION};
    faststyle::CheckpointMeta {
        format_version: FORMAT_VERSION,
        model,
        train_config: serde_json::json!({"steps": 12, "style_weight": 5.0}),
        style_image: "scene.png".into(),
        step: 12,
        loss_network: LossNetworkInfo {
            arch: faststyle::VggArch::Vgg19,
            preprocessing: faststyle::Preprocessing::Caffe,
            weights: "vgg.safetensors".into(),
        },
        faststyle_version: faststyle::VERSION.into(),
        styles: Vec::new(),
        averaged_steps: Vec::new(),
    }
}

/// A default TransformerNet's parameters, seeded, with non-trivial instance-norm affines.
pub fn sample_store() -> tch::nn::VarStore {
    tch::manual_seed(3);
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _ = faststyle::TransformerNet::new(vs.root(), &faststyle::TransformerConfig::default());
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            if name.starts_with("in") || name.contains(".in") {
                t.copy_(&(tch::Tensor::rand_like(&t) + 0.5));
            }
        }
    });
    vs
}

/// Writes the tensors of `vs` (all but `drop`) with a custom metadata map, as F32.
pub fn write_tensors_with(path: &Path, vs: &tch::nn::VarStore, map: HashMap<String, String>, drop: Option<&str>) {
    let tensors: Vec<(String, tch::Tensor)> =
        vs.variables().into_iter().filter(|(n, _)| Some(n.as_str()) != drop).collect();
    faststyle::tensor_file::write(path, &tensors, &map, faststyle::StoreDtype::F32).unwrap();
}

/// A bad checkpoint and a phrase its error must contain (besides the file's path).
#[derive(Debug, Clone)]
pub struct BadCheckpoint {
    /// Short description.
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Part of the expected error message.
    pub needle: &'static str,
}

/// Writes every kind of bad checkpoint into `dir` (which must exist).
pub fn write_checkpoint_corpus(dir: &Path) -> Vec<BadCheckpoint> {
    use faststyle::TransformerConfig;
    let vs = sample_store();
    let good_map = || sample_meta(TransformerConfig::default()).to_map().unwrap();
    let good = dir.join("good.safetensors");
    write_tensors_with(&good, &vs, good_map(), None);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::remove_file(&good).unwrap();
    let mut cases = Vec::new();
    let mut raw = |what, name: &str, data: &[u8], needle| {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        cases.push(BadCheckpoint { what, path, needle });
    };
    raw("zero-byte file", "empty.safetensors", b"", "not a valid safetensors file");
    raw("not safetensors at all", "garbage.safetensors", b"GIF89a, not a checkpoint", "not a valid safetensors file");
    raw("truncated (first half)", "truncated.safetensors", &bytes[..bytes.len() / 2], "not a valid safetensors file");
    let mut long = bytes.clone();
    long[..8].copy_from_slice(&(bytes.len() as u64 * 2).to_le_bytes());
    raw("header length larger than the file", "long_header.safetensors", &long, "not a valid safetensors file");

    let mut crafted = |what, name: &str, map: HashMap<String, String>, drop, needle| {
        let path = dir.join(name);
        write_tensors_with(&path, &vs, map, drop);
        cases.push(BadCheckpoint { what, path, needle });
    };
    let mut m = good_map();
    m.insert("model_config".into(), "{\"channels\": [32, 64,".into());
    crafted("metadata JSON invalid", "bad_json.safetensors", m, None, "model_config is not a TransformerNet config");
    let mut m = good_map();
    m.insert("format_version".into(), "99".into());
    crafted("format version from the future", "future.safetensors", m, None, "newer than this faststyle supports");
    crafted(
        "a missing tensor",
        "missing.safetensors",
        good_map(),
        Some("res3.in2.bias"),
        "missing tensors: res3.in2.bias",
    );
    let m = sample_meta(TransformerConfig { channels: [16, 64, 128], ..Default::default() }).to_map().unwrap();
    crafted("tensors of the wrong shape", "shape.safetensors", m, None, "has shape");
    let m = sample_meta(TransformerConfig { residual_blocks: 3, ..Default::default() }).to_map().unwrap();
    crafted("another architecture (more blocks than declared)", "arch.safetensors", m, None, "wrong architecture");
    crafted(
        "no metadata (a plain state_dict)",
        "plain.safetensors",
        HashMap::new(),
        None,
        "not a faststyle checkpoint",
    );

    // An integer tensor where a weight belongs.
    let path = dir.join("int_dtype.safetensors");
    let mut owned: Vec<(String, Vec<u8>, Vec<usize>, safetensors::Dtype)> = Vec::new();
    for (name, t) in vs.variables() {
        let t = if name == "in1.bias" { t.to_kind(tch::Kind::Int) } else { t }.contiguous();
        let mut data = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
        t.copy_data_u8(&mut data, t.numel());
        let dtype = if name == "in1.bias" { safetensors::Dtype::I32 } else { safetensors::Dtype::F32 };
        owned.push((name, data, t.size().iter().map(|&d| d as usize).collect(), dtype));
    }
    let views: Vec<(&str, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, d, s, t)| (n.as_str(), safetensors::tensor::TensorView::new(*t, s.clone(), d).unwrap()))
        .collect();
    std::fs::write(&path, safetensors::serialize(views, Some(good_map())).unwrap()).unwrap();
    cases.push(BadCheckpoint { what: "a tensor of the wrong dtype (I32)", path, needle: "has dtype I32" });

    let path = dir.join("nan.safetensors");
    let poisoned = sample_store();
    tch::no_grad(|| {
        let _ = poisoned.variables()["res2.conv1.conv2d.weight"].get(0).get(0).get(0).get(0).fill_(f64::NAN);
    });
    write_tensors_with(&path, &poisoned, good_map(), None);
    cases.push(BadCheckpoint { what: "non-finite weights", path, needle: "NaN or infinite" });
    cases
}
