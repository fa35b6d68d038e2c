//! TransformerNet and the losses against PyTorch on the same weights and inputs.
//! Golden values: tests/golden/make_golden.py (PyTorch 2.11). Tolerance: 1e-4 relative.

use faststyle::loss::gram_matrix;
use faststyle::vgg::{RELU1_2, RELU2_2, RELU3_3, RELU4_3};
use faststyle::{
    LayerWeight, LossNetwork, LossNetworkConfig, LossWeights, PerceptualLoss, Preprocessing, TransformerConfig,
    TransformerNet, VggArch,
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

#[test]
fn losses_match_pytorch_for_both_conventions() {
    let g = read_tensors(&golden("losses.safetensors"));
    let content = [LayerWeight::new(RELU2_2)];
    let style = [
        LayerWeight { layer: RELU1_2.into(), weight: 1.0 },
        LayerWeight { layer: RELU2_2.into(), weight: 0.5 },
        LayerWeight { layer: RELU3_3.into(), weight: 2.0 },
        LayerWeight { layer: RELU4_3.into(), weight: 1.0 },
    ];
    let weights = LossWeights { content: 2.0, style: 30.0, tv: 1e-3 };
    for conv in [Preprocessing::Torchvision, Preprocessing::Caffe] {
        let cfg = LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: conv };
        let net = LossNetwork::new(Device::Cpu, &cfg, &PerceptualLoss::required_taps(&content, &style)).unwrap();
        fill_var_store(net.var_store());
        if conv == Preprocessing::Torchvision {
            let f = tch::no_grad(|| net.forward(&g["y"]));
            let relu1_2 = net.taps().iter().position(|t| *t == RELU1_2).unwrap();
            let e = rel_err(&gram_matrix(&f[relu1_2]), &g["gram_relu1_2"]);
            assert!(e < TOL, "gram: relative error {e:e}");
        }
        let loss = PerceptualLoss::new(net, &content, &style, weights, &g["style"]).unwrap();
        let parts = tch::no_grad(|| loss.compute(&g["y"], &g["x"]));
        for (name, ours) in
            [("content", &parts.content), ("style", &parts.style), ("tv", &parts.tv), ("total", &parts.total)]
        {
            let e = rel_err(&ours.reshape([1]), &g[&format!("{conv}_{name}")]);
            assert!(e < TOL, "{conv} {name}: relative error {e:e}");
        }
    }
}
