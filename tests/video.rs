//! `infer` on video files through the ffmpeg CLI, on clips the test makes with ffmpeg: odd
//! frame size, audio copied, H.264 yuv420p out, frames stylized in order; a missing ffmpeg,
//! a bad file and a killed run leave no output that looks complete. `make test` installs
//! ffmpeg (apt-get) where it is missing.

use faststyle_suite::{bin, mean_abs_diff, run};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is needed for the video tests: `make test` installs it (apt-get install ffmpeg)");
    assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A clip of `seconds` at 10 fps, `w×h` (any parity: FFV1 4:4:4), with a 440 Hz tone.
fn make_clip(path: &Path, w: u32, h: u32, seconds: f64) {
    let p = path.to_str().unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=128x96:rate=10",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        &seconds.to_string(),
        "-vf",
        &format!("scale={w}:{h},format=yuv444p"),
        "-c:v",
        "ffv1",
        "-c:a",
        "aac",
        p,
    ]);
}

fn probe(path: &Path) -> Vec<serde_json::Value> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .args(["stream=codec_type,codec_name,width,height,pix_fmt,nb_read_frames", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["streams"].as_array().unwrap().clone()
}

/// `infer ARGS --device cpu`, with `PATH` set to `path` when given.
fn infer_cmd(args: &[&str], path: Option<&str>) -> Command {
    let mut cmd = Command::new(bin("infer"));
    cmd.args(args).args(["--device", "cpu"]);
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    cmd
}

fn first_frame(video: &Path, png: &Path) -> image::RgbImage {
    ffmpeg(&["-i", video.to_str().unwrap(), "-frames:v", "1", png.to_str().unwrap()]);
    image::open(png).unwrap().to_rgb8()
}

#[test]
fn a_clip_with_odd_size_and_audio_becomes_h264_with_the_audio_copied() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (clip, out) = (d.join("clip.mkv"), d.join("styled.mp4"));
    make_clip(&clip, 97, 61, 1.5);
    let o = run(&mut infer_cmd(
        &["--input", clip.to_str().unwrap(), "--output", out.to_str().unwrap(), "--batch", "2"],
        None,
    ));
    let stderr = o.stderr.clone();
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("15 frames") && stderr.contains("audio copied") && stderr.contains("stage rates"),
        "{stderr}"
    );

    let streams = probe(&out);
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["pix_fmt"], "yuv420p");
    // yuv420p needs even sides: 97×61 is padded by one pixel right and bottom.
    assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(98), Some(62)));
    assert_eq!(video["nb_read_frames"], "15");
    assert!(streams.iter().any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac"), "{streams:?}");

    // Frame 1 of the result is infer's stylization of frame 1 of the clip (up to H.264 loss).
    let src = first_frame(&clip, &d.join("src.png"));
    let o = run(&mut infer_cmd(
        &["--input", d.join("src.png").to_str().unwrap(), "--output", d.join("ref.png").to_str().unwrap()],
        None,
    ));
    assert!(o.status.success());
    let want = image::open(d.join("ref.png")).unwrap().to_rgb8();
    let got = first_frame(&out, &d.join("got.png"));
    let got = image::imageops::crop_imm(&got, 0, 0, 97, 61).to_image();
    let mean = mean_abs_diff;
    assert!(mean(&got, &want) < 12.0, "frame 1 vs stylized frame: {}", mean(&got, &want));
    assert!(mean(&got, &src) > 20.0, "frame 1 is stylized, not copied: {}", mean(&got, &src));
    assert!(std::fs::read_dir(d).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
}

#[test]
fn without_ffmpeg_the_error_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_clip(&d.join("c.mkv"), 32, 24, 0.3);
    let empty = d.join("empty_path");
    std::fs::create_dir(&empty).unwrap();
    let out = d.join("o.mp4");
    let o = run(&mut infer_cmd(
        &["--input", d.join("c.mkv").to_str().unwrap(), "--output", out.to_str().unwrap()],
        empty.to_str(),
    ));
    let stderr = o.stderr.clone();
    assert!(!o.status.success() && stderr.contains("apt-get install ffmpeg"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn a_bad_or_interrupted_video_leaves_no_output_that_looks_complete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("fake.mp4"), b"not a video").unwrap();
    let out = d.join("o.mp4");
    let o = run(&mut infer_cmd(
        &["--input", d.join("fake.mp4").to_str().unwrap(), "--output", out.to_str().unwrap()],
        None,
    ));
    let stderr = o.stderr.clone();
    assert!(!o.status.success() && stderr.contains("fake.mp4"), "{stderr}");
    assert!(!out.exists());

    // Killed mid-way: only the hidden temporary file can be there, never o.mp4.
    make_clip(&d.join("long.mkv"), 160, 120, 60.0);
    let mut child = Command::new(bin("infer"))
        .args(["--input", d.join("long.mkv").to_str().unwrap(), "--output", out.to_str().unwrap(), "--device", "cpu"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(child.try_wait().unwrap().is_none(), "600 frames should take longer than a second");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "a killed run must not leave {}", out.display());
}
