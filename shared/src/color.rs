//! Controls applied to a stylized image after the TransformerNet: strength (a blend with the
//! content) and colour preservation (luminance-only transfer).
//!
//! Colour preservation follows Gatys, Bethge, Hertzmann & Shechtman, *Preserving Color in
//! Neural Artistic Style Transfer* (2016), §2 "luminance-only transfer": the output keeps the
//! content image's chroma and takes the stylized image's luminance. We use the YCbCr space of
//! JPEG/JFIF (ITU-R BT.601, full range), whose Y is the luminance the paper uses.
//!
//! All tensors are `[N, 3, H, W]` RGB with values 0–255 (any float dtype, same device).

use tch::{Kind, Tensor};

/// RGB → YCbCr (BT.601 full range, JFIF): rows give Y, Cb, Cr; Cb and Cr are offset by 128.
const RGB_TO_YCBCR: [[f64; 3]; 3] =
    [[0.299, 0.587, 0.114], [-0.168_736, -0.331_264, 0.5], [0.5, -0.418_688, -0.081_312]];
/// YCbCr (Cb, Cr minus 128) → RGB, the inverse of [`RGB_TO_YCBCR`].
const YCBCR_TO_RGB: [[f64; 3]; 3] = [[1.0, 0.0, 1.402], [1.0, -0.344_136, -0.714_136], [1.0, 1.772, 0.0]];
/// Chroma offset of 8-bit YCbCr.
const CHROMA_OFFSET: f64 = 128.0;

/// Applies a 3×3 colour matrix to the channel axis of `[N, 3, H, W]`.
fn mix(x: &Tensor, m: &[[f64; 3]; 3]) -> Tensor {
    let flat: Vec<f32> = m.iter().flatten().map(|&v| v as f32).collect();
    let m = Tensor::from_slice(&flat).view([3, 3]).to_device(x.device()).to_kind(x.kind());
    Tensor::einsum("ij,njhw->nihw", &[&m, x], None::<&[i64]>)
}

/// Chroma offset `[0, 128, 128]` shaped to broadcast over `[N, 3, H, W]`.
fn offset(x: &Tensor) -> Tensor {
    Tensor::from_slice(&[0f32, CHROMA_OFFSET as f32, CHROMA_OFFSET as f32])
        .view([1, 3, 1, 1])
        .to_device(x.device())
        .to_kind(x.kind())
}

/// RGB 0–255 → YCbCr 0–255 (Y, then Cb and Cr centred on 128), `[N, 3, H, W]`.
pub fn rgb_to_ycbcr(rgb: &Tensor) -> Tensor {
    mix(rgb, &RGB_TO_YCBCR) + offset(rgb)
}

/// YCbCr 0–255 → RGB 0–255 (not clamped), `[N, 3, H, W]`; inverse of [`rgb_to_ycbcr`].
pub fn ycbcr_to_rgb(ycbcr: &Tensor) -> Tensor {
    mix(&(ycbcr - offset(ycbcr)), &YCBCR_TO_RGB)
}

/// Luminance-only transfer (Gatys et al. 2016): the luminance Y of `styled`, the chroma Cb,
/// Cr of `content`. Both `[N, 3, H, W]` RGB 0–255 of the same size; the result is RGB 0–255,
/// not clamped (8-bit conversion clamps).
pub fn preserve_color(content: &Tensor, styled: &Tensor) -> Tensor {
    let (c, s) = (rgb_to_ycbcr(content), rgb_to_ycbcr(styled));
    ycbcr_to_rgb(&Tensor::cat(&[s.narrow(1, 0, 1), c.narrow(1, 1, 2)], 1))
}

/// The linear blend `content + strength · (styled − content)`: 0 gives the content, 1 the
/// stylized image. `[N, 3, H, W]` RGB 0–255.
pub fn blend(content: &Tensor, styled: &Tensor, strength: f64) -> Tensor {
    content + (styled - content) * strength
}

/// What to do to the TransformerNet's output before it is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Controls {
    /// Blend factor in `[0, 1]` between the content (0) and the stylized image (1). Default 1.
    pub strength: f64,
    /// Keep the content's colours, take only the stylized luminance. Default off.
    pub preserve_color: bool,
}

impl Default for Controls {
    fn default() -> Self {
        Controls { strength: 1.0, preserve_color: false }
    }
}

impl Controls {
    /// Whether these controls leave the stylized output unchanged.
    pub(crate) fn is_identity(&self) -> bool {
        self.strength == 1.0 && !self.preserve_color
    }

    /// Applies colour preservation, then the strength blend, to `styled` given its `content`
    /// (`[N, 3, H, W]` RGB 0–255, same size). Computed in f32 on `styled` clamped to 0–255
    /// (the stylized image as it would be written), so strength 1 matches the plain output.
    pub fn apply(&self, content: &Tensor, styled: &Tensor) -> Tensor {
        if self.is_identity() {
            return styled.shallow_clone();
        }
        let (content, styled) = (content.to_kind(Kind::Float), styled.to_kind(Kind::Float).clamp(0.0, 255.0));
        let styled = if self.preserve_color { preserve_color(&content, &styled) } else { styled };
        if self.strength == 1.0 {
            styled
        } else {
            blend(&content, &styled, self.strength)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    fn sample(seed: i64) -> Tensor {
        tch::manual_seed(seed);
        Tensor::rand([2, 3, 5, 7], (Kind::Float, tch::Device::Cpu)) * 255.0
    }

    #[test]
    fn known_colours() {
        // Pure white is Y 255 with neutral chroma; pure red has Cr = 128 + 0.5·255.
        let px = Tensor::from_slice(&[255f32, 255.0, 255.0, 255.0, 0.0, 0.0]).view([2, 3, 1, 1]);
        let v = Vec::<f32>::try_from(rgb_to_ycbcr(&px).flatten(0, -1)).unwrap();
        let want = [255.0, 128.0, 128.0, 76.245, 84.972_32, 255.5];
        for (a, b) in v.iter().zip(want) {
            assert!((a - b).abs() < 1e-3, "{v:?}");
        }
    }

    #[test]
    fn ycbcr_round_trips() {
        let x = sample(1);
        assert!(max_abs(&ycbcr_to_rgb(&rgb_to_ycbcr(&x)), &x) < 1e-3);
    }

    #[test]
    fn preserve_color_keeps_content_chroma_and_styled_luma() {
        let (content, styled) = (sample(2), sample(3));
        let out = rgb_to_ycbcr(&preserve_color(&content, &styled));
        let (c, s) = (rgb_to_ycbcr(&content), rgb_to_ycbcr(&styled));
        assert!(max_abs(&out.narrow(1, 0, 1), &s.narrow(1, 0, 1)) < 1e-3);
        assert!(max_abs(&out.narrow(1, 1, 2), &c.narrow(1, 1, 2)) < 1e-3);
    }

    #[test]
    fn strength_blends_linearly() {
        let (content, styled) = (sample(4), sample(5));
        let at = |s| Controls { strength: s, preserve_color: false }.apply(&content, &styled);
        assert!(max_abs(&at(0.0), &content) < 1e-4);
        assert!(max_abs(&at(1.0), &styled) == 0.0);
        // The stylized side is clamped to 0–255 before blending, as it is when written.
        let over = &styled * 2.0;
        let blended = Controls { strength: 0.5, preserve_color: false }.apply(&content, &over);
        assert!(max_abs(&blended, &((&content + over.clamp(0.0, 255.0)) * 0.5)) < 1e-3);
        assert!(max_abs(&at(0.25), &(&content * 0.75 + &styled * 0.25)) < 1e-3);
    }
}
