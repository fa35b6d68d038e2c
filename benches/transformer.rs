//! Criterion benches of the TransformerNet forward pass and of one training step, on the CPU
//! (and on CUDA when libtorch sees a device). Case names encode the parameters:
//! `transformer_<dtype>_<H>x<W>_b<N>_<device>` (PE's forward, used in training),
//! `transformer_fast_<dtype>_<H>x<W>_b<N>_<device>` (the inference path `infer` runs),
//! `transformer_fast_cin<S>_<dtype>_<H>x<W>_b<N>_<device>` (the same with S styles in the
//! conditional instance norms, one picked), `transformer_fast_<preset>_…` (the light presets),
//! `frame_decode_encode_jpeg_<W>x<H>`, `folder_pipeline_<frames>x<W>x<H>_b<N>_<device>`,
//! `train_step_<dtype>_<S>x<S>_b<N>_<vgg>_<device>`.
//! The device is synchronised before the clock is read (candle's benches do the same).
//!
//! Run: `make bench` (all cases) or `make bench BENCH=transformer_f32_256` (a filter).

use criterion::{criterion_group, criterion_main, Criterion};
use faststyle::synthetic::render_scene;
use faststyle::vgg::{RELU1_2, RELU2_2, RELU3_3, RELU3_4};
use faststyle::{
    image_io, LayerWeight, LossNetwork, LossNetworkConfig, LossWeights, PerceptualLoss, Preprocessing,
    TransformerConfig, TransformerNet, VggArch,
};
use std::time::Duration;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// The devices to bench; first sets up the allocator as `infer` and `trainer` do
/// ([`faststyle::malloc::configure_from_env`]), so the figures are theirs.
fn devices() -> Vec<(Device, &'static str)> {
    faststyle::malloc::configure_from_env(true).expect("FASTSTYLE_MALLOC is reuse or default");
    let mut d = vec![(Device::Cpu, "cpu")];
    if tch::Cuda::is_available() {
        d.push((Device::Cuda(0), "cuda"));
    }
    d
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn transformer_forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("transformer");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for (device, dname) in devices() {
        let vs = nn::VarStore::new(device);
        let net = TransformerNet::new(vs.root(), &TransformerConfig::default());
        for (h, w, n) in [(256, 256, 1), (360, 640, 1), (720, 1280, 1), (256, 256, 4)] {
            let x = Tensor::rand([n, 3, h, w], (Kind::Float, device)) * 255.0;
            g.bench_function(format!("transformer_f32_{h}x{w}_b{n}_{dname}"), |b| {
                b.iter(|| {
                    let y = tch::no_grad(|| net.forward(&x));
                    sync(device);
                    y
                })
            });
            g.bench_function(format!("transformer_fast_f32_{h}x{w}_b{n}_{dname}"), |b| {
                b.iter(|| {
                    let y = tch::no_grad(|| net.forward_fast(&x));
                    sync(device);
                    y
                })
            });
        }
        // The light presets at the bench frame size (README, "Light networks for CPUs").
        for preset in [faststyle::Preset::Half, faststyle::Preset::Mobile] {
            let vsp = nn::VarStore::new(device);
            let light = TransformerNet::new(vsp.root(), &preset.config());
            let x = Tensor::rand([1, 3, 360, 640], (Kind::Float, device)) * 255.0;
            g.bench_function(format!("transformer_fast_{preset}_f32_360x640_b1_{dname}"), |b| {
                b.iter(|| {
                    let y = tch::no_grad(|| light.forward_fast(&x));
                    sync(device);
                    y
                })
            });
        }
        // A six-style network (the shipped pack's shape), one style picked: only the norms'
        // affine step differs from the single-style case above.
        let vs6 = nn::VarStore::new(device);
        let net6 = TransformerNet::new(vs6.root(), &TransformerConfig { num_styles: 6, ..Default::default() });
        let pick = faststyle::style_weights(&[(2, 1.0)], 6, device).unwrap();
        for (h, w, n) in [(256, 256, 1), (360, 640, 1)] {
            let x = Tensor::rand([n, 3, h, w], (Kind::Float, device)) * 255.0;
            g.bench_function(format!("transformer_fast_cin6_f32_{h}x{w}_b{n}_{dname}"), |b| {
                b.iter(|| {
                    let y = tch::no_grad(|| net6.forward_fast_styled(&x, &pick));
                    sync(device);
                    y
                })
            });
        }
    }
    g.finish();
}

fn train_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let dir = tempfile::tempdir().unwrap();
    let vgg = dir.path().join("vgg19.safetensors");
    faststyle::vgg::write_random_weights(&vgg, VggArch::Vgg19, VggArch::Vgg19.layer_index(RELU3_4).unwrap(), 1)
        .unwrap();
    let cfg = LossNetworkConfig { arch: VggArch::Vgg19, preprocessing: Preprocessing::Caffe, ..Default::default() };
    let content = [LayerWeight::new(RELU2_2)];
    let style: Vec<LayerWeight> = [RELU1_2, RELU2_2, RELU3_3, RELU3_4].iter().map(|l| LayerWeight::new(l)).collect();
    for (device, dname) in devices() {
        for (size, n) in [(224u32, 2usize), (256, 4)] {
            let net = LossNetwork::load(&vgg, &cfg, &PerceptualLoss::required_taps(&content, &style), device).unwrap();
            let style_img = image_io::image_to_tensor(&render_scene(256, 256, 1), device);
            let obj = PerceptualLoss::new(
                net,
                &content,
                &style,
                LossWeights { content: 1.0, style: 1.0, tv: 1e-6 },
                &style_img,
            )
            .unwrap();
            let vs = nn::VarStore::new(device);
            let model = TransformerNet::new(vs.root(), &TransformerConfig::default());
            let mut opt = nn::Adam::default().build(&vs, 1e-3).unwrap();
            let x = Tensor::rand([n as i64, 3, size as i64, size as i64], (Kind::Float, device)) * 255.0;
            g.bench_function(format!("train_step_f32_{size}x{size}_b{n}_vgg19_relu3_4_{dname}"), |b| {
                b.iter(|| {
                    let parts = obj.compute(&model.forward(&x), &x);
                    opt.backward_step(&parts.total);
                    sync(device);
                })
            });
        }
    }
    g.finish();
}

/// Decoding one 640×360 JPEG frame to RGB and encoding the result as JPEG (quality 95), as
/// `infer` does per frame outside the network.
fn frame_io(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_io");
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("f.jpg"), dir.path().join("o.jpg"));
    image_io::write_image(&src, &render_scene(640, 360, 3)).unwrap();
    g.bench_function("frame_decode_encode_jpeg_640x360", |b| {
        b.iter(|| {
            let img = image_io::read_rgb(&src).unwrap();
            image_io::write_image(&dst, &img).unwrap();
        })
    });
    g.finish();
}

/// The whole folder pipeline (decode → batched network → encode, files written) on 16
/// rendered 256×144 JPEG frames with an untrained net.
fn folder_pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("folder_pipeline");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let dir = tempfile::tempdir().unwrap();
    let jobs: Vec<faststyle_infer::pipeline::Job> = (0..16)
        .map(|i| {
            let input = dir.path().join(format!("in/f{i:02}.jpg"));
            std::fs::create_dir_all(input.parent().unwrap()).unwrap();
            image_io::write_image(&input, &render_scene(256, 144, i)).unwrap();
            faststyle_infer::pipeline::Job { input, output: dir.path().join(format!("out/f{i:02}.jpg")) }
        })
        .collect();
    let model = dir.path().join("m.safetensors");
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = TransformerNet::new(vs.root(), &TransformerConfig::default());
    let meta = faststyle_suite::corpus::sample_meta(TransformerConfig::default());
    faststyle::checkpoint::save(&model, &vs, &meta, faststyle::StoreDtype::F32).unwrap();
    for (device, dname) in devices() {
        let choice = match device {
            Device::Cuda(i) => faststyle::DeviceChoice::Cuda(i),
            _ => faststyle::DeviceChoice::Cpu,
        };
        let st = faststyle_infer::Stylizer::load(Some(&model), choice).unwrap();
        for batch in [1usize, 4] {
            let opts = faststyle_infer::pipeline::PipelineOptions { batch, ..Default::default() };
            g.bench_function(format!("folder_pipeline_16x256x144_b{batch}_{dname}"), |b| {
                b.iter(|| {
                    faststyle_infer::stylize::stylize_jobs(&st, &jobs, &opts, &|_, r| assert!(r.is_ok())).unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, transformer_forward, frame_io, folder_pipeline, train_step);
criterion_main!(benches);
