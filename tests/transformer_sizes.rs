//! The output of TransformerNet is exactly the input's size for any H, W ≥ 1.

use faststyle::{TransformerConfig, TransformerNet};
use faststyle_suite::{fill_var_store, rel_err};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

#[test]
fn odd_sizes_come_back_unchanged() {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = TransformerNet::new(vs.root(), &TransformerConfig::default());
    // 1×1 pads to 8×8 (replicate: reflection needs pad < side); 3×5 to 8×8; 255×257 to
    // 256×260 (reflect). Each is cropped back after the net.
    for (h, w) in [(1, 1), (3, 5), (255, 257), (2, 9)] {
        let x = Tensor::rand([1, 3, h, w], (Kind::Float, Device::Cpu)) * 255.0;
        let y = tch::no_grad(|| net.forward(&x));
        assert_eq!(y.size(), [1, 3, h, w], "input {h}×{w}");
        assert!(bool::try_from(y.isfinite().all()).unwrap(), "non-finite output at {h}×{w}");
    }
}

#[test]
fn crop_is_centred_on_the_input() {
    // An input whose right half is bright: a net that outputs (roughly) its input must keep
    // the bright half on the right after padding and cropping. Using the padding helper
    // directly: pad then crop returns the input exactly.
    let x = Tensor::arange(3 * 5 * 7, (Kind::Float, Device::Cpu)).view([1, 3, 5, 7]);
    let pad = faststyle::transformer::alignment_padding(5, 7);
    let padded = faststyle::transformer::pad_reflect_or_replicate(&x, pad);
    assert_eq!(padded.size(), [1, 3, 8, 8]);
    let back = padded.narrow(2, pad[2], 5).narrow(3, pad[0], 7);
    assert!(back.equal(&x));
}

/// The inference path equals `forward` at every size, including the replicate-padded tiny
/// ones and batches (filled weights, so every layer matters). A 1×1 input is left out of the
/// comparison: padded to a constant 8×8 image, its instance norms divide float rounding noise
/// by √eps, so any two evaluation orders differ there; its size and finiteness are checked.
#[test]
fn inference_path_matches_forward() {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = TransformerNet::new(vs.root(), &TransformerConfig::default());
    fill_var_store(&vs);
    let one = tch::no_grad(|| net.forward_fast(&(Tensor::rand([1, 3, 1, 1], (Kind::Float, Device::Cpu)) * 255.0)));
    assert_eq!(one.size(), [1, 3, 1, 1]);
    assert!(bool::try_from(one.isfinite().all()).unwrap());
    for (n, h, w) in [(1, 3, 5), (1, 2, 9), (2, 13, 18), (1, 36, 64), (1, 255, 257)] {
        let x = Tensor::rand([n, 3, h, w], (Kind::Float, Device::Cpu)) * 255.0;
        let (a, b) = tch::no_grad(|| (net.forward(&x), net.forward_fast(&x)));
        assert_eq!(b.size(), [n, 3, h, w]);
        let e = rel_err(&b, &a);
        assert!(e < 1e-5, "{n}×{h}×{w}: relative error {e:e}");
    }
}

/// Training goes through `forward_fast`: its parameter gradients equal those of PE's
/// `forward` (a loss that weights every output pixel differently). In f64, so that the bound
/// checks the algebra rather than f32 rounding (which, through the instance norms of a 5×7
/// bottleneck, reaches a few 1e-4 relative on some random inputs).
#[test]
fn fast_path_gradients_match_forward() {
    tch::manual_seed(7);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = TransformerNet::new(vs.root(), &TransformerConfig::default());
    fill_var_store(&vs);
    vs.double();
    let x = Tensor::rand([2, 3, 20, 28], (Kind::Double, Device::Cpu)) * 255.0;
    let weights = Tensor::rand([2, 3, 20, 28], (Kind::Double, Device::Cpu));
    let grads = |fast: bool| -> Vec<(String, Tensor)> {
        for (_, v) in vs.variables() {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let y = if fast { net.forward_fast(&x) } else { net.forward(&x) };
        (y * &weights).sum(Kind::Double).backward();
        let mut g: Vec<(String, Tensor)> = vs.variables().into_iter().map(|(k, v)| (k, v.grad().copy())).collect();
        g.sort_by(|a, b| a.0.cmp(&b.0));
        g
    };
    let (a, b) = (grads(false), grads(true));
    // Biases of convs followed by instance norm have an exactly-zero gradient (the norm
    // removes a per-channel constant), so both sides hold rounding noise there: relative
    // errors are taken against at least 1% of the largest gradient norm.
    let norm = |t: &Tensor| t.norm().double_value(&[]);
    let scale = a.iter().map(|(_, g)| norm(g)).fold(0.0, f64::max);
    for ((name, ga), (_, gb)) in a.iter().zip(&b) {
        let e = norm(&(gb - ga)) / norm(ga).max(0.01 * scale);
        assert!(e < 1e-9, "{name}: gradient relative error {e:e}");
    }
}
