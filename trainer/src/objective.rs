//! The recipe's perceptual loss ([`faststyle::PerceptualLoss`]): the VGG loss network tapped
//! at the content and style layers, with the Gram targets of one or more style images. The
//! one place training, `trainer optimize` and `trainer eval` build it, so all three minimise
//! or measure the same loss.

use crate::config::Recipe;
use anyhow::{Context, Result};
use faststyle::{image_io, LossNetwork, PerceptualLoss, Precision};
use image::RgbImage;
use tch::Device;

/// The recipe's VGG loss network with the taps its layers need, in `precision`.
///
/// # Errors
/// No VGG file in the recipe, or it cannot be loaded for the recipe's layers (named).
fn loss_network(recipe: &Recipe, precision: Precision, device: Device) -> Result<LossNetwork> {
    let vgg_path = recipe.vgg_weights.as_deref().context("no VGG weights: set vgg_weights or pass --vgg")?;
    let taps = PerceptualLoss::required_taps(&recipe.content_layers, &recipe.style_layers);
    let mut loss_net = LossNetwork::load(vgg_path, &recipe.loss_network, &taps, device)?;
    if precision != Precision::Fp32 {
        loss_net.set_kind(precision.kind());
    }
    Ok(loss_net)
}

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
    let loss_net = loss_network(recipe, precision, device)?;
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

/// The recipe's own loss, as training minimises it: one Gram target per style image of the
/// recipe ([`recipe_styles`]), in style order, so target `s` is style `s` of the network
/// (one target, the style image's, for a single-style recipe). `trainer eval` measures one
/// style at a time, with [`crate::config::Recipe::for_style`].
///
/// # Errors
/// As [`recipe_styles`]; the VGG file cannot be loaded for the recipe's layers (named).
pub(crate) fn recipe_loss(recipe: &Recipe, precision: Precision, device: Device) -> Result<PerceptualLoss> {
    let loss_net = loss_network(recipe, precision, device)?;
    let styles: Vec<_> = recipe_styles(recipe)?.iter().map(|img| image_io::image_to_tensor(img, device)).collect();
    Ok(PerceptualLoss::per_style(
        loss_net,
        &recipe.content_layers,
        &recipe.style_layers,
        recipe.loss_weights(),
        &styles,
        &recipe.style_loss_scales,
    )?)
}

/// The recipe's style images in style order, each with its shorter side resized to
/// `style_size` when the recipe sets one (as training uses them).
///
/// # Errors
/// No style image in the recipe, or one cannot be read (named).
pub(crate) fn recipe_styles(recipe: &Recipe) -> Result<Vec<RgbImage>> {
    let paths = recipe.style_paths();
    if paths.is_empty() {
        anyhow::bail!("no style image: set style_image or pass --style");
    }
    paths
        .iter()
        .map(|path| {
            let img = image_io::read_rgb(path)?;
            Ok(match recipe.style_size {
                Some(s) => image_io::resize_shorter_side(&img, s),
                None => img,
            })
        })
        .collect()
}
