//! Preview images written at every checkpoint: a fixed set of validation crops, stylized by
//! the current weights, saved one by one and as a contact sheet (inputs above, outputs below,
//! one row per style of a multi-style net).

use faststyle::image_io;
use faststyle::sheet::contact_sheet;
use image::RgbImage;
use std::path::{Path, PathBuf};

/// Stylizes `inputs` (`(name, crop)`) with `net` as each of `styles` (`(index, name)`; one
/// row of the sheet per style), writes each result to `dir/step_NNNNNN/NN_name.jpg`
/// (`NN_name_style.jpg` for several styles) and the contact sheet (inputs above, one row per
/// style below) to `dir/step_NNNNNN.png`, and returns the sheet's path.
///
/// # Errors
/// A failure to write the files (each names its file), or a style the net does not have.
pub fn write_previews(
    dir: &Path,
    step: u64,
    inputs: &[(String, RgbImage)],
    net: &faststyle::TransformerNet,
    styles: &[(usize, &str)],
    device: tch::Device,
) -> faststyle::Result<PathBuf> {
    let step_dir = dir.join(format!("step_{step:06}"));
    std::fs::create_dir_all(&step_dir).map_err(|e| faststyle::Error::io(&step_dir, e))?;
    let mut rows = vec![inputs.iter().map(|(_, img)| img.clone()).collect::<Vec<RgbImage>>()];
    for &(k, style) in styles {
        let weights = faststyle::style_weights(&[(k, 1.0)], net.num_styles(), device)?;
        let mut outputs = Vec::with_capacity(inputs.len());
        for (i, (name, img)) in inputs.iter().enumerate() {
            let y = tch::no_grad(|| net.forward_fast_styled(&image_io::image_to_tensor(img, device), &weights));
            let out = image_io::tensor_to_image(&y)?;
            let stem = Path::new(name).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let file = match styles.len() {
                1 => format!("{i:02}_{stem}.jpg"),
                _ => format!("{i:02}_{stem}_{style}.jpg"),
            };
            image_io::write_image(&step_dir.join(file), &out)?;
            outputs.push(out);
        }
        rows.push(outputs);
    }
    let sheet_path = dir.join(format!("step_{step:06}.png"));
    image_io::write_image(&sheet_path, &contact_sheet(&rows))?;
    Ok(sheet_path)
}
