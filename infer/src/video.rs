//! Video files through the `ffmpeg` command-line tools: `ffprobe` reads the size and frame
//! rate, one `ffmpeg` decodes to raw RGB frames on a pipe ([`FfmpegSource`]), the frames go
//! through the TransformerNet in batches, and a second `ffmpeg` encodes them as H.264
//! (yuv420p) with the input's audio copied ([`FfmpegSink`]). Decode, compute and encode
//! overlap in the same [`crate::pipeline`] as folders use, frames stay in order, and the
//! result is written under a temporary name and renamed when complete, so a failed or killed
//! run never leaves a file that looks finished.

use crate::pipeline::{self, FileSink, FileSource, Frame, FrameSink, FrameSource, Job, PipelineOptions, StageTimes};
use crate::stylize::Stylizer;
use anyhow::{bail, Context, Result};
use faststyle::progress::Console;
use image::RgbImage;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

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

impl Reaped {
    /// Waits for the process to exit (its stdin, if piped, must be closed).
    ///
    /// # Errors
    /// It failed; the error quotes its stderr.
    fn finish(&mut self, what: &str) -> Result<()> {
        let child = self.0.take().context("ffmpeg was already waited for")?;
        let out = child.wait_with_output().with_context(|| format!("waiting for ffmpeg ({what})"))?;
        if !out.status.success() {
            bail!("ffmpeg ({what}) failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Raw RGB frames of `width×height` read from a decoding ffmpeg's stdout.
pub struct FfmpegSource {
    pipe: ChildStdout,
    width: u32,
    height: u32,
}

impl FrameSource for FfmpegSource {
    fn next_frames(&mut self, n: usize) -> Result<Option<Vec<Result<RgbImage, String>>>> {
        let mut frames = Vec::with_capacity(n);
        while frames.len() < n {
            let mut buf = vec![0u8; (self.width * self.height * 3) as usize];
            match self.pipe.read_exact(&mut buf) {
                Ok(()) => frames.push(Ok(RgbImage::from_raw(self.width, self.height, buf).expect("w·h·3 bytes"))),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e).context("reading frames from ffmpeg"),
            }
        }
        Ok((!frames.is_empty()).then_some(frames))
    }
}

/// Stylized frames written, in order, to an encoding ffmpeg's stdin. Any failed frame, or
/// one of another size than the video's, ends the run: a video with a missing frame is not a
/// result.
pub struct FfmpegSink {
    pipe: ChildStdin,
    size: (u32, u32),
}

impl FrameSink for FfmpegSink {
    fn write(&mut self, frames: Vec<Frame>) -> Result<Vec<(usize, Result<(), String>)>> {
        let mut done = Vec::with_capacity(frames.len());
        for (i, r) in frames {
            let img = r.map_err(|why| anyhow::anyhow!("frame {}: {why}", i + 1))?;
            if img.dimensions() != self.size {
                let ((w, h), (vw, vh)) = (img.dimensions(), self.size);
                bail!("frame {} is {w}×{h}, but the video is {vw}×{vh}: a video needs frames of one size", i + 1);
            }
            self.pipe.write_all(img.as_raw()).context("writing frames to the encoder")?;
            done.push((i, Ok(())));
        }
        Ok(done)
    }
}

/// Stylizes the video `input` into `output` (H.264, yuv420p, the input's frame rate, audio
/// copied), `batch` frames per forward pass; with `max_size`, frames are scaled down (by
/// ffmpeg, area filter) so the longer side is at most that, as `--max-size` does for images.
/// Odd frame sizes are padded by one pixel on the right/bottom edge to the even size yuv420p
/// needs.
///
/// # Errors
/// ffmpeg/ffprobe missing (the message says how to install them), an unreadable input, a
/// failed frame or encode; `output` is then left untouched.
pub fn stylize_video(
    st: &Stylizer,
    input: &Path,
    output: &Path,
    batch: usize,
    max_size: Option<u32>,
) -> Result<VideoReport> {
    let info = scaled(probe(input)?, max_size);
    let mut decoder = Reaped(Some(decoder_command(input, &info, None)?.spawn().context("starting ffmpeg to decode")?));
    let mut source = FfmpegSource {
        pipe: decoder.0.as_mut().and_then(|c| c.stdout.take()).context("decoder stdout")?,
        width: info.width,
        height: info.height,
    };
    let run = encode(st, &mut source, &info, input, output, batch);
    // Closing the pipe lets ffmpeg finish; on an error `Reaped` kills it.
    drop(source);
    let run = run.with_context(|| format!("stylizing {}", input.display()))?;
    decoder.finish(&format!("decoding {}", input.display()))?;
    Ok(VideoReport { frames: run.done, seconds: run.seconds, stages: run.stages, fps: info.fps, audio: info.has_audio })
}

/// `info` with the frame size fitted within `max_size` (the decoder then scales).
fn scaled(info: VideoInfo, max_size: Option<u32>) -> VideoInfo {
    let (width, height) = faststyle::image_io::fit_within(info.width, info.height, max_size.unwrap_or(0));
    VideoInfo { width, height, ..info }
}

/// Runs the frames of `source` through the network into the video `output` (H.264 yuv420p at
/// `info`'s size and rate, audio copied from `audio_from` when `info.has_audio`), written under
/// a temporary name and renamed when the encoder has finished.
///
/// # Errors
/// A failed frame, a frame of another size, a failed encode, no frames at all; `output` is
/// then left untouched.
fn encode(
    st: &Stylizer,
    source: &mut dyn FrameSource,
    info: &VideoInfo,
    audio_from: &Path,
    output: &Path,
    batch: usize,
) -> Result<pipeline::PipelineReport> {
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        faststyle::fsutil::remove_stale_temp_files(dir, false);
    }
    // Written under a temporary name (deleted on any failure), renamed when complete; the
    // name has no video extension, so the container is named to ffmpeg explicitly.
    let tmp = faststyle::fsutil::temp_path_beside(output)?;
    let mut encoder = Reaped(Some(
        encoder_command(info, audio_from, &tmp, muxer_for(output))?.spawn().context("starting ffmpeg to encode")?,
    ));
    let pipe = encoder.0.as_mut().and_then(|c| c.stdin.take()).context("encoder stdin")?;
    let mut sink = FfmpegSink { pipe, size: (info.width, info.height) };
    let console = Console::frames(info.frames);
    let opts = PipelineOptions { batch: batch.max(1), queue: 2 * batch.max(1), max_size: None };
    let run = pipeline::run(source, &mut sink, &opts, &mut |imgs| st.stylize_batch(imgs), &|_, _| console.bar().inc(1));
    console.finish();
    // Closing the pipe lets the encoder finish. On any error below, `Reaped` kills it and
    // `TempPath` deletes the partial file, so nothing that looks complete is left.
    drop(sink);
    let run = run?;
    encoder.finish(&format!("encoding {}", output.display()))?;
    if run.done == 0 {
        bail!("no frames could be read");
    }
    tmp.persist(output).map_err(|e| e.error).with_context(|| format!("renaming onto {}", output.display()))?;
    Ok(run)
}

/// Stylizes the image files `frames` (in this order) into the video `output` at `fps` frames
/// per second, `batch` frames per pass, each scaled to `max_size`. Every frame must have the
/// first one's size.
///
/// # Errors
/// No frames; the first frame cannot be read; a frame that cannot be read or has another
/// size (named by its number); ffmpeg missing or failing. `output` is then left untouched.
pub fn frames_to_video(
    st: &Stylizer,
    frames: &[std::path::PathBuf],
    output: &Path,
    fps: u32,
    batch: usize,
    max_size: Option<u32>,
) -> Result<VideoReport> {
    let first = frames.first().context("no frames to encode")?;
    let (width, height) = faststyle::image_io::read_rgb_fitted(first, max_size)?.dimensions();
    let info = VideoInfo { width, height, fps: fps.to_string(), has_audio: false, frames: Some(frames.len() as u64) };
    let jobs: Vec<Job> = frames.iter().map(|f| Job { input: f.clone(), output: Default::default() }).collect();
    let run = encode(st, &mut FileSource::new(&jobs, max_size), &info, first, output, batch)?;
    Ok(VideoReport { frames: run.done, seconds: run.seconds, stages: run.stages, fps: info.fps, audio: false })
}

/// The name of frame `n` (1-based, in the whole video) in a frame folder: `frame_%06d.png`,
/// as ffmpeg numbers image sequences.
pub fn frame_name(n: u64) -> String {
    format!("frame_{n:06}.png")
}

/// Stylizes the frames of the video `input` numbered `range` (0-based, end exclusive; all of
/// them: `0..`[`count_frames`]) into the folder `out_dir` as [`frame_name`]s numbered in the
/// whole video, so shards of one video never write the same file and a folder of all of them
/// is the whole video in order. Returns the report and the number of frames that failed (each
/// reported); an empty range does nothing.
///
/// # Errors
/// ffmpeg missing or failing, an unreadable input.
pub fn video_to_frames(
    st: &Stylizer,
    input: &Path,
    out_dir: &Path,
    range: std::ops::Range<u64>,
    batch: usize,
    max_size: Option<u32>,
) -> Result<(VideoReport, usize)> {
    if range.is_empty() {
        return Ok((VideoReport::default(), 0));
    }
    let info = scaled(probe(input)?, max_size);
    let jobs: Vec<Job> =
        range.clone().map(|i| Job { input: input.to_path_buf(), output: out_dir.join(frame_name(i + 1)) }).collect();
    let mut decoder =
        Reaped(Some(decoder_command(input, &info, Some(range))?.spawn().context("starting ffmpeg to decode")?));
    let mut source = FfmpegSource {
        pipe: decoder.0.as_mut().and_then(|c| c.stdout.take()).context("decoder stdout")?,
        width: info.width,
        height: info.height,
    };
    let console = Console::frames(Some(jobs.len() as u64));
    let opts = PipelineOptions { batch: batch.max(1), queue: 2 * batch.max(1), max_size: None };
    let failed = std::sync::atomic::AtomicUsize::new(0);
    let run =
        pipeline::run(&mut source, &mut FileSink::new(&jobs), &opts, &mut |imgs| st.stylize_batch(imgs), &|i, r| {
            if let Err(why) = r {
                console.skipped(&jobs[i].output, why);
                failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            console.bar().inc(1);
        });
    console.finish();
    drop(source);
    let run = run.with_context(|| format!("stylizing {}", input.display()))?;
    decoder.finish(&format!("decoding {}", input.display()))?;
    let report =
        VideoReport { frames: run.done, seconds: run.seconds, stages: run.stages, fps: info.fps, audio: false };
    Ok((report, failed.into_inner()))
}

/// The number of video frames of `input`: the container's count when it records one, else
/// the packets of its first video stream counted by `ffprobe` (no decoding).
///
/// # Errors
/// ffprobe missing or failing.
pub fn count_frames(input: &Path) -> Result<u64> {
    if let Some(n) = probe(input)?.frames {
        return Ok(n);
    }
    let out = tool("ffprobe")?
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets"])
        .args(["-of", "csv=p=0"])
        .arg(input)
        .output()
        .context("running ffprobe")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().with_context(|| format!("{}: ffprobe could not count the frames", input.display()))
}

/// `ffmpeg` decoding the first video stream of `input` to raw RGB frames of `info`'s size on
/// stdout (the scale filter, area resampling, converts to RGB in any case and resizes when
/// `info`'s size is not the file's), only the frames numbered `range` (0-based) when given.
fn decoder_command(input: &Path, info: &VideoInfo, range: Option<std::ops::Range<u64>>) -> Result<Command> {
    let mut cmd = tool("ffmpeg")?;
    cmd.args(["-v", "error", "-nostdin", "-i"]).arg(input).args(["-map", "0:v:0", "-fps_mode", "passthrough"]);
    let mut filters = Vec::new();
    if let Some(r) = range {
        filters.push(format!("select=between(n\\,{}\\,{})", r.start, r.end.saturating_sub(1)));
    }
    filters.push(format!("scale={}:{}:flags=area", info.width, info.height));
    cmd.args(["-vf", &filters.join(",")])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Ok(cmd)
}

/// `ffmpeg` encoding raw RGB frames from stdin as H.264 yuv420p into `out` (container
/// `muxer`), with `input`'s audio copied when it has any.
fn encoder_command(info: &VideoInfo, input: &Path, out: &Path, muxer: &str) -> Result<Command> {
    let mut enc = tool("ffmpeg")?;
    let size = format!("{}x{}", info.width, info.height);
    enc.args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &size, "-r", &info.fps])
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
    .arg(out)
    .stdin(Stdio::piped())
    .stderr(Stdio::piped());
    Ok(enc)
}
