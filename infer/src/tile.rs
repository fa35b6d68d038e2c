//! Tiled stylization for images too large to stylize at once: overlapping square tiles, each
//! through the TransformerNet, blended with a smooth window so no seam shows. Peak memory is
//! set by the tile (the network's activations) plus two f32 accumulators of the image.
//!
//! Each tile is normalised by its own instance-norm statistics, so a tiled result is not
//! bit-identical to an untiled one; the raised-cosine cross-fade over the overlap hides the
//! transitions (README reports the max/mean difference against untiled output).

use image::RgbImage;

/// Tiling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileConfig {
    /// Tile side, pixels (≥ 16).
    pub size: u32,
    /// Overlap between neighbouring tiles, pixels (< size / 2).
    pub overlap: u32,
}

impl TileConfig {
    /// A tile of `size` with the default overlap of `size / 8` (at least 8 px).
    pub fn new(size: u32) -> Self {
        TileConfig { size, overlap: (size / 8).max(8).min(size / 2 - 1) }
    }
}

/// Tile origins along one axis of length `len`: every `size − overlap`, the last one moved
/// back so it ends at `len`. One tile at 0 when `len ≤ size`.
pub fn tile_starts(len: u32, size: u32, overlap: u32) -> Vec<u32> {
    if len <= size {
        return vec![0];
    }
    let step = (size - overlap).max(1);
    let mut starts: Vec<u32> = (0..).map(|k| k * step).take_while(|&s| s + size < len).collect();
    starts.push(len - size);
    starts.dedup();
    starts
}

/// Blend weight of position `p` in a tile of length `len` along one axis: a raised-cosine
/// ramp `sin²(π/2 · (p + ½) / overlap)` over the first and last `overlap` pixels, on sides
/// that have a neighbour; 1 elsewhere. Always > 0.
pub fn window(p: u32, len: u32, overlap: u32, ramp_start: bool, ramp_end: bool) -> f32 {
    let ramp = |d: u32| -> f32 {
        if overlap == 0 || d >= overlap {
            1.0
        } else {
            let t = (d as f32 + 0.5) / overlap as f32 * std::f32::consts::FRAC_PI_2;
            t.sin().powi(2)
        }
    };
    let a = if ramp_start { ramp(p) } else { 1.0 };
    let b = if ramp_end { ramp(len - 1 - p) } else { 1.0 };
    a * b
}

/// Stylizes `img` tile by tile with `stylize_tile` (which must return an image of its
/// input's size) and blends the tiles. Images no larger than a tile go through whole.
///
/// # Errors
/// Whatever `stylize_tile` returns.
pub fn stylize_tiled<E>(
    img: &RgbImage,
    cfg: TileConfig,
    mut stylize_tile: impl FnMut(&RgbImage) -> Result<RgbImage, E>,
) -> Result<RgbImage, E> {
    let (w, h) = img.dimensions();
    if w <= cfg.size && h <= cfg.size {
        return stylize_tile(img);
    }
    let (xs, ys) = (tile_starts(w, cfg.size, cfg.overlap), tile_starts(h, cfg.size, cfg.overlap));
    let mut acc = vec![0f32; (w * h * 3) as usize];
    let mut weight = vec![0f32; (w * h) as usize];
    for (iy, &y0) in ys.iter().enumerate() {
        for (ix, &x0) in xs.iter().enumerate() {
            let (tw, th) = (cfg.size.min(w), cfg.size.min(h));
            let tile = image::imageops::crop_imm(img, x0, y0, tw, th).to_image();
            let out = stylize_tile(&tile)?;
            let wx: Vec<f32> = (0..tw).map(|p| window(p, tw, cfg.overlap, ix > 0, ix + 1 < xs.len())).collect();
            let wy: Vec<f32> = (0..th).map(|p| window(p, th, cfg.overlap, iy > 0, iy + 1 < ys.len())).collect();
            for ty in 0..th {
                let row = ((y0 + ty) * w + x0) as usize;
                for tx in 0..tw {
                    let k = wx[tx as usize] * wy[ty as usize];
                    let px = out.get_pixel(tx, ty).0;
                    let i = row + tx as usize;
                    weight[i] += k;
                    for c in 0..3 {
                        acc[i * 3 + c] += k * px[c] as f32;
                    }
                }
            }
        }
    }
    let pixels: Vec<u8> = acc
        .chunks_exact(3)
        .zip(&weight)
        .flat_map(|(rgb, &k)| rgb.iter().map(move |v| (v / k).round().clamp(0.0, 255.0) as u8))
        .collect();
    Ok(RgbImage::from_raw(w, h, pixels).expect("w·h·3 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_cover_the_axis_with_the_overlap() {
        assert_eq!(tile_starts(100, 128, 16), [0]);
        assert_eq!(tile_starts(300, 128, 16), [0, 112, 172]);
        assert_eq!(tile_starts(240, 128, 16), [0, 112]);
        for len in [129, 500, 1000] {
            let s = tile_starts(len, 128, 16);
            assert_eq!(*s.last().unwrap() + 128, len);
            assert!(s.windows(2).all(|p| p[1] > p[0] && p[1] - p[0] <= 112));
        }
    }

    #[test]
    fn window_is_smooth_positive_and_one_inside() {
        assert_eq!(window(50, 128, 16, true, true), 1.0);
        assert_eq!(window(0, 128, 16, false, true), 1.0);
        assert!(window(0, 128, 16, true, false) > 0.0 && window(0, 128, 16, true, false) < 0.01);
        // Two raised-cosine ramps over the same overlap sum to 1 (sin² + cos²).
        for p in 0..16 {
            let s = window(p, 128, 16, true, false) + window(112 + p, 128, 16, false, true);
            assert!((s - 1.0).abs() < 1e-5, "{p}: {s}");
        }
    }

    #[test]
    fn identity_tiles_reassemble_the_image_exactly() {
        let img = RgbImage::from_fn(150, 97, |x, y| image::Rgb([x as u8, y as u8, (x * y % 251) as u8]));
        let out = stylize_tiled(&img, TileConfig { size: 40, overlap: 8 }, |t| Ok::<_, ()>(t.clone())).unwrap();
        assert_eq!(out, img);
    }
}
