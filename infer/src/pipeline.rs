//! The frame pipeline behind `infer` on a folder: three stages joined by bounded queues, so
//! memory stays bounded whatever the folder size and the slowest stage sets the pace.
//!
//! ```text
//! decode (thread; rayon, `batch` files at a time) ─queue─▶ compute (batches of same-size
//! frames through the TransformerNet) ─queue─▶ encode (thread; rayon) ─▶ temp file + rename
//! ```
//!
//! Each frame keeps its index, so names (and, for video, order) are preserved. A frame that
//! fails in any stage is reported with its file and skipped; the rest are done.

use crate::stylize::Stylizer;
use anyhow::Result;
use faststyle::image_io;
use image::RgbImage;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::time::Instant;

/// One input file and where its output goes.
#[derive(Debug, Clone)]
pub struct Job {
    /// Input image.
    pub input: PathBuf,
    /// Output image (format by extension).
    pub output: PathBuf,
}

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

/// Busy seconds of each stage (a stage's fps is frames / its seconds).
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
    /// `stage rates: decode D, compute C, encode E frames/s (busy d / c / e s)` for `frames`.
    pub fn summary(&self, frames: usize) -> String {
        let rate = |busy: f64| if busy > 0.0 { frames as f64 / busy } else { f64::INFINITY };
        format!(
            "stage rates: decode {:.1}, compute {:.2}, encode {:.1} frames/s (busy {:.1} / {:.1} / {:.1} s)",
            rate(self.decode),
            rate(self.compute),
            rate(self.encode),
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
    /// Frames that failed: (input, reason), each already reported through `report`.
    pub failed: Vec<(PathBuf, String)>,
    /// Stage busy times.
    pub stages: StageTimes,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

type Decoded = (usize, Result<RgbImage, String>);

fn decode_one(job: &Job, max_size: Option<u32>) -> Result<RgbImage, String> {
    crate::stylize::read_fitted(&job.input, max_size).map_err(|e| e.to_string())
}

fn decode_stage(jobs: &[Job], opts: &PipelineOptions, decode: &Decoder<'_>, tx: SyncSender<Decoded>) -> f64 {
    let mut busy = 0.0;
    for (c, chunk) in jobs.chunks(opts.batch.max(1)).enumerate() {
        let t = Instant::now();
        let decoded: Vec<Result<RgbImage, String>> = chunk.par_iter().map(decode).collect();
        busy += t.elapsed().as_secs_f64();
        for (k, r) in decoded.into_iter().enumerate() {
            if tx.send((c * opts.batch.max(1) + k, r)).is_err() {
                return busy;
            }
        }
    }
    busy
}

fn encode_stage(jobs: &[Job], rx: Receiver<Decoded>, report: &(dyn Fn(usize, Result<(), String>) + Sync)) -> f64 {
    let mut busy = 0.0;
    let width = rayon::current_num_threads().max(1);
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < width {
            match rx.try_recv() {
                Ok(item) => group.push(item),
                Err(_) => break,
            }
        }
        let t = Instant::now();
        let results: Vec<(usize, Result<(), String>)> = group
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
            .collect();
        busy += t.elapsed().as_secs_f64();
        for (i, r) in results {
            report(i, r);
        }
    }
    busy
}

/// Reads one job's input (decode and `--max-size` resize).
pub type Decoder<'a> = dyn Fn(&Job) -> Result<RgbImage, String> + Sync + 'a;
/// Stylizes a batch of equally sized frames.
pub type Compute<'a> = dyn FnMut(&[&RgbImage]) -> Result<Vec<RgbImage>> + 'a;

/// Runs `jobs` through the pipeline with `st`. `report(i, result)` is called once per job
/// as it finishes (from the encode thread), in any order.
///
/// # Errors
/// None per frame (failures are in the report); a libtorch failure on a whole batch is
/// reported for each of its frames.
pub fn run(
    st: &Stylizer,
    jobs: &[Job],
    opts: &PipelineOptions,
    report: &(dyn Fn(usize, Result<(), String>) + Sync),
) -> PipelineReport {
    let max_size = opts.max_size;
    run_with(jobs, opts, &|j: &Job| decode_one(j, max_size), &mut |imgs: &[&RgbImage]| st.stylize_batch(imgs), report)
}

/// [`run`] with the decode and compute stages given as functions (tests use this to watch
/// how far decoding runs ahead of compute).
pub fn run_with(
    jobs: &[Job],
    opts: &PipelineOptions,
    decode: &Decoder<'_>,
    compute_batch: &mut Compute<'_>,
    report: &(dyn Fn(usize, Result<(), String>) + Sync),
) -> PipelineReport {
    let start = Instant::now();
    let batch = opts.batch.max(1);
    let (tx_dec, rx_dec) = sync_channel::<Decoded>(opts.queue.max(1));
    let (tx_enc, rx_enc) = sync_channel::<Decoded>(opts.queue.max(1));
    let outcome: Mutex<(usize, Vec<(PathBuf, String)>)> = Mutex::new((0, Vec::new()));
    let record = |i: usize, r: Result<(), String>| {
        {
            let mut o = outcome.lock().expect("pipeline outcome");
            match &r {
                Ok(()) => o.0 += 1,
                Err(why) => o.1.push((jobs[i].input.clone(), why.clone())),
            }
        }
        report(i, r);
    };
    let mut stages = StageTimes::default();
    std::thread::scope(|s| {
        let decoder = s.spawn(|| decode_stage(jobs, opts, decode, tx_dec));
        let encoder = s.spawn(|| encode_stage(jobs, rx_enc, &record));
        let mut compute = 0.0;
        let mut pending: Vec<(usize, RgbImage)> = Vec::with_capacity(batch);
        let mut flush = |pending: &mut Vec<(usize, RgbImage)>, compute: &mut f64| -> bool {
            if pending.is_empty() {
                return true;
            }
            let t = Instant::now();
            let imgs: Vec<&RgbImage> = pending.iter().map(|p| &p.1).collect();
            let out = compute_batch(&imgs);
            *compute += t.elapsed().as_secs_f64();
            let ok = match out {
                Ok(outs) => pending.drain(..).zip(outs).all(|((i, _), img)| tx_enc.send((i, Ok(img))).is_ok()),
                Err(e) => {
                    let why = format!("{e:#}");
                    pending.drain(..).all(|(i, _)| tx_enc.send((i, Err(why.clone()))).is_ok())
                }
            };
            ok
        };
        for (i, r) in rx_dec {
            match r {
                Ok(img) => {
                    if pending.first().is_some_and(|p| p.1.dimensions() != img.dimensions()) {
                        flush(&mut pending, &mut compute);
                    }
                    pending.push((i, img));
                    if pending.len() >= batch && !flush(&mut pending, &mut compute) {
                        break;
                    }
                }
                Err(why) => {
                    if tx_enc.send((i, Err(why))).is_err() {
                        break;
                    }
                }
            }
        }
        flush(&mut pending, &mut compute);
        drop(tx_enc);
        stages.decode = decoder.join().unwrap_or_default();
        stages.encode = encoder.join().unwrap_or_default();
        stages.compute = compute;
    });
    let (done, failed) = outcome.into_inner().expect("pipeline outcome");
    PipelineReport { done, failed, stages, seconds: start.elapsed().as_secs_f64() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Decoding never runs more than the queues and a batch or two ahead of compute,
    /// however many frames there are: memory is bounded by the options, not the folder.
    #[test]
    fn decoding_stays_a_bounded_distance_ahead_of_compute() {
        let dir = tempfile::tempdir().unwrap();
        let jobs: Vec<Job> = (0..300)
            .map(|i| Job { input: format!("frame{i}").into(), output: dir.path().join(format!("o{i}.png")) })
            .collect();
        let opts = PipelineOptions { batch: 4, queue: 8, max_size: None };
        let (decoded, computed, lead) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
        let decode = |_: &Job| {
            decoded.fetch_add(1, Ordering::SeqCst);
            Ok(RgbImage::new(4, 4))
        };
        let mut compute = |imgs: &[&RgbImage]| {
            let ahead = decoded.load(Ordering::SeqCst) - computed.load(Ordering::SeqCst);
            lead.fetch_max(ahead, Ordering::SeqCst);
            computed.fetch_add(imgs.len(), Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2)); // compute is the slow stage
            Ok(imgs.iter().map(|i| (*i).clone()).collect())
        };
        let r = run_with(&jobs, &opts, &decode, &mut compute, &|_, r| r.unwrap());
        assert_eq!(r.done, 300);
        // At most: the queue (8), the batch being gathered (4) and a decode chunk (4).
        let lead = lead.load(Ordering::SeqCst);
        assert!(lead <= opts.queue + 2 * opts.batch, "decode ran {lead} frames ahead");
    }
}
