//! The frame pipeline behind `infer` on a folder and on a video: three stages joined by
//! bounded queues, so memory stays bounded whatever the number of frames, and the slowest
//! stage sets the pace.
//!
//! ```text
//! FrameSource (thread: decode `batch` frames at a time) ─queue─▶ compute (batches of
//! same-size frames) ─queue─▶ FrameSink (thread: encode what is ready)
//! ```
//!
//! Frames keep their index from source to sink, so names (folders) and order (videos) are
//! preserved. A frame that fails in any stage reaches the sink as an error, which a folder
//! reports and skips ([`FileSink`]) and a video treats as fatal. This module knows nothing of
//! the network: the compute stage is a function (see `crate::stylize`).

use anyhow::Result;
use faststyle::image_io;
use image::RgbImage;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Instant;

/// A frame travelling through the pipeline: its index, and the image or why it failed.
pub type Frame = (usize, Result<RgbImage, String>);

/// Where frames come from, in index order (runs on the decode thread).
pub trait FrameSource: Send {
    /// Up to `n` next frames (fewer only at the end), or `None` when there are no more.
    /// A frame that cannot be decoded is an `Err` entry, not the end.
    ///
    /// # Errors
    /// A failure that ends the whole run (a video pipe that breaks).
    fn next_frames(&mut self, n: usize) -> Result<Option<Vec<Result<RgbImage, String>>>>;
}

/// Where stylized frames go (runs on the encode thread). Frames arrive in index order, in
/// groups of whatever is ready.
pub trait FrameSink: Send {
    /// Writes a group of frames; returns each frame's outcome (`Err` = reported, skipped).
    ///
    /// # Errors
    /// A failure that ends the whole run (the video encoder is gone, or a frame of a video
    /// failed).
    fn write(&mut self, frames: Vec<Frame>) -> Result<Vec<(usize, Result<(), String>)>>;
}

/// Stylizes a batch of equally sized frames.
pub type Compute<'a> = dyn FnMut(&[&RgbImage]) -> Result<Vec<RgbImage>> + 'a;

/// Called once per frame as the sink finishes it, with its outcome.
pub type OnDone<'a> = dyn Fn(usize, &Result<(), String>) + Sync + 'a;

/// Pipeline settings.
#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// Frames per forward pass (consecutive frames of the same size are batched). Default 1.
    pub batch: usize,
    /// Frames each queue holds (decoded waiting for compute; stylized waiting for encode);
    /// bounds memory at about `2·queue + batch` frames.
    pub queue: usize,
    /// Scale each input down so its longer side is at most this many pixels.
    pub max_size: Option<u32>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions { batch: 1, queue: 8, max_size: None }
    }
}

/// Busy seconds of each stage (a stage's rate is frames / its seconds).
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// Reading, decoding and resizing.
    pub decode: f64,
    /// Host→device, TransformerNet, controls, device→host.
    pub compute: f64,
    /// Encoding and writing.
    pub encode: f64,
}

impl StageTimes {
    /// `stage rates: decode D, compute C, encode E frames/s (busy d / c / e s)` for
    /// `frames`; a stage that was not busy for a measurable time has no rate (`-`).
    pub fn summary(&self, frames: usize) -> String {
        let rate = |busy: f64, digits: usize| match frames {
            n if n > 0 && busy > 0.0 => format!("{:.*}", digits, n as f64 / busy),
            _ => "-".into(),
        };
        format!(
            "stage rates: decode {}, compute {}, encode {} frames/s (busy {:.1} / {:.1} / {:.1} s)",
            rate(self.decode, 1),
            rate(self.compute, 2),
            rate(self.encode, 1),
            self.decode,
            self.compute,
            self.encode
        )
    }
}

/// What the pipeline did.
#[derive(Debug, Default)]
pub struct PipelineReport {
    /// Frames written.
    pub done: usize,
    /// Frames that failed: (index, reason), each already passed to `on_done`.
    pub failed: Vec<(usize, String)>,
    /// Stage busy times.
    pub stages: StageTimes,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// Runs every frame of `source` through `compute` into `sink`, `opts.batch` frames per
/// forward pass.
///
/// # Errors
/// The first fatal error of the source or the sink (the other stages then stop early);
/// per-frame failures are in the report instead.
pub fn run(
    source: &mut dyn FrameSource,
    sink: &mut dyn FrameSink,
    opts: &PipelineOptions,
    compute: &mut Compute<'_>,
    on_done: &OnDone<'_>,
) -> Result<PipelineReport> {
    let start = Instant::now();
    let batch = opts.batch.max(1);
    let (tx_dec, rx_dec) = sync_channel::<Frame>(opts.queue.max(1));
    let (tx_enc, rx_enc) = sync_channel::<Frame>(opts.queue.max(1));
    let (stages, outcomes, fatal) = std::thread::scope(|s| {
        let decoder = s.spawn(|| decode_stage(source, batch, tx_dec));
        let encoder = s.spawn(|| encode_stage(sink, rx_enc, on_done));
        let compute_busy = compute_stage(rx_dec, tx_enc, batch, compute);
        let (decode, dec_fatal) = decoder.join().expect("the decode stage does not panic");
        let (encode, outcomes, enc_fatal) = encoder.join().expect("the encode stage does not panic");
        (StageTimes { decode, compute: compute_busy, encode }, outcomes, dec_fatal.or(enc_fatal))
    });
    if let Some(e) = fatal {
        return Err(e);
    }
    let mut report = PipelineReport { stages, seconds: start.elapsed().as_secs_f64(), ..Default::default() };
    for (i, r) in outcomes {
        match r {
            Ok(()) => report.done += 1,
            Err(why) => report.failed.push((i, why)),
        }
    }
    Ok(report)
}

/// Pulls frames from the source and queues them; returns busy seconds and a fatal error.
fn decode_stage(source: &mut dyn FrameSource, batch: usize, tx: SyncSender<Frame>) -> (f64, Option<anyhow::Error>) {
    let (mut busy, mut index) = (0.0, 0);
    loop {
        let t = Instant::now();
        let frames = match source.next_frames(batch) {
            Ok(Some(frames)) => frames,
            Ok(None) => return (busy, None),
            Err(e) => return (busy + t.elapsed().as_secs_f64(), Some(e)),
        };
        busy += t.elapsed().as_secs_f64();
        for frame in frames {
            if tx.send((index, frame)).is_err() {
                return (busy, None);
            }
            index += 1;
        }
    }
}

/// Batches consecutive same-size frames through `compute`; returns busy seconds.
fn compute_stage(rx: Receiver<Frame>, tx: SyncSender<Frame>, batch: usize, compute: &mut Compute<'_>) -> f64 {
    let mut busy = 0.0;
    let mut pending: Vec<(usize, RgbImage)> = Vec::with_capacity(batch);
    // Stylizes `pending` and queues the results; false once the sink is gone.
    let mut flush = |pending: &mut Vec<(usize, RgbImage)>, busy: &mut f64| -> bool {
        if pending.is_empty() {
            return true;
        }
        let t = Instant::now();
        let out = compute(&pending.iter().map(|p| &p.1).collect::<Vec<_>>());
        *busy += t.elapsed().as_secs_f64();
        match out {
            Ok(outs) => pending.drain(..).zip(outs).all(|((i, _), img)| tx.send((i, Ok(img))).is_ok()),
            Err(e) => {
                let why = format!("{e:#}");
                pending.drain(..).all(|(i, _)| tx.send((i, Err(why.clone()))).is_ok())
            }
        }
    };
    for (i, r) in rx {
        let going = match r {
            Ok(img) => {
                let size_changes = pending.first().is_some_and(|p| p.1.dimensions() != img.dimensions());
                let mut going = !size_changes || flush(&mut pending, &mut busy);
                pending.push((i, img));
                if pending.len() >= batch {
                    going = going && flush(&mut pending, &mut busy);
                }
                going
            }
            // A failed frame goes out in order, after the frames before it.
            Err(why) => flush(&mut pending, &mut busy) && tx.send((i, Err(why))).is_ok(),
        };
        if !going {
            return busy;
        }
    }
    flush(&mut pending, &mut busy);
    busy
}

/// Hands ready frames to the sink in groups; returns busy seconds, every frame's outcome and
/// a fatal error.
#[allow(clippy::type_complexity)]
fn encode_stage(
    sink: &mut dyn FrameSink,
    rx: Receiver<Frame>,
    on_done: &OnDone<'_>,
) -> (f64, Vec<(usize, Result<(), String>)>, Option<anyhow::Error>) {
    let (mut busy, mut outcomes) = (0.0, Vec::new());
    let width = rayon::current_num_threads().max(1);
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < width {
            match rx.try_recv() {
                Ok(frame) => group.push(frame),
                Err(_) => break,
            }
        }
        let t = Instant::now();
        let written = sink.write(group);
        busy += t.elapsed().as_secs_f64();
        match written {
            Ok(results) => {
                for (i, r) in results {
                    on_done(i, &r);
                    outcomes.push((i, r));
                }
            }
            Err(e) => return (busy, outcomes, Some(e)),
        }
    }
    (busy, outcomes, None)
}

/// One input image file and where its output goes.
#[derive(Debug, Clone)]
pub struct Job {
    /// Input image.
    pub input: PathBuf,
    /// Output image (format by extension).
    pub output: PathBuf,
}

/// Image files as a source: each [`Job`]'s input, decoded and scaled to `max_size`, in
/// parallel on the rayon pool; a file that fails to decode is an `Err` frame.
pub struct FileSource<'a> {
    jobs: &'a [Job],
    next: usize,
    max_size: Option<u32>,
}

impl<'a> FileSource<'a> {
    /// The inputs of `jobs`, in order.
    pub fn new(jobs: &'a [Job], max_size: Option<u32>) -> Self {
        FileSource { jobs, next: 0, max_size }
    }
}

impl FrameSource for FileSource<'_> {
    fn next_frames(&mut self, n: usize) -> Result<Option<Vec<Result<RgbImage, String>>>> {
        let chunk = &self.jobs[self.next..(self.next + n).min(self.jobs.len())];
        if chunk.is_empty() {
            return Ok(None);
        }
        self.next += chunk.len();
        let max = self.max_size;
        Ok(Some(
            chunk.par_iter().map(|j| image_io::read_rgb_fitted(&j.input, max).map_err(|e| e.to_string())).collect(),
        ))
    }
}

/// Image files as a sink: frame `i` is written to `jobs[i].output` (format by extension,
/// temp file + rename, folders created), in parallel; a failure is reported, not fatal.
pub struct FileSink<'a> {
    jobs: &'a [Job],
}

impl<'a> FileSink<'a> {
    /// The outputs of `jobs`.
    pub fn new(jobs: &'a [Job]) -> Self {
        FileSink { jobs }
    }
}

impl FrameSink for FileSink<'_> {
    fn write(&mut self, frames: Vec<Frame>) -> Result<Vec<(usize, Result<(), String>)>> {
        let jobs = self.jobs;
        Ok(frames
            .into_par_iter()
            .map(|(i, r)| {
                let r = r.and_then(|img| {
                    let out = &jobs[i].output;
                    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
                    }
                    image_io::write_image(out, &img).map_err(|e| e.to_string())
                });
                (i, r)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts frames as they are made; every one is a 4×4 image.
    struct Counting<'a> {
        left: usize,
        decoded: &'a AtomicUsize,
    }

    impl FrameSource for Counting<'_> {
        fn next_frames(&mut self, n: usize) -> Result<Option<Vec<Result<RgbImage, String>>>> {
            let n = n.min(self.left);
            self.left -= n;
            self.decoded.fetch_add(n, Ordering::SeqCst);
            Ok((n > 0).then(|| (0..n).map(|_| Ok(RgbImage::new(4, 4))).collect()))
        }
    }

    /// Accepts every frame, in order.
    struct InOrder(usize);

    impl FrameSink for InOrder {
        fn write(&mut self, frames: Vec<Frame>) -> Result<Vec<(usize, Result<(), String>)>> {
            Ok(frames
                .into_iter()
                .map(|(i, r)| {
                    assert_eq!(i, self.0, "frames reach the sink in order");
                    self.0 += 1;
                    (i, r.map(|_| ()))
                })
                .collect())
        }
    }

    /// Decoding never runs more than the queues and a batch or two ahead of compute,
    /// however many frames there are: memory is bounded by the options, not the input.
    #[test]
    fn decoding_stays_a_bounded_distance_ahead_of_compute() {
        let opts = PipelineOptions { batch: 4, queue: 8, max_size: None };
        let (decoded, computed, lead) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
        let mut source = Counting { left: 300, decoded: &decoded };
        let mut compute = |imgs: &[&RgbImage]| {
            let ahead = decoded.load(Ordering::SeqCst) - computed.load(Ordering::SeqCst);
            lead.fetch_max(ahead, Ordering::SeqCst);
            computed.fetch_add(imgs.len(), Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2)); // compute is the slow stage
            Ok(imgs.iter().map(|i| (*i).clone()).collect())
        };
        let r = run(&mut source, &mut InOrder(0), &opts, &mut compute, &|_, r| assert!(r.is_ok())).unwrap();
        assert_eq!(r.done, 300);
        // At most: the queue (8), the batch being gathered (4) and a decode chunk (4).
        let lead = lead.load(Ordering::SeqCst);
        assert!(lead <= opts.queue + 2 * opts.batch, "decode ran {lead} frames ahead");
    }

    /// A sink's fatal error ends the run with that error, and the stages stop early.
    #[test]
    fn a_fatal_sink_error_stops_the_run() {
        struct Broken;
        impl FrameSink for Broken {
            fn write(&mut self, _: Vec<Frame>) -> Result<Vec<(usize, Result<(), String>)>> {
                anyhow::bail!("the encoder stopped")
            }
        }
        let decoded = AtomicUsize::new(0);
        let mut source = Counting { left: 10_000, decoded: &decoded };
        let mut compute = |imgs: &[&RgbImage]| Ok(imgs.iter().map(|i| (*i).clone()).collect());
        let e = run(&mut source, &mut Broken, &PipelineOptions::default(), &mut compute, &|_, _| {}).unwrap_err();
        assert!(e.to_string().contains("the encoder stopped"), "{e}");
        assert!(decoded.load(Ordering::SeqCst) < 100, "decoding stopped early");
    }

    #[test]
    fn rates_are_never_infinite() {
        let s = StageTimes { decode: 0.0, compute: 2.0, encode: 0.5 }.summary(4);
        assert!(s.contains("decode -,") && s.contains("compute 2.00") && s.contains("encode 8.0"), "{s}");
        assert!(!StageTimes::default().summary(0).contains("inf"));
    }
}
