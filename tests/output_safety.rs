//! `infer` never overwrites its input or existing outputs by accident, resumes a half-done
//! folder with --skip-existing, and a run killed mid-way leaves only complete files.

use faststyle_suite::{bin, run_bin, write_scenes};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn never_writes_over_its_own_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let files = write_scenes(&input, 2, 24, 16, 0);
    let before = std::fs::read(&files[0]).unwrap();
    let (ok, err) =
        run_bin("infer", &["--device", "cpu", "--input", s(&files[0]), "--output", s(&files[0])]).ok_and_stderr();
    assert!(!ok && err.contains("the output is the input itself") && err.contains("--overwrite"), "{err}");
    // The same file reached through another spelling of the path.
    let other = input.join(".").join(files[0].file_name().unwrap());
    let (ok, err) =
        run_bin("infer", &["--device", "cpu", "--input", s(&files[0]), "--output", s(&other)]).ok_and_stderr();
    assert!(!ok, "{err}");
    let (ok, err) = run_bin("infer", &["--device", "cpu", "--input", s(&input), "--output", s(&input.join("styled"))])
        .ok_and_stderr();
    assert!(!ok && err.contains("inside the input folder"), "{err}");
    let (ok, err) = run_bin("infer", &["--device", "cpu", "--input", s(&input), "--output", s(&input)]).ok_and_stderr();
    assert!(!ok && err.contains("inside the input folder"), "{err}");
    assert_eq!(std::fs::read(&files[0]).unwrap(), before, "the input was modified");
    // Explicitly allowed with --overwrite.
    let (ok, err) =
        run_bin("infer", &["--device", "cpu", "--input", s(&files[0]), "--output", s(&files[0]), "--overwrite"])
            .ok_and_stderr();
    assert!(ok, "{err}");
    assert_ne!(std::fs::read(&files[0]).unwrap(), before);
}

#[test]
fn existing_outputs_are_kept_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    write_scenes(&input, 3, 24, 16, 5);
    let out = dir.path().join("out");
    let single = dir.path().join("one.png");
    std::fs::write(&single, b"precious").unwrap();
    let (ok, err) =
        run_bin("infer", &["--device", "cpu", "--input", s(&input.join("scene_000.jpg")), "--output", s(&single)])
            .ok_and_stderr();
    assert!(!ok && err.contains("the output exists") && err.contains("--skip-existing"), "{err}");
    assert_eq!(std::fs::read(&single).unwrap(), b"precious");
    let (ok, _) = run_bin(
        "infer",
        &["--device", "cpu", "--input", s(&input.join("scene_000.jpg")), "--output", s(&single), "--skip-existing"],
    )
    .ok_and_stderr();
    assert!(ok);
    assert_eq!(std::fs::read(&single).unwrap(), b"precious");

    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("scene_001.png"), b"precious").unwrap();
    let (ok, err) = run_bin("infer", &["--device", "cpu", "--input", s(&input), "--output", s(&out)]).ok_and_stderr();
    assert!(!ok && err.contains("1 of 3 outputs already exist"), "{err}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1, "nothing may be written when refusing");
    let (ok, err) =
        run_bin("infer", &["--device", "cpu", "--input", s(&input), "--output", s(&out), "--skip-existing"])
            .ok_and_stderr();
    assert!(ok && err.contains("kept 1 existing output"), "{err}");
    assert_eq!(std::fs::read(out.join("scene_001.png")).unwrap(), b"precious");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
    let (ok, err) = run_bin("infer", &["--device", "cpu", "--input", s(&input), "--output", s(&out), "--overwrite"])
        .ok_and_stderr();
    assert!(ok, "{err}");
    assert!(image::open(out.join("scene_001.png")).is_ok());
    let (ok, err) = run_bin(
        "infer",
        &["--device", "cpu", "--input", s(&input), "--output", s(&out), "--overwrite", "--skip-existing"],
    )
    .ok_and_stderr();
    assert!(!ok && err.contains("cannot be used with"), "{err}");
}

#[test]
fn two_inputs_with_one_output_name_are_not_merged() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    faststyle::synthetic::render_scene(20, 12, 1).save(input.join("a.png")).unwrap();
    faststyle::synthetic::render_scene(20, 12, 2).save(input.join("a.tif")).unwrap(); // → a.png too
    let (ok, err) =
        run_bin("infer", &["--device", "cpu", "--input", s(&input), "--output", s(&dir.path().join("out"))])
            .ok_and_stderr();
    assert!(!ok && err.contains("is also the output of"), "{err}");
}

#[test]
fn a_killed_run_leaves_only_complete_files_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    write_scenes(&input, 40, 160, 120, 100);
    let out = dir.path().join("out");
    let mut child = Command::new(bin("infer"))
        .args(["--input", s(&input), "--output", s(&out), "--device", "cpu"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let visible = |p: &Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(p).map(|r| r.flatten().map(|e| e.path()).collect()).unwrap_or_default()
    };
    while visible(&out).iter().filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.')).count() < 3 {
        assert!(start.elapsed() < Duration::from_secs(120), "infer produced nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let names: Vec<String> =
        visible(&out).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert!(names.len() < 40 + 2, "{names:?}");
    for p in visible(&out) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            assert!(name.ends_with(".tmp"), "unexpected hidden file {name}");
            continue;
        }
        let img = image::open(&p).unwrap_or_else(|e| panic!("{name} is incomplete: {e}"));
        assert_eq!((img.width(), img.height()), (160, 120), "{name}");
    }
    let (ok, err) =
        run_bin("infer", &["--device", "cpu", "--input", s(&input), "--output", s(&out), "--skip-existing"])
            .ok_and_stderr();
    assert!(ok, "{err}");
    let after = visible(&out);
    assert_eq!(after.len(), 40, "all outputs, and no temporary files left: {after:?}");
}
