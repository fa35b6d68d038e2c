//! A trainer people can leave running overnight: exact resume, signals, `kill -9` during a
//! checkpoint write, a non-finite loss, checkpoint pruning, config changes on resume, the
//! prepared dataset cache and `trainer plot`. Every test runs the `trainer` binary on CPU
//! with generated images and random VGG16 weights up to relu2_2 (32 px crops, batch 2).

use faststyle_suite::train_fixture::{with_flags, TrainFixture};
use faststyle_suite::{bin, read_tensors, run_bin, write_scenes, Ran};
use faststyle_trainer::cache::Cache;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn_trainer(args: &[String], env: &[(&str, &str)]) -> Child {
    Command::new(bin("trainer"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("trainer starts")
}

/// The stderr of a run that must have succeeded.
fn ok(out: &Ran) -> String {
    assert!(out.ok(), "trainer failed:\n{}", out.stderr);
    out.stderr.clone()
}

/// `(split, step)` of every metrics line, in file order.
fn metric_steps(run: &Path) -> Vec<(String, u64)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["split"].as_str().unwrap().to_string(), v["step"].as_u64().unwrap())
        })
        .collect()
}

fn train_steps(run: &Path) -> Vec<u64> {
    metric_steps(run).into_iter().filter(|(s, _)| s == "train").map(|(_, n)| n).collect()
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill {sig} failed");
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Largest absolute difference over every tensor of two safetensors files (same key sets).
fn max_abs_diff(a: &Path, b: &Path) -> f64 {
    let (ta, tb) = (read_tensors(a), read_tensors(b));
    let (mut ka, mut kb): (Vec<_>, Vec<_>) = (ta.keys().collect(), tb.keys().collect());
    ka.sort();
    kb.sort();
    assert_eq!(ka, kb, "{} and {} hold different tensors", a.display(), b.display());
    ta.iter().map(|(k, t)| (t - &tb[k]).abs().max().double_value(&[])).fold(0.0, f64::max)
}

#[test]
fn two_n_steps_straight_equal_n_steps_then_resume_then_n_more() {
    let fx = TrainFixture::new();
    // N = 4: straight to 8, checkpointing at 4 (so both runs validate at the same steps).
    ok(&run_bin("trainer", &with_flags(fx.args("straight", 8), &["--checkpoint-every", "4"])));
    ok(&run_bin("trainer", &with_flags(fx.args("split", 4), &["--checkpoint-every", "4"])));
    let resumed = ok(&run_bin(
        "trainer",
        &["--resume".into(), fx.path("split").to_string_lossy().into_owned(), "--steps".into(), "8".into()],
    ));
    assert!(resumed.contains("resuming from") && resumed.contains("at step 4"), "{resumed}");

    // Weights and Adam moments (train_state.m.*/v.*) agree, and so does the whole log.
    let diff = max_abs_diff(&fx.path("straight/final.safetensors"), &fx.path("split/final.safetensors"));
    eprintln!("max |Δ| over weights and Adam moments, straight vs resumed: {diff:e}");
    assert!(diff <= 1e-6, "max |Δ| between the straight and the resumed run = {diff:e}");
    assert_eq!(train_steps(&fx.path("split")), (1..=8).collect::<Vec<_>>());
    assert_eq!(metric_steps(&fx.path("straight")), metric_steps(&fx.path("split")));
    let losses = |run: &str| -> Vec<f64> {
        std::fs::read_to_string(fx.path(run).join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"].as_f64().unwrap())
            .collect()
    };
    for (a, b) in losses("straight").iter().zip(losses("split")) {
        assert!((a - b).abs() <= 1e-5 * a.abs(), "loss {a} vs {b}");
    }
}

#[test]
fn resume_refuses_a_changed_config_unless_forced_and_allows_more_steps() {
    let fx = TrainFixture::new();
    ok(&run_bin("trainer", &with_flags(fx.args("run", 2), &["--checkpoint-every", "0"])));
    let run = fx.path("run").to_string_lossy().into_owned();
    let out = run_bin(
        "trainer",
        &["--resume".into(), run.clone(), "--steps".into(), "3".into(), "--lr".into(), "0.01".into()],
    );
    let stderr = out.stderr.clone();
    assert!(!out.status.success(), "a changed lr must be refused");
    assert!(stderr.contains("lr: 0.001 → 0.01") && stderr.contains("--force"), "{stderr}");

    // The same change with --force continues; the LR in effect is in the log.
    ok(&run_bin(
        "trainer",
        &["--resume".into(), run.clone(), "--steps".into(), "3".into(), "--lr".into(), "0.01".into(), "--force".into()],
    ));
    let last: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(fx.path("run/metrics.jsonl")).unwrap().lines().rfind(|l| l.contains("train")).unwrap(),
    )
    .unwrap();
    assert_eq!((last["step"].as_u64(), last["lr"].as_f64()), (Some(3), Some(0.01)));

    // Nothing left to do at the configured steps is an error that says how to go on.
    let out = run_bin("trainer", &["--resume".into(), run, "--steps".into(), "3".into()]);
    assert!(!out.status.success() && out.stderr.clone().contains("--steps"), "{}", out.stderr.clone());
}

#[test]
fn resume_refuses_a_changed_dataset_unless_forced_and_then_remembers_it() {
    let fx = TrainFixture::new();
    ok(&run_bin("trainer", &with_flags(fx.args("run", 2), &["--checkpoint-every", "0"])));
    let run = fx.path("run").to_string_lossy().into_owned();
    let resume = |steps: &str, force: bool| {
        let mut args = vec!["--resume".to_string(), run.clone(), "--steps".into(), steps.into()];
        args.extend(force.then(|| "--force".to_string()));
        run_bin("trainer", &args)
    };
    // A copy of the data with fresh modification times is the same dataset.
    let a = fx.path("data/a");
    let first = std::fs::read_dir(&a).unwrap().map(|e| e.unwrap().path()).min().unwrap();
    let bytes = std::fs::read(&first).unwrap();
    std::fs::remove_file(&first).unwrap();
    std::fs::write(&first, &bytes).unwrap();
    ok(&resume("3", false));

    // A new photo changes it: refused, naming the dataset and --force.
    write_scenes(&fx.path("data/c"), 1, 48, 48, 40);
    let out = resume("4", false);
    assert!(!out.ok(), "a changed dataset must be refused");
    assert!(
        out.stderr.contains("has changed since this run started") && out.stderr.contains("--force"),
        "{}",
        out.stderr
    );
    // --force goes on with it, and from then on it is the run's dataset: no --force needed.
    ok(&resume("4", true));
    ok(&resume("5", false));
    assert_eq!(train_steps(&fx.path("run")), (1..=5).collect::<Vec<_>>());
}

/// SIGINT and SIGTERM each stop training with a checkpoint, exit code 130 and a message
/// saying how to resume; the resumed run continues the step count and the metrics log.
#[test]
fn a_signal_during_training_leaves_a_resumable_checkpoint() {
    for sig in ["-INT", "-TERM"] {
        let fx = TrainFixture::new();
        let run = fx.path("run");
        let mut child = spawn_trainer(&with_flags(fx.args("run", 100_000), &["--checkpoint-every", "0"]), &[]);
        wait_until("three training steps", Duration::from_secs(120), || train_steps(&run).len() >= 3);
        signal(&child, sig);
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "trainer did not stop after {sig}");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(130), "{sig}: {stderr}");
        assert!(stderr.contains("interrupted at step") && stderr.contains("trainer --resume"), "{stderr}");
        let steps = train_steps(&run);
        let at = *steps.last().unwrap();
        let ckpt = run.join(format!("checkpoint_{at:06}.safetensors"));
        assert!(ckpt.is_file(), "{sig}: no checkpoint at step {at}: {:?}", names(&run));
        faststyle::Checkpoint::load(&ckpt, tch::Device::Cpu).unwrap();

        let resumed = ok(&run_bin(
            "trainer",
            &["--resume".into(), run.to_string_lossy().into_owned(), "--steps".into(), (at + 2).to_string()],
        ));
        assert!(resumed.contains(&format!("at step {at}")), "{resumed}");
        assert_eq!(train_steps(&run), (1..=at + 2).collect::<Vec<_>>(), "{sig}");
        assert!(run.join("final.safetensors").is_file());
    }
}

#[test]
fn kill_9_during_a_checkpoint_write_leaves_the_previous_checkpoint_loadable() {
    let fx = TrainFixture::new();
    let run = fx.path("run");
    // Hold every atomic write open for 400 ms between writing the temp file and renaming it,
    // so the kill lands inside the write of checkpoint 2.
    let mut child = spawn_trainer(
        &with_flags(fx.args("run", 100), &["--checkpoint-every", "1", "--preview-images", "0"]),
        &[(faststyle::fsutil::fault::DELAY_RENAME_ENV, "400")],
    );
    let temp_of_second = |run: &Path| {
        std::fs::read_dir(run).is_ok_and(|rd| {
            rd.flatten().any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with(".checkpoint_000002.safetensors.") && n.ends_with(".tmp")
            })
        })
    };
    wait_until("the write of checkpoint 2", Duration::from_secs(120), || temp_of_second(&run));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The write was cut short: its temp file is there, the checkpoint is not.
    assert!(temp_of_second(&run) && !run.join("checkpoint_000002.safetensors").exists(), "{:?}", names(&run));
    let previous = run.join("checkpoint_000001.safetensors");
    let ckpt = faststyle::Checkpoint::load(&previous, tch::Device::Cpu).unwrap();
    assert_eq!(ckpt.meta.step, 1);
    let out = run_bin("infer", &["inspect", previous.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.stderr.clone());

    // Resuming starts from step 1 and cleans up the dead writer's temp file.
    let resumed =
        ok(&run_bin("trainer", &["--resume".into(), run.to_string_lossy().into_owned(), "--steps".into(), "3".into()]));
    assert!(resumed.contains("checkpoint_000001.safetensors at step 1"), "{resumed}");
    assert!(names(&run).iter().all(|n| !n.ends_with(".tmp")), "{:?}", names(&run));
    assert_eq!(train_steps(&run), [1, 2, 3]);
}

#[test]
fn a_non_finite_loss_stops_training_naming_the_step_and_keeps_the_last_good_checkpoint() {
    let fx = TrainFixture::new();
    let run = fx.path("run");
    let out =
        run_bin("trainer", &with_flags(fx.args("run", 6), &["--checkpoint-every", "2", "--inject-nan-at-step", "3"]));
    let stderr = out.stderr.clone();
    assert!(!out.status.success(), "a NaN loss must fail the run");
    assert!(stderr.contains("non-finite at step 3"), "{stderr}");
    assert!(stderr.contains("checkpoint_000002.safetensors"), "names the last good checkpoint: {stderr}");
    assert!(!run.join("final.safetensors").exists() && !run.join("checkpoint_000003.safetensors").exists());
    // Loading checks every weight is finite.
    let ckpt = faststyle::Checkpoint::load(&run.join("checkpoint_000002.safetensors"), tch::Device::Cpu).unwrap();
    assert_eq!(ckpt.meta.step, 2);
    assert_eq!(train_steps(&run), [1, 2]);
}

#[test]
fn only_the_newest_k_periodic_checkpoints_are_kept_plus_final() {
    let fx = TrainFixture::new();
    let run = fx.path("run");
    let stderr = ok(&run_bin(
        "trainer",
        &with_flags(
            fx.args("run", 7),
            &["--checkpoint-every", "1", "--keep-checkpoints", "2", "--preview-images", "1"],
        ),
    ));
    let ckpts: Vec<String> = names(&run).into_iter().filter(|n| n.ends_with(".safetensors")).collect();
    assert_eq!(ckpts, ["checkpoint_000005.safetensors", "checkpoint_000006.safetensors", "final.safetensors"]);
    // Validation at every checkpoint, previews and contact sheets, the plot, the fingerprint.
    let val: Vec<u64> = metric_steps(&run).into_iter().filter(|(s, _)| s == "val").map(|(_, n)| n).collect();
    assert_eq!(val, (1..=7).collect::<Vec<_>>());
    assert!(run.join("previews/step_000007.png").is_file() && run.join("loss.png").is_file(), "{stderr}");
    let ds: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("dataset.json")).unwrap()).unwrap();
    // 13 listed files (12 scenes and broken.jpg, found bad only when decoded): the validation
    // split is max(⌈1%⌉, 8) capped at a quarter, ⌊13/4⌋ = 3.
    assert_eq!((ds["items"].as_u64(), ds["train"].as_u64(), ds["val"].as_u64()), (Some(13), Some(10), Some(3)));
    assert!(ds["fingerprint"].as_str().is_some_and(|f| f.len() == 64));
    // The current LR is in the log.
    assert!(stderr.contains("lr 1.00e-3"), "{stderr}");
}

#[test]
fn lr_decays_on_schedule() {
    let fx = TrainFixture::new();
    let run = fx.path("run");
    ok(&run_bin("trainer", &with_flags(fx.args("run", 5), &["--lr-decay-every", "2", "--lr-decay-factor", "0.5"])));
    let lrs: Vec<f64> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["split"] == "train")
        .map(|v| v["lr"].as_f64().unwrap())
        .collect();
    // Steps 1..5: decayed after every 2 completed steps.
    assert_eq!(lrs, [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]);
}

#[test]
fn prepared_cache_round_trips_and_trains_and_bad_caches_are_clear_errors() {
    let fx = TrainFixture::new();
    let cache = fx.path("cache.bin");
    let out = run_bin(
        "trainer",
        &[
            "prepare".into(),
            "--dataset".into(),
            fx.path("data").to_string_lossy().into_owned(),
            "--image-size".into(),
            "32".into(),
            "-o".into(),
            cache.to_string_lossy().into_owned(),
        ],
    );
    let stderr = ok(&out);
    assert!(stderr.contains("12 crops") && stderr.contains("broken.jpg"), "{stderr}");

    // Every crop is byte-identical to what the folder loader makes of its source file.
    let c = Cache::open(&cache).unwrap();
    assert_eq!((c.len(), c.image_size()), (12, 32));
    for i in 0..c.len() {
        let from_folder = faststyle_trainer::crop::load_crop(&fx.path("data").join(c.name(i)), 32).unwrap();
        assert_eq!(c.crop(i, 32).unwrap(), from_folder, "crop {i} ({})", c.name(i));
    }
    c.check_fresh(32).unwrap();

    // Training reads the cache like a folder.
    let mut args = fx.args("run", 2);
    let i = args.iter().position(|a| a == "--dataset").unwrap();
    args[i + 1] = cache.to_string_lossy().into_owned();
    ok(&run_bin("trainer", &args));
    assert_eq!(train_steps(&fx.path("run")), [1, 2]);

    let bytes = std::fs::read(&cache).unwrap();
    let try_cache = |name: &str, content: &[u8], size: &str| -> String {
        let p = fx.path(name);
        std::fs::write(&p, content).unwrap();
        let mut args = fx.args(&format!("run_{name}"), 1);
        args[i + 1] = p.to_string_lossy().into_owned();
        let j = args.iter().position(|a| a == "--image-size").unwrap();
        args[j + 1] = size.into();
        let out = run_bin("trainer", &args);
        let stderr = out.stderr.clone();
        assert!(!out.status.success(), "{name} was accepted");
        assert!(stderr.contains(&p.display().to_string()), "{name}: the error must name the file: {stderr}");
        stderr
    };
    let truncated = try_cache("truncated.bin", &bytes[..bytes.len() / 2], "32");
    assert!(truncated.contains("corrupt dataset cache"), "{truncated}");
    let mut version = bytes.clone();
    version[8] = 99;
    let future = try_cache("version.bin", &version, "32");
    assert!(future.contains("corrupt dataset cache") && future.contains("version"), "{future}");
    let mut index = bytes.clone();
    let n = index.len();
    index[n - 3..].copy_from_slice(b"!!!");
    let bad_index = try_cache("index.bin", &index, "32");
    assert!(bad_index.contains("corrupt dataset cache"), "{bad_index}");
    let header = try_cache("header.bin", &bytes[..20], "32");
    assert!(header.contains("corrupt dataset cache") || header.contains("not a faststyle dataset cache"), "{header}");
    let other_size = try_cache("size.bin", &bytes, "48");
    assert!(other_size.contains("stale dataset cache") && other_size.contains("32×32"), "{other_size}");

    // A cache whose source folder has changed since is stale.
    write_scenes(&fx.path("data/c"), 1, 50, 50, 99);
    let changed = try_cache("changed.bin", &bytes, "32");
    assert!(changed.contains("stale dataset cache") && changed.contains("has changed"), "{changed}");
}

#[test]
fn trainer_plot_draws_the_loss_curves_of_a_run() {
    let fx = TrainFixture::new();
    ok(&run_bin("trainer", &with_flags(fx.args("run", 3), &["--checkpoint-every", "0", "--preview-images", "0"])));
    let png = fx.path("plot.png");
    let out = run_bin(
        "trainer",
        &[
            "plot".into(),
            fx.path("run").to_string_lossy().into_owned(),
            "-o".into(),
            png.to_string_lossy().into_owned(),
        ],
    );
    ok(&out);
    let img = image::open(&png).unwrap().to_rgb8();
    assert!(img.width() >= 400 && img.height() >= 300);
    // Not a blank canvas: the curves and labels put many non-white pixels on it.
    let inked = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(inked > 2000, "{inked} non-white pixels");

    let out = run_bin("trainer", &["plot".into(), fx.path("data").to_string_lossy().into_owned()]);
    assert!(!out.status.success() && out.stderr.clone().contains("metrics.jsonl"), "{}", out.stderr.clone());
}

/// Only training finishes its step on a signal: `trainer optimize` (like `eval`) ends at once
/// on SIGTERM, without an output file, instead of promising a checkpoint and running on.
#[test]
fn a_signal_ends_optimize_at_once() {
    let fx = TrainFixture::new();
    let out = fx.path("result.png");
    let args: Vec<String> = [
        "optimize",
        "--vgg",
        &fx.path("vgg.safetensors").to_string_lossy(),
        "--vgg-arch",
        "vgg16",
        "--content-layers",
        "relu2_2",
        "--style-layers",
        "relu1_2,relu2_2",
        "--device",
        "cpu",
        "--content",
        &fx.path("data/a/scene_000.jpg").to_string_lossy(),
        "--style",
        &fx.path("style.png").to_string_lossy(),
        "--image-size",
        "48",
        "--iterations",
        "1000000",
        "--output",
        &out.to_string_lossy(),
    ]
    .map(String::from)
    .to_vec();
    let mut child = spawn_trainer(&args, &[]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(child.try_wait().unwrap().is_none(), "a million iterations are still running");
    signal(&child, "-TERM");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "optimize ran on after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!stderr.contains("saving a checkpoint"), "{stderr}");
    assert!(!out.exists());
}
