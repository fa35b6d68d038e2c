//! Contact sheets: images laid out in a grid on white, optionally with a caption under each
//! (training previews, `trainer eval`'s sheet, `infer sheet`'s styles side by side).

use image::{Rgb, RgbImage};

/// Gap between cells, pixels.
pub const GAP: u32 = 4;

/// Height of the caption band under each cell of [`captioned_sheet`], pixels.
pub const CAPTION_HEIGHT: u32 = 22;

/// Lays out `rows` of images in a grid on a white background, [`GAP`] pixels apart; each cell
/// is as large as the largest image in it. An empty input gives a 1×1 white image.
pub fn contact_sheet(rows: &[Vec<RgbImage>]) -> RgbImage {
    grid(rows, 0, |_, _, _| {})
}

/// Lays out `cells` (`(caption, image)`) `columns` to a row like [`contact_sheet`], each
/// caption written in black (DejaVu Sans, 14 px) in a [`CAPTION_HEIGHT`] px band under its
/// image; captions wider than the cell are cut at its edge.
pub fn captioned_sheet(cells: &[(String, RgbImage)], columns: usize) -> RgbImage {
    let rows: Vec<Vec<RgbImage>> =
        cells.chunks(columns.max(1)).map(|c| c.iter().map(|(_, i)| i.clone()).collect()).collect();
    grid(&rows, CAPTION_HEIGHT, |sheet, (x, y, w), index| {
        if let Some((caption, _)) = cells.get(index) {
            draw_text(sheet, caption, x, y, w);
        }
    })
}

/// The grid of [`contact_sheet`] with `band` px under each cell, handed to `caption` as
/// `(left, top, width)` with the cell's index in reading order.
fn grid(rows: &[Vec<RgbImage>], band: u32, mut caption: impl FnMut(&mut RgbImage, (u32, u32, u32), usize)) -> RgbImage {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let cell_w = rows.iter().flatten().map(RgbImage::width).max().unwrap_or(1);
    let cell_h = rows.iter().flatten().map(RgbImage::height).max().unwrap_or(1) + band;
    let w = (cols as u32 * (cell_w + GAP) + GAP).max(1);
    let h = (rows.len() as u32 * (cell_h + GAP) + GAP).max(1);
    let mut sheet = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let mut index = 0;
    for (r, row) in rows.iter().enumerate() {
        for (c, img) in row.iter().enumerate() {
            let (x0, y0) = (GAP + c as u32 * (cell_w + GAP), GAP + r as u32 * (cell_h + GAP));
            image::imageops::replace(&mut sheet, img, x0 as i64, y0 as i64);
            if band > 0 {
                caption(&mut sheet, (x0, y0 + cell_h - band, cell_w), index);
            }
            index += 1;
        }
    }
    sheet
}

/// Writes `text` in black from `(x, y)` (top of the caption band), clipped to `width`.
fn draw_text(img: &mut RgbImage, text: &str, x: u32, y: u32, width: u32) {
    use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
    let font = FontRef::try_from_slice(dejavu::sans::regular()).expect("the bundled DejaVu Sans parses");
    let scale = PxScale::from(14.0);
    let scaled = font.as_scaled(scale);
    let baseline = y as f32 + 3.0 + scaled.ascent();
    let mut pen = x as f32 + 2.0;
    for ch in text.chars() {
        let id = scaled.glyph_id(ch);
        let glyph = id.with_scale_and_position(scale, ab_glyph::point(pen, baseline));
        pen += scaled.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else { continue };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (bounds.min.x as i64 + gx as i64, bounds.min.y as i64 + gy as i64);
            if px < x as i64 || px >= (x + width) as i64 || py < 0 || py >= img.height() as i64 {
                return;
            }
            let p = img.get_pixel_mut(px as u32, py as u32);
            for v in &mut p.0 {
                *v = (*v as f32 * (1.0 - coverage.clamp(0.0, 1.0))).round() as u8;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_layout() {
        let a = RgbImage::from_pixel(10, 6, Rgb([255, 0, 0]));
        let b = RgbImage::from_pixel(10, 6, Rgb([0, 0, 255]));
        let sheet = contact_sheet(&[vec![a.clone(), a], vec![b.clone(), b]]);
        // 2 columns and 2 rows of 10×6 cells with 4-px gaps: (2·14 + 4) × (2·10 + 4).
        assert_eq!(sheet.dimensions(), (32, 24));
        assert_eq!(sheet.get_pixel(4, 4).0, [255, 0, 0]);
        assert_eq!(sheet.get_pixel(18, 14).0, [0, 0, 255]);
        assert_eq!(sheet.get_pixel(0, 0).0, [255, 255, 255]);
    }

    #[test]
    fn captions_are_written_under_their_cells() {
        let img = RgbImage::from_pixel(60, 20, Rgb([0, 200, 0]));
        let cells: Vec<(String, RgbImage)> =
            ["wave", "", "scream"].iter().map(|c| (c.to_string(), img.clone())).collect();
        // 2 columns: cells 60×(20 + 22), rows of 2 and 1: (2·64 + 4) × (2·46 + 4).
        let sheet = captioned_sheet(&cells, 2);
        assert_eq!(sheet.dimensions(), (132, 96));
        let dark_in = |x0: u32, y0: u32| {
            (x0..x0 + 60)
                .flat_map(|x| (y0..y0 + CAPTION_HEIGHT).map(move |y| (x, y)))
                .filter(|&(x, y)| sheet.get_pixel(x, y).0[0] < 128)
                .count()
        };
        // Caption bands start 20 px below each cell's top: "wave" and "scream" write there, the
        // empty caption leaves its band white.
        assert!(dark_in(4, 24) > 20, "wave");
        assert_eq!(dark_in(68, 24), 0, "empty caption");
        assert!(dark_in(4, 70) > 20, "scream");
        assert_eq!(sheet.get_pixel(10, 10).0, [0, 200, 0], "the image itself untouched");
    }
}
