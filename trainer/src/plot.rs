//! `trainer plot RUN_DIR`: the loss curves of a run as a PNG (`loss.png`), drawn with
//! plotters from `metrics.jsonl`: content, style, TV and total training loss, and the
//! validation loss, against the step, on a log scale. Labels use the DejaVu Sans font
//! embedded by the `dejavu` crate, so no system font is needed.

use crate::metrics::{read_metrics, MetricsLine, METRICS_FILE, PLOT_FILE};
use anyhow::{bail, Context, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Reads one loss series off a metrics line.
type Getter = fn(&MetricsLine) -> f64;

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The embedded font is valid; a failure here would only lose the labels.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Draws the loss curves of `run_dir` into `out` (default `run_dir/loss.png`), atomically.
/// Returns the path written.
///
/// # Errors
/// No metrics, or the PNG cannot be written.
pub fn plot_run(run_dir: &Path, out: Option<&Path>) -> Result<PathBuf> {
    let lines = read_metrics(run_dir)?;
    let train: Vec<&MetricsLine> = lines.iter().filter(|l| l.split == "train").collect();
    let val: Vec<&MetricsLine> = lines.iter().filter(|l| l.split == "val").collect();
    if train.is_empty() {
        bail!("{}: no training metrics to plot", run_dir.join(METRICS_FILE).display());
    }
    register_font();
    let (w, h) = (1000u32, 600u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let positive = |v: f64| if v.is_finite() && v > 0.0 { Some(v) } else { None };
    let all_values = lines.iter().flat_map(|l| [l.loss, l.content, l.style, l.tv]).filter_map(positive);
    let (lo, hi) = all_values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo <= hi { (lo / 1.5, hi * 1.5) } else { (1e-3, 1.0) };
    let last_step = lines.iter().map(|l| l.step).max().unwrap_or(1).max(1);
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("faststyle training: {title}"), ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0u64..last_step, (lo..hi).log_scale())?;
        chart.configure_mesh().x_desc("step").y_desc("weighted loss").label_style(("sans-serif", 14)).draw()?;
        let series: [(&str, RGBColor, Getter); 4] = [
            ("total", BLACK, |l| l.loss),
            ("content", BLUE, |l| l.content),
            ("style", RED, |l| l.style),
            ("TV", GREEN, |l| l.tv),
        ];
        for (name, color, get) in series {
            let points: Vec<(u64, f64)> = train.iter().filter_map(|l| positive(get(l)).map(|v| (l.step, v))).collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(format!("train {name}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        if !val.is_empty() {
            let points: Vec<(u64, f64)> = val.iter().filter_map(|l| positive(l.loss).map(|v| (l.step, v))).collect();
            let magenta = RGBColor(200, 0, 200);
            chart.draw_series(LineSeries::new(points.clone(), magenta.stroke_width(3)))?;
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 5, magenta.filled())))?
                .label("validation total")
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, magenta.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        root.present()?;
    }
    let img = image::RgbImage::from_raw(w, h, buf).context("plot buffer")?;
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| run_dir.join(PLOT_FILE));
    faststyle::image_io::write_image(&out, &img)?;
    Ok(out)
}
