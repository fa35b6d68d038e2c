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

/// `infer --input INPUT --output OUTPUT EXTRA… --device cpu`, which must succeed.
fn infer_ok(input: &Path, output: &Path, extra: &[&str]) {
    let io = ["--input", input.to_str().unwrap(), "--output", output.to_str().unwrap()];
    let o = run(&mut infer_cmd(&[&io[..], extra].concat(), None));
    assert!(o.status.success(), "infer {extra:?}: {}", o.stderr.clone());
}

/// The same, which must fail: its stderr.
fn infer_err(input: &Path, output: &Path, extra: &[&str]) -> String {
    let io = ["--input", input.to_str().unwrap(), "--output", output.to_str().unwrap()];
    let o = run(&mut infer_cmd(&[&io[..], extra].concat(), None));
    assert!(!o.status.success(), "infer {extra:?} succeeded");
    o.stderr.clone()
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

/// Flags that apply to images apply to videos: `--max-size` scales the frames (it was once
/// silently ignored), `--style-scale` runs the network smaller.
#[test]
fn max_size_and_style_scale_apply_to_videos() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (clip, out, half) = (d.join("clip.mkv"), d.join("small.mp4"), d.join("half.mp4"));
    make_clip(&clip, 160, 120, 0.5);
    infer_ok(&clip, &out, &["--max-size", "80"]);
    let streams = probe(&out);
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    // 160×120 with the longer side ≤ 80: 80×60.
    assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(80), Some(60)));
    assert_eq!(video["nb_read_frames"], "5");
    infer_ok(&clip, &half, &["--style-scale", "0.5"]);
    let (full, small) = (first_frame(&half, &d.join("h.png")), first_frame(&out, &d.join("s.png")));
    assert_eq!(full.dimensions(), (160, 120), "--style-scale keeps the frame size");
    assert_eq!(small.dimensions(), (80, 60));
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

fn sorted_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Video → numbered frames → video keeps every frame, in order: with `--strength 0` both
/// steps give their input back (up to H.264), so frame k of the result matches frame k of the
/// clip and not its neighbours. `--fps` sets the new video's rate.
#[test]
fn a_video_to_frames_and_back_keeps_count_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (clip, frames, back) = (d.join("clip.mkv"), d.join("frames"), d.join("back.mp4"));
    make_clip(&clip, 96, 64, 1.5);
    let identity = ["--strength", "0"];
    infer_ok(&clip, &frames, &identity);
    let names = sorted_names(&frames);
    assert_eq!(names.len(), 15);
    assert_eq!((names[0].as_str(), names[14].as_str()), ("frame_000001.png", "frame_000015.png"));
    infer_ok(&frames, &back, &[&identity[..], &["--fps", "10"]].concat());
    let video = probe(&back).into_iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(video["nb_read_frames"], "15");
    // Frame 8 (ffmpeg's select is 0-based: n = 7) of the result against the clip's 7, 8, 9.
    let frame = |video: &Path, n: u32, png: &str| {
        let png = d.join(png);
        ffmpeg(&[
            "-i",
            video.to_str().unwrap(),
            "-vf",
            &format!("select=eq(n\\,{n})"),
            "-frames:v",
            "1",
            png.to_str().unwrap(),
        ]);
        image::open(&png).unwrap().to_rgb8()
    };
    let got = frame(&back, 7, "got.png");
    let (before, same, after) = (frame(&clip, 6, "c6.png"), frame(&clip, 7, "c7.png"), frame(&clip, 8, "c8.png"));
    let e = mean_abs_diff(&got, &same);
    let (eb, ea) = (mean_abs_diff(&got, &before), mean_abs_diff(&got, &after));
    // H.264 4:2:0 on a 96×64 test pattern costs about 10 levels; a neighbour costs more.
    assert!(e < 12.0 && e < eb && e < ea, "frame 8 is out of place: {e} vs {eb}, {ea}");
    // --fps only makes sense when a video is made from frames.
    assert!(infer_err(&clip, &d.join("x.mp4"), &["--fps", "5"]).contains("--fps"));
}

/// A folder or a video makes many images: an image file name as `--output` is refused,
/// naming it, and no folder of that name is created; an existing folder of such a name is
/// still written into.
#[test]
fn many_frames_into_an_image_file_name_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (clip, frames) = (d.join("clip.mkv"), d.join("frames"));
    make_clip(&clip, 32, 24, 0.3);
    faststyle_suite::write_scenes(&frames, 2, 24, 16, 1);
    for (input, kind) in [(&clip, "video"), (&frames, "folder")] {
        let out = d.join("styled.jpg");
        let err = infer_err(input, &out, &[]);
        assert!(err.contains("styled.jpg") && err.contains(&format!("--input is a {kind}")), "{err}");
        assert!(!out.exists(), "{} was created", out.display());
    }
    let existing = d.join("named.png");
    std::fs::create_dir(&existing).unwrap();
    infer_ok(&frames, &existing, &[]);
    assert_eq!(sorted_names(&existing).len(), 2);
}

/// `--shard K/N` partitions a folder (sorted names) and a video (contiguous frame ranges,
/// numbered in the whole video) exactly; a shard's frame equals the whole run's.
#[test]
fn shards_partition_folders_and_videos_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    std::fs::create_dir(&photos).unwrap();
    for i in 0..7 {
        faststyle::synthetic::render_scene(24, 16, i).save(photos.join(format!("p{i}.png"))).unwrap();
    }
    let mut seen = Vec::new();
    for k in 0..3 {
        let out = d.join(format!("shard{k}"));
        infer_ok(&photos, &out, &["--shard", &format!("{k}/3")]);
        seen.extend(sorted_names(&out));
    }
    // 7 over 3: ⌊7k/3⌋ gives 2, 2 and 3 files, each once.
    assert_eq!(seen, sorted_names(&photos));

    let (clip, whole) = (d.join("clip.mkv"), d.join("whole"));
    make_clip(&clip, 64, 48, 1.5);
    infer_ok(&clip, &whole, &[]);
    let parts = d.join("parts");
    for k in 0..4 {
        infer_ok(&clip, &parts, &["--shard", &format!("{k}/4")]);
    }
    assert_eq!(sorted_names(&parts), sorted_names(&whole), "15 frames, each written by one shard");
    for name in ["frame_000001.png", "frame_000004.png", "frame_000008.png", "frame_000015.png"] {
        let (a, b) =
            (image::open(parts.join(name)).unwrap().to_rgb8(), image::open(whole.join(name)).unwrap().to_rgb8());
        assert!(mean_abs_diff(&a, &b) < 0.5, "{name}");
    }
    // A shard cannot write a video, and K must be below N.
    for (shard, out) in [("0/2", "x.mp4"), ("2/2", "y")] {
        let stderr = infer_err(&clip, &d.join(out), &["--shard", shard]);
        assert!(stderr.contains("--shard"), "{shard}: {stderr}");
    }
}
