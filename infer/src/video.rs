//! Video files through the `ffmpeg` command-line tools: `ffprobe` reads the size and frame
//! rate, one `ffmpeg` decodes to raw RGB frames on a pipe, the frames go through the
//! TransformerNet in batches, and a second `ffmpeg` encodes them as H.264 (yuv420p) with the
//! input's audio copied. Decode, compute and encode overlap (two threads and bounded queues),
//! frames stay in order, and the result is written under a temporary name and renamed when
//! complete, so a failed or killed run never leaves a file that looks finished.

use crate::pipeline::StageTimes;
use crate::stylize::Stylizer;
use anyhow::{bail, Context, Result};
use image::RgbImage;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

/// File extensions treated as video (case-insensitive).
pub const VIDEO_EXTENSIONS: &[&str] = &["mp4", "mov", "mkv", "webm", "avi", "m4v"];

/// Whether `path` names a video file (by extension).
pub fn is_video(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.iter().any(|v| v.eq_ignore_ascii_case(e)))
}

/// The ffmpeg muxer for an output file's extension (see [`VIDEO_EXTENSIONS`]).
fn muxer_for(output: &Path) -> &'static str {
    match output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("mov") => "mov",
        Some("mkv") => "matroska",
        Some("webm") => "webm",
        Some("avi") => "avi",
        _ => "mp4",
    }
}

/// What `ffprobe` says of a video's first video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Frame width, pixels.
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// Frame rate as ffmpeg writes it (`30000/1001`).
    pub fps: String,
    /// Whether the file has an audio stream.
    pub has_audio: bool,
    /// Frame count when the container records it (MP4 does; Matroska does not).
    pub frames: Option<u64>,
}

fn tool(name: &str) -> Result<Command> {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file())).unwrap_or(false);
    if !found {
        bail!(
            "{name} not found on PATH: video files need the ffmpeg tools (Debian/Ubuntu: `apt-get install ffmpeg`; \
             macOS: `brew install ffmpeg`)"
        );
    }
    Ok(Command::new(name))
}

/// Reads size, frame rate and whether there is audio with `ffprobe`.
///
/// # Errors
/// ffprobe is missing, or the file has no readable video stream (the error names the file).
pub fn probe(path: &Path) -> Result<VideoInfo> {
    let out = tool("ffprobe")?
        .args(["-v", "error", "-show_entries", "stream=codec_type,width,height,r_frame_rate,nb_frames", "-of", "json"])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    if !out.status.success() {
        bail!("{}: not a readable video: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("reading ffprobe's output")?;
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .with_context(|| format!("{}: no video stream", path.display()))?;
    let dim = |k: &str| video[k].as_u64().filter(|&d| d > 0).map(|d| d as u32);
    let (Some(width), Some(height)) = (dim("width"), dim("height")) else {
        bail!("{}: the video stream has no frame size", path.display());
    };
    let fps = video["r_frame_rate"].as_str().filter(|r| !r.starts_with('0')).unwrap_or("25/1").to_string();
    let has_audio = streams.iter().any(|s| s["codec_type"] == "audio");
    let frames = video["nb_frames"].as_str().and_then(|n| n.parse().ok()).filter(|&n| n > 0);
    Ok(VideoInfo { width, height, fps, has_audio, frames })
}

/// What [`stylize_video`] did.
#[derive(Debug, Clone, Default)]
pub struct VideoReport {
    /// Frames stylized and encoded.
    pub frames: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Busy seconds of decode (reading the pipe), compute and encode (writing the pipe).
    pub stages: StageTimes,
    /// The input's frame rate.
    pub fps: String,
    /// Whether an audio track was copied.
    pub audio: bool,
}

/// Kills a child process on drop unless it was waited for.
struct Reaped(Option<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Stylizes the video `input` into `output` (H.264, yuv420p, the input's frame rate, audio
/// copied), `batch` frames per forward pass. Odd frame sizes are padded by one pixel on the
/// right/bottom edge to the even size yuv420p needs.
///
/// # Errors
/// ffmpeg/ffprobe missing (the message says how to install them), an unreadable input, a
/// failed encode; `output` is then left untouched.
pub fn stylize_video(st: &Stylizer, input: &Path, output: &Path, batch: usize) -> Result<VideoReport> {
    let info = probe(input)?;
    let (w, h) = (info.width, info.height);
    let frame_bytes = (w * h * 3) as usize;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        faststyle::fsutil::remove_stale_temp_files(dir, false);
    }
    // Written under a temporary name (deleted on any failure), renamed when complete; the
    // name has no video extension, so the container is named to ffmpeg explicitly.
    let tmp = faststyle::fsutil::temp_path_beside(output)?;
    let muxer = muxer_for(output);

    let mut decoder = Reaped(Some(
        tool("ffmpeg")?
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(input)
            .args(["-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting ffmpeg to decode")?,
    ));
    let mut enc = tool("ffmpeg")?;
    enc.args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &format!("{w}x{h}"), "-r", &info.fps])
        .args(["-i", "-"]);
    if info.has_audio {
        enc.arg("-i").arg(input).args(["-map", "0:v", "-map", "1:a", "-c:a", "copy", "-shortest"]);
    }
    enc.args([
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-vf",
        "format=rgb24,pad=ceil(iw/2)*2:ceil(ih/2)*2,format=yuv420p",
        "-f",
        muxer,
    ])
    .arg(&tmp);
    let mut encoder =
        Reaped(Some(enc.stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().context("starting ffmpeg to encode")?));

    let bar = crate::stylize::frame_bar(info.frames);
    let start = Instant::now();
    let mut stages = StageTimes::default();
    let mut dec_out = decoder.0.as_mut().and_then(|c| c.stdout.take()).context("decoder stdout")?;
    let mut enc_in = encoder.0.as_mut().and_then(|c| c.stdin.take()).context("encoder stdin")?;
    let (tx_frames, rx_frames) = sync_channel::<RgbImage>(batch.max(1) * 2);
    let (tx_out, rx_out) = sync_channel::<RgbImage>(batch.max(1) * 2);
    let result: Result<usize> = std::thread::scope(|s| {
        let reader = s.spawn(move || -> (f64, std::io::Result<()>) {
            let mut busy = 0.0;
            loop {
                let t = Instant::now();
                let mut buf = vec![0u8; frame_bytes];
                match dec_out.read_exact(&mut buf) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return (busy, Ok(())),
                    Err(e) => return (busy, Err(e)),
                }
                busy += t.elapsed().as_secs_f64();
                let frame = RgbImage::from_raw(w, h, buf).expect("w·h·3 bytes");
                if tx_frames.send(frame).is_err() {
                    return (busy, Ok(()));
                }
            }
        });
        let writer = s.spawn(move || -> (f64, std::io::Result<()>) {
            let mut busy = 0.0;
            for frame in rx_out {
                let t = Instant::now();
                if let Err(e) = enc_in.write_all(frame.as_raw()) {
                    return (busy, Err(e));
                }
                busy += t.elapsed().as_secs_f64();
            }
            (busy, enc_in.flush())
        });
        let mut frames = 0usize;
        let mut pending: Vec<RgbImage> = Vec::with_capacity(batch.max(1));
        let mut compute = 0.0;
        let mut run = |pending: &mut Vec<RgbImage>| -> Result<()> {
            if pending.is_empty() {
                return Ok(());
            }
            let t = Instant::now();
            let outs = st.stylize_batch(&pending.iter().collect::<Vec<_>>())?;
            compute += t.elapsed().as_secs_f64();
            pending.clear();
            for o in outs {
                tx_out.send(o).map_err(|_| anyhow::anyhow!("the encoder stopped early"))?;
                frames += 1;
                bar.inc(1);
            }
            Ok(())
        };
        let mut failed = None;
        for frame in rx_frames {
            pending.push(frame);
            if pending.len() >= batch.max(1) {
                if let Err(e) = run(&mut pending) {
                    failed = Some(e);
                    break;
                }
            }
        }
        if failed.is_none() {
            if let Err(e) = run(&mut pending) {
                failed = Some(e);
            }
        }
        // `run`'s last use ends its borrows; closing the queue lets the writer finish.
        drop(tx_out);
        let (dec_busy, dec_res) = reader.join().unwrap_or((0.0, Ok(())));
        let (enc_busy, enc_res) = writer.join().unwrap_or((0.0, Ok(())));
        stages = StageTimes { decode: dec_busy, compute, encode: enc_busy };
        if let Some(e) = failed {
            return Err(e);
        }
        dec_res.with_context(|| format!("reading frames of {}", input.display()))?;
        enc_res.context("writing frames to the encoder")?;
        Ok(frames)
    });

    bar.finish_and_clear();
    let finish = |child: &mut Reaped, what: &str| -> Result<()> {
        let c = child.0.take().expect("child present");
        let out = c.wait_with_output().with_context(|| format!("waiting for ffmpeg ({what})"))?;
        if !out.status.success() {
            bail!("ffmpeg ({what}) failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    };
    // On any error below, `Reaped` kills the ffmpeg children and `TempPath` deletes the
    // partial file, so nothing that looks complete is left.
    let frames = result?;
    finish(&mut decoder, &format!("decoding {}", input.display()))?;
    finish(&mut encoder, &format!("encoding {}", output.display()))?;
    if frames == 0 {
        bail!("{}: no frames could be read", input.display());
    }
    tmp.persist(output).map_err(|e| e.error).with_context(|| format!("renaming onto {}", output.display()))?;
    Ok(VideoReport { frames, seconds: start.elapsed().as_secs_f64(), stages, fps: info.fps, audio: info.has_audio })
}
