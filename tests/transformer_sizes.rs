//! The output of TransformerNet is exactly the input's size for any H, W ≥ 1.

use faststyle::{TransformerConfig, TransformerNet};
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
