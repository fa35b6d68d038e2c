//! Loading VGG weights: partial files, missing layers, wrong shapes, and (`#[ignore]`d, see
//! `make test-real`) the real partial VGG19 of ../shared/data.

use faststyle::vgg::{RELU2_2, RELU3_3, RELU3_4};
use faststyle::{Error, LossNetwork, LossNetworkConfig, Preprocessing, VggArch};
use faststyle_suite::{real_data, write_random_vgg};
use tch::{Device, Kind, Tensor};

fn taps(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_file_that_stops_after_the_deepest_tap_loads() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("vgg19_to_relu3_4.safetensors");
    write_random_vgg(&p, VggArch::Vgg19, RELU3_4);
    let cfg = LossNetworkConfig { arch: VggArch::Vgg19, preprocessing: Preprocessing::Caffe, ..Default::default() };
    let net = LossNetwork::load(&p, &cfg, &taps(&[RELU2_2, RELU3_4]), Device::Cpu).unwrap();
    let f = tch::no_grad(|| net.forward(&(Tensor::rand([1, 3, 32, 32], (Kind::Float, Device::Cpu)) * 255.0)));
    assert_eq!(f[1].size(), [1, 256, 8, 8]);
}

#[test]
fn a_missing_layer_names_the_tensors_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("vgg16_to_relu2_2.safetensors");
    write_random_vgg(&p, VggArch::Vgg16, RELU2_2);
    let cfg =
        LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: Preprocessing::Torchvision, ..Default::default() };
    let err = LossNetwork::load(&p, &cfg, &taps(&[RELU3_3]), Device::Cpu).unwrap_err();
    let msg = err.to_string();
    // relu3_3 needs conv3_1..conv3_3 = features.10, .12, .14.
    assert!(matches!(err, Error::MissingTensors { ref names, .. } if names.len() == 6), "{msg}");
    for t in ["features.10.weight", "features.12.bias", "features.14.weight"] {
        assert!(msg.contains(t), "{msg} lacks {t}");
    }
    assert!(msg.contains("vgg16_to_relu2_2.safetensors"), "{msg}");
}

#[test]
fn a_file_declaring_the_other_convention_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("vgg16_caffe.safetensors");
    let tensors: Vec<(String, Tensor)> = {
        let q = dir.path().join("plain.safetensors");
        write_random_vgg(&q, VggArch::Vgg16, RELU2_2);
        Tensor::read_safetensors(&q).unwrap()
    };
    let meta = [("preprocessing".to_string(), "caffe".to_string())].into_iter().collect();
    faststyle::tensor_file::write(&p, &tensors, &meta, faststyle::StoreDtype::F32).unwrap();
    let tv =
        LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: Preprocessing::Torchvision, ..Default::default() };
    let err = LossNetwork::load(&p, &tv, &taps(&[RELU2_2]), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("vgg16_caffe.safetensors") && err.contains("declare caffe input"), "{err}");
    let caffe = LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: Preprocessing::Caffe, ..Default::default() };
    assert!(LossNetwork::load(&p, &caffe, &taps(&[RELU2_2]), Device::Cpu).is_ok());
}

#[test]
fn vgg16_weights_loaded_as_vgg19_fail_on_shape_or_missing() {
    // VGG16's features.10 is conv3_1 [256, 128]; VGG19's features.10 is conv3_1 too, but
    // VGG19's relu3_4 needs features.16, which VGG16 has as a pool (no tensor).
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("vgg16.safetensors");
    write_random_vgg(&p, VggArch::Vgg16, "relu4_3");
    let cfg = LossNetworkConfig { arch: VggArch::Vgg19, preprocessing: Preprocessing::Caffe, ..Default::default() };
    let err = LossNetwork::load(&p, &cfg, &taps(&[RELU3_4]), Device::Cpu).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. } | Error::MissingTensors { .. }), "{err}");
}

/// The real ImageNet VGG19 weights (conv1_1–conv3_4, caffe convention) of the real data.
#[test]
#[ignore = "reads real photos and weights from ../shared/data: make test-real (make test runs it when the folder is there)"]
fn real_partial_vgg19_loads_and_prefers_its_own_convention() {
    let path = real_data("weights/vgg19-conv1_1-conv3_4.safetensors");
    // The file's metadata says "caffe-mode: BGR": the wrong convention is refused.
    let tv =
        LossNetworkConfig { arch: VggArch::Vgg19, preprocessing: Preprocessing::Torchvision, ..Default::default() };
    let err = LossNetwork::load(&path, &tv, &taps(&[RELU3_4]), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("declare caffe input") && err.contains("--preprocessing caffe"), "{err}");

    let photo = real_data("content/jcj_chicago.jpg");
    let x = faststyle::image_io::image_to_tensor(&faststyle::image_io::read_rgb(&photo).unwrap(), Device::Cpu);
    let file = faststyle::tensor_file::TensorFile::open(&path).unwrap();
    let mut acts = Vec::new();
    for conv in [Preprocessing::Caffe, Preprocessing::Torchvision] {
        // Bypass the metadata check to see what the wrong convention does to the features.
        let cfg = LossNetworkConfig { arch: VggArch::Vgg19, preprocessing: conv, ..Default::default() };
        let net = LossNetwork::new(Device::Cpu, &cfg, &taps(&[RELU3_4])).unwrap();
        file.load_into(net.var_store()).unwrap();
        let f = tch::no_grad(|| net.forward(&x)).remove(0);
        assert!(bool::try_from(f.isfinite().all()).unwrap());
        acts.push(f64::try_from(f.abs().mean(Kind::Float)).unwrap());
    }
    // Caffe weights fed torchvision-scaled input ([-2, 2.6] instead of ±128) respond far less.
    assert!(acts[0] > 10.0 * acts[1], "caffe {} vs torchvision {}", acts[0], acts[1]);
}
