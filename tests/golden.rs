//! TransformerNet and the losses against PyTorch on the same weights and inputs.
//! Golden values: tests/golden/make_golden.py (PyTorch 2.11). Tolerance: 1e-4 relative.

use faststyle::loss::gram_matrix;
use faststyle::vgg::{RELU1_2, RELU2_2, RELU3_3, RELU4_3};
use faststyle::{
    LayerWeight, LossNetwork, LossNetworkConfig, LossParts, LossWeights, PerceptualLoss, Preprocessing,
    TransformerConfig, TransformerNet, VggArch,
};
use faststyle_suite::{fill_var_store, golden, read_tensors, rel_err};
use tch::nn::{self, Module};
use tch::Device;

const TOL: f64 = 1e-4;

#[test]
fn transformer_net_matches_pytorch() {
    let g = read_tensors(&golden("transformer_net.safetensors"));
    let vs = nn::VarStore::new(Device::Cpu);
    let net = TransformerNet::new(vs.root(), &TransformerConfig::default());
    fill_var_store(&vs);
    // [1, 3, 16, 24]: a multiple of 4, PE's forward unchanged.
    let y = tch::no_grad(|| net.forward(&g["x_aligned"]));
    let e = rel_err(&y, &g["y_aligned"]);
    assert!(e < TOL, "aligned: relative error {e:e}");
    // [2, 3, 13, 18]: padded to 16×20 and cropped back; output is 13×18.
    let y = tch::no_grad(|| net.forward(&g["x_odd"]));
    assert_eq!(y.size(), [2, 3, 13, 18]);
    let e = rel_err(&y, &g["y_odd"]);
    assert!(e < TOL, "odd size: relative error {e:e}");
    // The inference path (sub-pixel upsampling convs, channels-last deconv3) against the same
    // PyTorch outputs.
    for (x, want) in [("x_aligned", "y_aligned"), ("x_odd", "y_odd")] {
        let y = tch::no_grad(|| net.forward_fast(&g[x]));
        let e = rel_err(&y, &g[want]);
        assert!(e < TOL, "forward_fast on {x}: relative error {e:e}");
    }
}

/// The golden loss of make_golden.py: VGG16 filled by `fill()`, content relu2_2, four style
/// layers, arbitrary global weights; in the `conv` input convention.
fn golden_loss(g: &std::collections::HashMap<String, tch::Tensor>, conv: Preprocessing) -> PerceptualLoss {
    golden_loss_with(g, conv, LossWeights { content: 2.0, style: 30.0, tv: 1e-3 }, &[1.0])
}

/// [`golden_loss`] with other global weights and style scales.
fn golden_loss_with(
    g: &std::collections::HashMap<String, tch::Tensor>,
    conv: Preprocessing,
    weights: LossWeights,
    style_scales: &[f64],
) -> PerceptualLoss {
    let content = [LayerWeight::new(RELU2_2)];
    let style = [
        LayerWeight { layer: RELU1_2.into(), weight: 1.0 },
        LayerWeight { layer: RELU2_2.into(), weight: 0.5 },
        LayerWeight { layer: RELU3_3.into(), weight: 2.0 },
        LayerWeight { layer: RELU4_3.into(), weight: 1.0 },
    ];
    let cfg = LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: conv, ..Default::default() };
    let net = LossNetwork::new(Device::Cpu, &cfg, &PerceptualLoss::required_taps(&content, &style)).unwrap();
    fill_var_store(net.var_store());
    let styles = [(g["style"].shallow_clone(), 1.0)];
    PerceptualLoss::blended(net, &content, &style, weights, &styles, style_scales).unwrap()
}

fn assert_parts(parts: &LossParts, g: &std::collections::HashMap<String, tch::Tensor>, what: &str) {
    for (name, ours) in
        [("content", &parts.content), ("style", &parts.style), ("tv", &parts.tv), ("total", &parts.total)]
    {
        let e = rel_err(&ours.reshape([1]), &g[&format!("{what}_{name}")]);
        assert!(e < TOL, "{what} {name}: relative error {e:e}");
    }
}

#[test]
fn losses_match_pytorch_for_both_conventions() {
    let g = read_tensors(&golden("losses.safetensors"));
    for conv in [Preprocessing::Torchvision, Preprocessing::Caffe] {
        let loss = golden_loss(&g, conv);
        if conv == Preprocessing::Torchvision {
            let f = tch::no_grad(|| loss.network().forward(&g["y"]));
            let relu1_2 = loss.network().taps().iter().position(|t| *t == RELU1_2).unwrap();
            let e = rel_err(&gram_matrix(&f[relu1_2]), &g["gram_relu1_2"]);
            assert!(e < TOL, "gram: relative error {e:e}");
        }
        let parts = tch::no_grad(|| loss.compute(&g["y"], &g["x"]));
        assert_parts(&parts, &g, &conv.to_string());
    }
}

/// The gradient of the total loss with respect to the image, by the plain backward pass and by
/// gradient checkpointing: the four taps lie in four different trunk segments (one per VGG
/// block; 24 → 12 → 6 → 3 px), so every segment boundary carries a gradient.
#[test]
fn loss_gradient_matches_pytorch_plain_and_checkpointed() {
    let g = read_tensors(&golden("losses.safetensors"));
    for conv in [Preprocessing::Torchvision, Preprocessing::Caffe] {
        let loss = golden_loss(&g, conv);
        let targets = loss.content_targets(&g["x"]);
        let want = &g[&format!("{conv}_grad_y")];
        let y = g["y"].detach().set_requires_grad(true);
        loss.compute_with_targets(&y, &targets).total.backward();
        let e = rel_err(&y.grad(), want);
        assert!(e < TOL, "{conv} plain backward: relative error {e:e}");
        let y = g["y"].detach().set_requires_grad(true);
        let parts = loss.backward_checkpointed(&y, &targets);
        assert!(!parts.total.requires_grad(), "the parts come back without a graph");
        assert_parts(&parts, &g, &conv.to_string());
        let e = rel_err(&y.grad(), want);
        assert!(e < TOL, "{conv} checkpointed backward: relative error {e:e}");
    }
}

/// The multi-scale style loss (scales 1 and ½: the images area-downscaled before VGG, the
/// style term the mean over the scales) and its gradient, plain and checkpointed. [2, 3, 24,
/// 24] → [2, 3, 12, 12] at ½; the style image [1, 3, 28, 20] → [1, 3, 14, 10].
#[test]
fn multiscale_style_loss_matches_pytorch() {
    let g = read_tensors(&golden("losses.safetensors"));
    let style_only = LossWeights { content: 0.0, style: 30.0, tv: 0.0 };
    let loss = golden_loss_with(&g, Preprocessing::Torchvision, style_only, &[1.0, 0.5]);
    let targets = loss.content_targets(&g["x"]);
    let y = g["y"].detach().set_requires_grad(true);
    let parts = loss.compute_with_targets(&y, &targets);
    let e = rel_err(&parts.style.reshape([1]), &g["multiscale_style"]);
    assert!(e < TOL, "multi-scale style: relative error {e:e}");
    parts.total.backward();
    let e = rel_err(&y.grad(), &g["multiscale_style_grad_y"]);
    assert!(e < TOL, "multi-scale plain backward: relative error {e:e}");
    let y = g["y"].detach().set_requires_grad(true);
    let parts = loss.backward_checkpointed(&y, &targets);
    let e = rel_err(&parts.style.reshape([1]), &g["multiscale_style"]);
    assert!(e < TOL, "multi-scale checkpointed style: relative error {e:e}");
    let e = rel_err(&y.grad(), &g["multiscale_style_grad_y"]);
    assert!(e < TOL, "multi-scale checkpointed backward: relative error {e:e}");
    // The per-layer parts add up to the style term.
    let layers: f64 = parts.style_layers.iter().map(|t| f64::try_from(t).unwrap()).sum();
    let style = f64::try_from(&parts.style).unwrap();
    assert!((layers - style).abs() <= 1e-5 * style, "layers {layers} vs style {style}");
    assert!((parts.style_shares().iter().sum::<f64>() - 1.0).abs() < 1e-9);
}

/// Conditional instance norm (Dumoulin et al. 2017): a 3-style net of small widths against
/// PyTorch (reference/pe.py `CondInstanceNorm`), one sample per style-weight row: one-hot
/// rows pick a style, a blended row mixes the norms' scales and shifts. [4, 3, 16, 20] in and
/// out; both forward paths.
#[test]
fn conditional_instance_norm_matches_pytorch() {
    let g = read_tensors(&golden("conditional_in.safetensors"));
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = TransformerConfig { channels: [8, 16, 32], residual_blocks: 2, num_styles: 3 };
    let net = TransformerNet::new(vs.root(), &cfg);
    fill_var_store(&vs);
    assert_eq!(net.num_styles(), 3);
    assert_eq!(vs.variables()["res2.in1.weight"].size(), [3, 32]);
    let (x, styles) = (&g["x"], &g["styles"]);
    let y = tch::no_grad(|| net.forward_styled(x, styles));
    let e = rel_err(&y, &g["y"]);
    assert!(e < TOL, "forward_styled: relative error {e:e}");
    let y = tch::no_grad(|| net.forward_fast_styled(x, styles));
    let e = rel_err(&y, &g["y"]);
    assert!(e < TOL, "forward_fast_styled: relative error {e:e}");
    // Without weights the net paints its first style (row 0 is one-hot on style 0).
    let first = tch::no_grad(|| net.forward(&x.narrow(0, 0, 1)));
    assert!(rel_err(&first, &g["y"].narrow(0, 0, 1)) < TOL);
}

/// The flow-free video losses (shared/src/motion.rs) against PyTorch: the synthetic-motion
/// warp (fractional shift, rotation and zoom: `F.affine_grid` + `F.grid_sample`), its valid
/// mask, the temporal loss on that mask and the stability loss, each with the squared
/// (MSE) and the absolute (L1) distance.
#[test]
fn motion_warp_and_video_losses_match_pytorch() {
    use faststyle::motion::{masked_mean_abs, masked_mse, warp, Motion};
    let g = read_tensors(&golden("motion.safetensors"));
    let motion = Motion { shift: [1.5, -2.25], rotation: 4.0, zoom: 1.06 };
    let theta = motion.theta(12, 16);
    assert!(rel_err(&theta, &g["theta"]) < 1e-6, "theta {theta} vs {}", g["theta"]);
    let (warped, mask) = warp(&g["x"], &motion);
    let e = rel_err(&warped, &g["warped"]);
    assert!(e < TOL, "warp: relative error {e:e}");
    assert!(mask.equal(&g["mask"]), "valid masks differ");
    let covered = mask.sum(tch::Kind::Float).double_value(&[]);
    assert!(covered > 100.0 && covered < 2.0 * 12.0 * 16.0, "a partly covered frame: {covered}");
    let (y_warped, _) = warp(&g["y"], &motion);
    // Each loss against PyTorch's value under `key`, to a relative `tol`.
    let check = |got: tch::Tensor, key: &str, tol: f64| {
        let (got, want) = (got.double_value(&[]), g[key].double_value(&[0]));
        assert!((got - want).abs() <= tol * want, "{key}: {got} vs {want}");
    };
    check(masked_mse(&g["y_moved"], &y_warped, &mask), "temporal", 1e-4);
    check(g["y_noisy"].mse_loss(&g["y"], tch::Reduction::Mean), "stability", 1e-5);
    check(masked_mean_abs(&g["y_moved"], &y_warped, &mask), "temporal_abs", 1e-4);
    check(g["y_noisy"].l1_loss(&g["y"], tch::Reduction::Mean), "stability_abs", 1e-5);
}
