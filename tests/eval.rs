//! `trainer eval` on a tiny synthetic model: the report's model loss for each photo equals
//! the loss this test computes itself from the same checkpoint, photos, style image and VGG
//! file; Gatys' counts, the contact sheet and bad inputs.

use faststyle::checkpoint::save;
use faststyle::image_io::{image_to_tensor, read_rgb, resize_center_crop, tensor_to_image};
use faststyle::quality::period2_peak;
use faststyle::vgg::{RELU1_2, RELU2_2};
use faststyle::{
    Checkpoint, LayerWeight, LossNetwork, LossNetworkConfig, LossWeights, PerceptualLoss, Preprocessing, StoreDtype,
    TransformerConfig, TransformerNet, VggArch,
};
use faststyle_suite::corpus::sample_meta;
use faststyle_suite::train_fixture::TrainFixture;
use faststyle_suite::{fill_var_store, run_bin};
use std::path::Path;
use tch::{nn, Device};

const SIZE: i64 = 32;

/// A checkpoint of a deterministic TransformerNet whose training config is `train_config`.
fn write_model(path: &Path, train_config: serde_json::Value) {
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = TransformerNet::new(vs.root(), &TransformerConfig::default());
    fill_var_store(&vs);
    let meta = faststyle::CheckpointMeta { train_config, ..sample_meta(TransformerConfig::default()) };
    save(path, &vs, &meta, StoreDtype::F32).unwrap();
}

#[test]
fn the_report_reproduces_the_models_training_loss() {
    let fx = TrainFixture::new();
    let (vgg, style, model) = (fx.path("vgg.safetensors"), fx.path("style.png"), fx.path("model.safetensors"));
    let config = serde_json::json!({
        "style_image": style, "vgg_weights": vgg,
        "loss_network": {"arch": "vgg16", "preprocessing": "torchvision"},
        "content_layers": [{"layer": "relu2_2"}],
        "style_layers": [{"layer": "relu1_2"}, {"layer": "relu2_2", "weight": 0.5}],
        "content_weight": 2.0, "style_weight": 1000.0, "tv_weight": 0.001, "device": "cpu"
    });
    write_model(&model, config);
    let (photos, out, cache) = (fx.path("data/b"), fx.path("report"), fx.path("gatys-cache"));
    let (model_s, photos_s, out_s, cache_s) =
        (model.to_str().unwrap(), photos.to_str().unwrap(), out.to_str().unwrap(), cache.to_str().unwrap());
    let size = SIZE.to_string();
    let args = [
        "eval",
        "--model",
        model_s,
        "--content",
        photos_s,
        "--size",
        &size,
        "--gatys-iterations",
        "4,2",
        "--out",
        out_s,
        "--device",
        "cpu",
        "--gatys-cache",
        cache_s,
    ];
    let ran = run_bin("trainer", &args);
    assert!(ran.ok(), "{}", ran.stderr);
    assert!(!ran.stderr.contains("Gatys reused"), "an empty cache: {}", ran.stderr);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), 5, "the five photos of data/b");

    // The same loss, built here from the files.
    let cfg =
        LossNetworkConfig { arch: VggArch::Vgg16, preprocessing: Preprocessing::Torchvision, ..Default::default() };
    let net = LossNetwork::load(&vgg, &cfg, &[RELU2_2.to_string(), RELU1_2.to_string()], Device::Cpu).unwrap();
    let content = [LayerWeight::new(RELU2_2)];
    let style_layers = [LayerWeight::new(RELU1_2), LayerWeight { layer: RELU2_2.into(), weight: 0.5 }];
    let weights = LossWeights { content: 2.0, style: 1000.0, tv: 0.001 };
    let style_t = image_to_tensor(&read_rgb(&style).unwrap(), Device::Cpu);
    let loss = PerceptualLoss::new(net, &content, &style_layers, weights, &style_t).unwrap();
    let ck = Checkpoint::load(&model, Device::Cpu).unwrap();
    for row in images {
        let name = row["image"].as_str().unwrap();
        let x = image_to_tensor(&resize_center_crop(&read_rgb(&photos.join(name)).unwrap(), SIZE as u32), Device::Cpu);
        let want = tch::no_grad(|| f64::try_from(loss.compute(&ck.net.forward_fast(&x), &x).total).unwrap());
        let got = row["model"]["total"].as_f64().unwrap();
        assert!((got - want).abs() <= 1e-4 * want.abs(), "{name}: report {got}, computed {want}");
        let counts: Vec<u64> =
            row["gatys"].as_array().unwrap().iter().map(|g| g["iterations"].as_u64().unwrap()).collect();
        assert_eq!(counts, [2, 4]);
        // Style shares: the layers' parts of the style loss, as computed here.
        let parts = tch::no_grad(|| loss.compute(&ck.net.forward_fast(&x), &x));
        let shares = row["style_shares"].as_array().unwrap();
        for ((got, layer), want) in shares.iter().zip([RELU1_2, RELU2_2]).zip(parts.style_shares()) {
            assert_eq!(got[0], layer);
            assert!((got[1].as_f64().unwrap() - want).abs() < 1e-5, "{name} {layer}: {got} vs {want}");
        }
        assert!(row["style_strength"].as_f64().unwrap() < 1.0);
        // The period-2 figure of the model's output as saved (0-255, rounded).
        let styled = tensor_to_image(&tch::no_grad(|| ck.net.forward_fast(&x))).unwrap();
        let peak = row["period2_peak"].as_f64().unwrap();
        assert!((peak - period2_peak(&styled)).abs() < 1e-9, "{name}: period-2 peak {peak}");
        let ratio = row["gatys"][1]["ratio"].as_f64().unwrap();
        assert!((ratio - got / row["gatys"][1]["loss"]["total"].as_f64().unwrap()).abs() < 1e-9);
    }
    // Photo | model | Gatys@2 | Gatys@4, one row per photo, 32 px cells 4 px apart.
    let sheet = image::open(out.join("sheet.png")).unwrap();
    assert_eq!((sheet.width(), sheet.height()), (4 * 36 + 4, 5 * 36 + 4));
    assert!(ran.stderr.contains("mean") && ran.stderr.contains("border detail"), "{}", ran.stderr);
    // The median of the per-photo ratios (5 photos: the third smallest), per count.
    for (i, k) in [2u64, 4].iter().enumerate() {
        let mut r: Vec<f64> = images.iter().map(|row| row["gatys"][i]["ratio"].as_f64().unwrap()).collect();
        r.sort_by(f64::total_cmp);
        assert_eq!(report["median_ratios"][i], serde_json::json!([k, r[2]]));
    }
    // The fixture's VGG16 stops after relu2_2: the yardstick measures the layers it has.
    assert_eq!(report["yardstick_layers"], serde_json::json!([RELU1_2, RELU2_2]));

    // Gatys' results come from the cache on the next run (one entry per photo): scaling each
    // entry's stored losses shows in the new report, so they were read, not recomputed.
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(entries.len(), 5);
    for e in &entries {
        let mut entry: serde_json::Value = serde_json::from_slice(&std::fs::read(e).unwrap()).unwrap();
        for point in entry["points"].as_array_mut().unwrap() {
            let total = &mut point[1]["total"];
            *total = serde_json::json!(total.as_f64().unwrap() * 2.0);
        }
        std::fs::write(e, serde_json::to_vec(&entry).unwrap()).unwrap();
    }
    let again = run_bin("trainer", &args);
    assert!(again.ok() && again.stderr.matches("Gatys reused").count() == 5, "{}", again.stderr);
    let report2: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    for (a, b) in images.iter().zip(report2["images"].as_array().unwrap()) {
        for k in 0..2 {
            let (t1, t2) =
                (a["gatys"][k]["loss"]["total"].as_f64().unwrap(), b["gatys"][k]["loss"]["total"].as_f64().unwrap());
            assert!((t2 - 2.0 * t1).abs() <= 1e-9 * t1, "{t1} → {t2}");
        }
    }
    // Files enter the key by their contents: re-stamping the VGG file and the photos (a copy,
    // a fresh mount) still finds every entry.
    let past = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    for f in std::iter::once(vgg.clone()).chain(std::fs::read_dir(&photos).unwrap().map(|e| e.unwrap().path())) {
        std::fs::File::options().write(true).open(&f).unwrap().set_modified(past).unwrap();
    }
    let restamped = run_bin("trainer", &args);
    assert!(restamped.ok() && restamped.stderr.matches("Gatys reused").count() == 5, "{}", restamped.stderr);
    // Another seed is another entry; --no-gatys-cache never reads one.
    let seeded = run_bin("trainer", &[&args[..], &["--seed", "3"]].concat());
    assert!(seeded.ok() && !seeded.stderr.contains("Gatys reused"), "{}", seeded.stderr);
    let fresh = run_bin("trainer", &[&args[..13], &["--no-gatys-cache"]].concat());
    assert!(fresh.ok() && !fresh.stderr.contains("Gatys reused"), "{}", fresh.stderr);
}

#[test]
fn bad_inputs_are_refused_naming_the_file_or_flag() {
    let fx = TrainFixture::new();
    let model = fx.path("model.safetensors");
    write_model(&model, serde_json::json!({"steps": 3}));
    let (m, data) = (model.to_str().unwrap().to_string(), fx.path("data").to_string_lossy().into_owned());
    let empty = fx.path("empty");
    let vgg = fx.path("vgg.safetensors").to_string_lossy().into_owned();
    let style = fx.path("style.png").to_string_lossy().into_owned();
    std::fs::create_dir(&empty).unwrap();
    let cases: [(Vec<&str>, &str); 3] = [
        (vec!["--model", &m, "--content", &data], "no vgg_weights"),
        (vec!["--model", "/nope/m.safetensors", "--content", &data], "/nope/m.safetensors"),
        (
            vec!["--model", &m, "--content", empty.to_str().unwrap(), "--vgg", &vgg, "--style", &style],
            "no images found",
        ),
    ];
    for (args, needle) in cases {
        let ran = run_bin(
            "trainer",
            &[&["eval", "--device", "cpu", "--out", fx.path("r").to_str().unwrap()][..], &args].concat(),
        );
        assert!(!ran.ok() && ran.stderr.contains(needle), "{args:?}: {}", ran.stderr);
        assert!(!fx.path("r/report.json").exists());
    }
    let ran = run_bin("trainer", &["eval", "--model", &m, "--content", &data, "--size", "0"]);
    assert!(!ran.ok() && ran.stderr.contains("--size"), "{}", ran.stderr);
}
