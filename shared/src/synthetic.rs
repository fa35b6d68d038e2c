//! Procedurally rendered test scenes.
//!
//! The project ships no photographs: tests, benches and `infer demo` use these landscapes
//! instead (sky gradient, sun, two mountain ranges, a lake with a reflection, a meadow, trees
//! and a house, plus fine value noise so that the images have texture at every scale like a
//! photo). The same `(width, height, seed)` always gives the same pixels.

use image::{Rgb, RgbImage};

/// SplitMix64: a small, well-known 64-bit mixing function (Steele et al. 2014).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform value in [0, 1) from a seed and two integer coordinates.
fn hash01(seed: u64, x: i64, y: i64) -> f64 {
    let h = mix(seed ^ mix((x as u64).wrapping_mul(0x1F1F_1F1F) ^ mix(y as u64)));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Smoothly interpolated value noise in [0, 1) with features about `scale` pixels across.
fn value_noise(seed: u64, x: f64, y: f64, scale: f64) -> f64 {
    let (fx, fy) = (x / scale, y / scale);
    let (x0, y0) = (fx.floor(), fy.floor());
    let (tx, ty) = (fx - x0, fy - y0);
    let s = |t: f64| t * t * (3.0 - 2.0 * t);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let a = hash01(seed, x0, y0);
    let b = hash01(seed, x0 + 1, y0);
    let c = hash01(seed, x0, y0 + 1);
    let d = hash01(seed, x0 + 1, y0 + 1);
    let top = a + (b - a) * s(tx);
    let bottom = c + (d - c) * s(tx);
    top + (bottom - top) * s(ty)
}

/// Fractal (multi-octave) value noise in about [0, 1).
fn fbm(seed: u64, x: f64, y: f64, scale: f64) -> f64 {
    let mut sum = 0.0;
    let mut amp = 0.5;
    let mut sc = scale;
    for octave in 0..4 {
        sum += amp * value_noise(seed.wrapping_add(octave), x, y, sc.max(1.0));
        amp *= 0.5;
        sc *= 0.5;
    }
    sum / 0.9375
}

fn lerp(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    let t = t.clamp(0.0, 1.0);
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

/// Renders a `width×height` landscape, fully determined by `seed` (layout, palette and
/// texture all vary with it). Any size ≥ 1×1.
pub fn render_scene(width: u32, height: u32, seed: u64) -> RgbImage {
    let (w, h) = (width.max(1) as f64, height.max(1) as f64);
    let r = |k: u64| hash01(seed, k as i64, -7);
    // Layout, in units of the image height/width.
    let horizon = 0.55 + 0.1 * r(1);
    let sun = (0.15 + 0.7 * r(2), 0.12 + 0.2 * r(3), 0.05 + 0.04 * r(4));
    let dusk = r(5);
    let sky_top = lerp([40.0, 90.0, 190.0], [70.0, 40.0, 120.0], dusk);
    let sky_low = lerp([170.0, 210.0, 240.0], [250.0, 160.0, 90.0], dusk);
    let far = lerp([90.0, 110.0, 150.0], [110.0, 80.0, 120.0], dusk);
    let near = [60.0 + 40.0 * r(6), 90.0 + 30.0 * r(7), 60.0];
    let grass = [70.0 + 50.0 * r(8), 140.0 + 40.0 * r(9), 50.0];
    let house_x = 0.2 + 0.6 * r(10);
    let house_w = 0.08 + 0.05 * r(11);
    let wall = [200.0 + 40.0 * r(12), 180.0, 150.0 + 60.0 * r(13)];
    let roof = [150.0 + 60.0 * r(14), 50.0, 40.0];
    let lake = (0.3 * r(15), 0.35 + 0.3 * r(16));
    let trees: Vec<(f64, f64, f64)> =
        (0..6).map(|i| (r(20 + i), horizon + 0.05 + 0.3 * r(30 + i), 0.03 + 0.03 * r(40 + i))).collect();

    let far_ridge =
        |u: f64| horizon - 0.12 - 0.08 * (u * 7.0 + 6.0 * r(17)).sin() - 0.05 * fbm(seed ^ 1, u * w, 0.0, w / 6.0);
    let near_ridge =
        |u: f64| horizon - 0.05 - 0.05 * (u * 11.0 + 6.0 * r(18)).sin() - 0.04 * fbm(seed ^ 2, u * w, 9.0, w / 9.0);

    let sky = |u: f64, v: f64| -> [f64; 3] {
        let mut c = lerp(sky_top, sky_low, v / horizon);
        let d = ((u - sun.0) * w / h).hypot(v - sun.1);
        if d < sun.2 {
            c = [255.0, 240.0, 190.0];
        } else {
            let glow = (-(d - sun.2) * 12.0).exp() * 0.6;
            c = lerp(c, [255.0, 230.0, 170.0], glow);
        }
        let cloud = fbm(seed ^ 3, u * w, v * h * 2.5, w / 5.0);
        lerp(c, [245.0, 245.0, 250.0], ((cloud - 0.55) * 3.0).max(0.0))
    };

    RgbImage::from_fn(width.max(1), height.max(1), |px, py| {
        let (x, y) = (px as f64 + 0.5, py as f64 + 0.5);
        let (u, v) = (x / w, y / h);
        let mut c = if v < far_ridge(u) {
            sky(u, v)
        } else if v < near_ridge(u) {
            lerp(far, [200.0, 200.0, 215.0], (far_ridge(u) + 0.04 - v).max(0.0) * 20.0)
        } else if v < horizon {
            near
        } else if u > lake.0
            && u < lake.1
            && v < horizon + 0.12 * (1.0 - ((u - lake.0) / (lake.1 - lake.0) * 2.0 - 1.0).powi(2))
        {
            // Water: the sky mirrored about the horizon, darkened and rippled.
            let ripple = 0.01 * (y * 0.8).sin();
            lerp(sky(u + ripple, 2.0 * horizon - v), [20.0, 40.0, 70.0], 0.35)
        } else {
            lerp(grass, [30.0, 60.0, 20.0], (v - horizon) * 1.2)
        };
        // House: walls, a window and a triangular roof, standing on the horizon.
        let hb = horizon + 0.02;
        let (hl, hr) = (house_x - house_w, house_x + house_w);
        let wall_top = hb - 0.1;
        if u > hl && u < hr && v > wall_top && v < hb {
            c = wall;
            if (u - house_x).abs() < house_w * 0.3 && v > wall_top + 0.03 && v < hb - 0.03 {
                c = [60.0, 80.0, 110.0];
            }
        }
        let roof_h = 0.07;
        if v <= wall_top
            && v > wall_top - roof_h
            && (u - house_x).abs() < (house_w * 1.2) * (v - (wall_top - roof_h)) / roof_h
        {
            c = roof;
        }
        // Trees: a trunk and a round crown, nearer trees larger.
        for &(tx, base, size) in &trees {
            let crown = ((u - tx) * w / h).hypot(v - (base - size * 2.0));
            if crown < size {
                c = lerp([30.0, 90.0, 40.0], [20.0, 60.0, 25.0], crown / size + 0.3 * fbm(seed ^ 4, x, y, 6.0));
            } else if (u - tx).abs() * w / h < size * 0.15 && v > base - size * 2.0 && v < base {
                c = [90.0, 60.0, 40.0];
            }
        }
        // Fine texture, like sensor noise and grain.
        let t = (fbm(seed ^ 5, x, y, 3.0) - 0.5) * 24.0 + (hash01(seed ^ 6, px as i64, py as i64) - 0.5) * 10.0;
        Rgb([
            (c[0] + t).round().clamp(0.0, 255.0) as u8,
            (c[1] + t).round().clamp(0.0, 255.0) as u8,
            (c[2] + t).round().clamp(0.0, 255.0) as u8,
        ])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_seed_dependent() {
        let a = render_scene(64, 48, 1);
        assert_eq!(a, render_scene(64, 48, 1));
        assert_ne!(a, render_scene(64, 48, 2));
        assert_eq!(render_scene(1, 1, 0).dimensions(), (1, 1));
    }

    #[test]
    fn has_texture_and_contrast() {
        let img = render_scene(128, 96, 3);
        let lum: Vec<f64> = img.pixels().map(|p| p.0.iter().map(|&c| c as f64).sum::<f64>() / 3.0).collect();
        let mean = lum.iter().sum::<f64>() / lum.len() as f64;
        let var = lum.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lum.len() as f64;
        assert!(var.sqrt() > 20.0, "std {}", var.sqrt());
    }
}
