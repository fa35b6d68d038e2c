//! Checkpoint save → load round trips and every rejection case of the loader.

use faststyle::checkpoint::{self, CheckpointMeta, LossNetworkInfo, FORMAT_VERSION};
use faststyle::tensor_file;
use faststyle::{Checkpoint, Error, Preprocessing, StoreDtype, TransformerConfig, TransformerNet, VggArch};
use faststyle_suite::rel_err;
use std::collections::HashMap;
use std::path::Path;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

fn meta(model: TransformerConfig) -> CheckpointMeta {
    CheckpointMeta {
        format_version: FORMAT_VERSION,
        model,
        train_config: serde_json::json!({"steps": 12, "style_weight": 5.0}),
        style_image: "scene.png".into(),
        step: 12,
        loss_network: LossNetworkInfo {
            arch: VggArch::Vgg19,
            preprocessing: Preprocessing::Caffe,
            weights: "vgg.safetensors".into(),
        },
        faststyle_version: faststyle::VERSION.into(),
    }
}

fn trained_store() -> nn::VarStore {
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = TransformerNet::new(vs.root(), &TransformerConfig::default());
    // Make the affine instance-norm parameters non-trivial too.
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            if name.starts_with("in") || name.contains(".in") {
                t.copy_(&(Tensor::rand_like(&t) + 0.5));
            }
        }
    });
    vs
}

/// Writes the tensors of `vs` with a custom metadata map (to craft bad files).
fn write_with(path: &Path, vs: &nn::VarStore, map: HashMap<String, String>, drop: Option<&str>) {
    let tensors: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(n, _)| Some(n.as_str()) != drop).collect();
    tensor_file::write(path, &tensors, &map, StoreDtype::F32).unwrap();
}

#[test]
fn f32_round_trip_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let vs = trained_store();
    let m = meta(TransformerConfig::default());
    checkpoint::save(&path, &vs, &m, StoreDtype::F32).unwrap();
    let ck = Checkpoint::load(&path, Device::Cpu).unwrap();
    assert_eq!(ck.meta, m);
    let loaded = ck.vs.variables();
    for (name, t) in vs.variables() {
        assert!(loaded[&name].equal(&t), "{name} differs");
    }
    // The metadata alone, as `infer inspect` reads it.
    assert_eq!(CheckpointMeta::read(&path).unwrap().step, 12);
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn f16_round_trip_is_close_and_half_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let (p32, p16) = (dir.path().join("a.safetensors"), dir.path().join("b.safetensors"));
    let vs = trained_store();
    checkpoint::save(&p32, &vs, &meta(TransformerConfig::default()), StoreDtype::F32).unwrap();
    checkpoint::save(&p16, &vs, &meta(TransformerConfig::default()), StoreDtype::F16).unwrap();
    let (s32, s16) = (std::fs::metadata(&p32).unwrap().len(), std::fs::metadata(&p16).unwrap().len());
    assert!(s16 * 2 < s32 + 20_000, "{s16} vs {s32}");
    let (a, b) = (Checkpoint::load(&p32, Device::Cpu).unwrap(), Checkpoint::load(&p16, Device::Cpu).unwrap());
    let x = Tensor::rand([1, 3, 32, 32], (Kind::Float, Device::Cpu)) * 255.0;
    let (ya, yb) = tch::no_grad(|| (a.net.forward(&x), b.net.forward(&x)));
    let e = rel_err(&yb, &ya);
    assert!(e < 1e-2, "f16 checkpoint output differs by {e}");
}

fn load_err(path: &Path) -> (Error, String) {
    let e = Checkpoint::load(path, Device::Cpu).unwrap_err();
    let s = e.to_string();
    assert!(s.contains(&path.display().to_string()), "error does not name the file: {s}");
    (e, s)
}

#[test]
fn rejects_bad_header_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    checkpoint::save(&good, &trained_store(), &meta(TransformerConfig::default()), StoreDtype::F32).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a safetensors file at all").unwrap();
    assert!(matches!(load_err(&garbage).0, Error::BadHeader { .. }));

    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(load_err(&truncated).0, Error::BadHeader { .. }));

    let mut long_header = bytes.clone();
    long_header[..8].copy_from_slice(&(bytes.len() as u64 * 2).to_le_bytes());
    let p = dir.path().join("long_header.safetensors");
    std::fs::write(&p, &long_header).unwrap();
    assert!(matches!(load_err(&p).0, Error::BadHeader { .. }));

    let empty = dir.path().join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(load_err(&empty).0, Error::BadHeader { .. }));
}

#[test]
fn rejects_a_newer_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("future.safetensors");
    let vs = trained_store();
    let mut map = meta(TransformerConfig::default()).to_map().unwrap();
    map.insert("format_version".into(), (FORMAT_VERSION + 1).to_string());
    write_with(&p, &vs, map, None);
    let (e, s) = load_err(&p);
    assert!(matches!(e, Error::FutureFormat { found, .. } if found == FORMAT_VERSION + 1));
    assert!(s.contains("upgrade faststyle"), "{s}");
}

#[test]
fn rejects_a_missing_tensor_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("missing.safetensors");
    let vs = trained_store();
    write_with(&p, &vs, meta(TransformerConfig::default()).to_map().unwrap(), Some("res3.in2.bias"));
    let (e, s) = load_err(&p);
    assert!(matches!(e, Error::MissingTensors { ref names, .. } if names == &["res3.in2.bias"]), "{s}");
}

#[test]
fn rejects_wrong_architectures() {
    let dir = tempfile::tempdir().unwrap();
    let vs = trained_store();

    // Tensors of a 5-block net, metadata claiming 3 blocks: unexpected res4/res5 tensors.
    let p = dir.path().join("blocks.safetensors");
    write_with(&p, &vs, meta(TransformerConfig { residual_blocks: 3, ..Default::default() }).to_map().unwrap(), None);
    let (e, s) = load_err(&p);
    assert!(matches!(e, Error::BadCheckpoint { .. }) && s.contains("wrong architecture") && s.contains("res4."), "{s}");

    // Metadata claiming wider channels: shapes do not match.
    let p = dir.path().join("channels.safetensors");
    write_with(
        &p,
        &vs,
        meta(TransformerConfig { channels: [16, 64, 128], ..Default::default() }).to_map().unwrap(),
        None,
    );
    let (e, s) = load_err(&p);
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{s}");

    // A model config of something else entirely.
    let p = dir.path().join("other.safetensors");
    let mut map = meta(TransformerConfig::default()).to_map().unwrap();
    map.insert("model_config".into(), r#"{"kind": "adain", "layers": 4}"#.into());
    write_with(&p, &vs, map, None);
    let (e, s) = load_err(&p);
    assert!(matches!(e, Error::BadCheckpoint { .. }) && s.contains("wrong architecture"), "{s}");

    // A plain state_dict with no metadata.
    let p = dir.path().join("plain.safetensors");
    write_with(&p, &vs, HashMap::new(), None);
    let (e, s) = load_err(&p);
    assert!(matches!(e, Error::BadCheckpoint { .. }) && s.contains("not a faststyle checkpoint"), "{s}");
}

#[test]
fn a_failed_save_leaves_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ck.safetensors");
    let vs = trained_store();
    checkpoint::save(&p, &vs, &meta(TransformerConfig::default()), StoreDtype::F32).unwrap();
    let before = std::fs::read(&p).unwrap();
    // Saving into a folder that does not exist fails before touching the target.
    assert!(checkpoint::save(
        &dir.path().join("nope/ck.safetensors"),
        &vs,
        &meta(TransformerConfig::default()),
        StoreDtype::F32
    )
    .is_err());
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn rejects_invalid_metadata_json_a_wrong_dtype_and_non_finite_weights() {
    let dir = tempfile::tempdir().unwrap();
    let vs = trained_store();

    let p = dir.path().join("bad_json.safetensors");
    let mut map = meta(TransformerConfig::default()).to_map().unwrap();
    map.insert("model_config".into(), "{\"channels\": [32, 64,".into());
    write_with(&p, &vs, map, None);
    let (e, s) = load_err(&p);
    assert!(matches!(e, Error::BadCheckpoint { .. }) && s.contains("model_config"), "{s}");

    let p = dir.path().join("bad_train_json.safetensors");
    let mut map = meta(TransformerConfig::default()).to_map().unwrap();
    map.insert("train_config".into(), "not json at all".into());
    write_with(&p, &vs, map, None);
    let (_, s) = load_err(&p);
    assert!(s.contains("train_config is not valid JSON"), "{s}");

    // An integer tensor where a weight belongs: written by hand with the safetensors crate.
    let p = dir.path().join("int_dtype.safetensors");
    let mut tensors: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    for (name, t) in tensors.iter_mut() {
        if name == "in1.bias" {
            *t = t.to_kind(Kind::Int);
        }
    }
    let views: Vec<(String, Vec<u8>, Vec<usize>, safetensors::Dtype)> = tensors
        .iter()
        .map(|(n, t)| {
            let t = t.contiguous();
            let mut bytes = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
            t.copy_data_u8(&mut bytes, t.numel());
            let dtype = if t.kind() == Kind::Int { safetensors::Dtype::I32 } else { safetensors::Dtype::F32 };
            (n.clone(), bytes, t.size().iter().map(|&d| d as usize).collect(), dtype)
        })
        .collect();
    let st: Vec<(&str, safetensors::tensor::TensorView)> = views
        .iter()
        .map(|(n, b, s, d)| (n.as_str(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let bytes = safetensors::serialize(st, Some(meta(TransformerConfig::default()).to_map().unwrap())).unwrap();
    std::fs::write(&p, bytes).unwrap();
    let (e, s) = load_err(&p);
    assert!(matches!(e, Error::BadDtype { ref name, .. } if name == "in1.bias"), "{s}");

    let p = dir.path().join("nan.safetensors");
    let poisoned = trained_store();
    tch::no_grad(|| {
        let _ = poisoned.variables()["res2.conv1.conv2d.weight"].get(0).get(0).get(0).get(0).fill_(f64::NAN);
    });
    checkpoint::save(&p, &poisoned, &meta(TransformerConfig::default()), StoreDtype::F32).unwrap();
    let (e, s) = load_err(&p);
    assert!(
        matches!(e, Error::BadCheckpoint { .. }) && s.contains("res2.conv1.conv2d.weight") && s.contains("NaN"),
        "{s}"
    );
}
