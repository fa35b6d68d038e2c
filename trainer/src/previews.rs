//! Preview images written at every checkpoint: a fixed set of validation crops, stylized by
//! the current weights, saved one by one and as a contact sheet (inputs above, outputs below).

use faststyle::image_io;
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};

/// Gap between contact-sheet cells, pixels.
pub const GAP: u32 = 4;

/// Lays out `rows` of images in a grid on a white background, `GAP` pixels apart; each cell
/// is as large as the largest image in it. An empty input gives a 1×1 white image.
pub fn contact_sheet(rows: &[Vec<RgbImage>]) -> RgbImage {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let cell_w = rows.iter().flatten().map(RgbImage::width).max().unwrap_or(1);
    let cell_h = rows.iter().flatten().map(RgbImage::height).max().unwrap_or(1);
    let w = (cols as u32 * (cell_w + GAP) + GAP).max(1);
    let h = (rows.len() as u32 * (cell_h + GAP) + GAP).max(1);
    let mut sheet = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    for (r, row) in rows.iter().enumerate() {
        for (c, img) in row.iter().enumerate() {
            let (x0, y0) = (GAP + c as u32 * (cell_w + GAP), GAP + r as u32 * (cell_h + GAP));
            image::imageops::replace(&mut sheet, img, x0 as i64, y0 as i64);
        }
    }
    sheet
}

/// Stylizes `inputs` (`(name, crop)`) with `net` on `device`, writes each result to
/// `dir/step_NNNNNN/NN_name.jpg` and the contact sheet to `dir/step_NNNNNN.png`, and returns
/// the sheet's path.
///
/// # Errors
/// A failure to write the files (each names its file).
pub fn write_previews(
    dir: &Path,
    step: u64,
    inputs: &[(String, RgbImage)],
    net: &faststyle::TransformerNet,
    device: tch::Device,
) -> faststyle::Result<PathBuf> {
    let step_dir = dir.join(format!("step_{step:06}"));
    std::fs::create_dir_all(&step_dir).map_err(|e| faststyle::Error::io(&step_dir, e))?;
    let mut outputs = Vec::with_capacity(inputs.len());
    for (i, (name, img)) in inputs.iter().enumerate() {
        let y = tch::no_grad(|| net.forward_fast(&image_io::image_to_tensor(img, device)));
        let out = image_io::tensor_to_image(&y)?;
        let stem = Path::new(name).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        image_io::write_image(&step_dir.join(format!("{i:02}_{stem}.jpg")), &out)?;
        outputs.push(out);
    }
    let sheet_path = dir.join(format!("step_{step:06}.png"));
    let inputs: Vec<RgbImage> = inputs.iter().map(|(_, img)| img.clone()).collect();
    image_io::write_image(&sheet_path, &contact_sheet(&[inputs, outputs]))?;
    Ok(sheet_path)
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
}
