//! The recipe's perceptual loss ([`faststyle::PerceptualLoss`]): the VGG loss network tapped
//! at the content and style layers, with the Gram targets of one or more style images. The
//! one place training, `trainer optimize` and `trainer eval` build it, so all three minimise
//! or measure the same loss.

use crate::config::Recipe;
use anyhow::{Context, Result};
use faststyle::{image_io, LossNetwork, PerceptualLoss, Precision};
use image::RgbImage;
use tch::Device;

/// The recipe's loss with Gram targets blended from `styles` (`(image, weight)`, weights
/// normalised), the loss network in `precision` on `device`.
///
/// # Errors
/// The VGG file cannot be loaded for the recipe's layers (named); bad layers or weights.
pub(crate) fn perceptual_loss(
    recipe: &Recipe,
    styles: &[(RgbImage, f64)],
    precision: Precision,
    device: Device,
) -> Result<PerceptualLoss> {
    let vgg_path = recipe.vgg_weights.as_deref().context("no VGG weights: set vgg_weights or pass --vgg")?;
    let taps = PerceptualLoss::required_taps(&recipe.content_layers, &recipe.style_layers);
    let mut loss_net = LossNetwork::load(vgg_path, &recipe.loss_network, &taps, device)?;
    if precision != Precision::Fp32 {
        loss_net.set_kind(precision.kind());
    }
    let styles: Vec<_> = styles.iter().map(|(img, w)| (image_io::image_to_tensor(img, device), *w)).collect();
    Ok(PerceptualLoss::blended(
        loss_net,
        &recipe.content_layers,
        &recipe.style_layers,
        recipe.loss_weights(),
        &styles,
        &recipe.style_loss_scales,
    )?)
}

/// The recipe's own loss: [`perceptual_loss`] with the recipe's style image
/// ([`recipe_style`]), as training minimises it and `trainer eval` measures it.
///
/// # Errors
/// As [`recipe_style`] and [`perceptual_loss`].
pub(crate) fn recipe_loss(recipe: &Recipe, precision: Precision, device: Device) -> Result<PerceptualLoss> {
    perceptual_loss(recipe, &[(recipe_style(recipe)?, 1.0)], precision, device)
}

/// The recipe's style image, its shorter side resized to `style_size` when the recipe sets
/// one (as training uses it).
///
/// # Errors
/// No style image in the recipe, or it cannot be read (named).
pub(crate) fn recipe_style(recipe: &Recipe) -> Result<RgbImage> {
    let path = recipe.style_image.as_deref().context("no style image: set style_image or pass --style")?;
    let img = image_io::read_rgb(path)?;
    Ok(match recipe.style_size {
        Some(s) => image_io::resize_shorter_side(&img, s),
        None => img,
    })
}
