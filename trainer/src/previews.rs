//! Preview images written at every checkpoint: a fixed set of validation crops, stylized by
//! the current weights, saved one by one and as a contact sheet (inputs above, outputs below).

use faststyle::image_io;
use faststyle::sheet::contact_sheet;
use image::RgbImage;
use std::path::{Path, PathBuf};

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
