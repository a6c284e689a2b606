//! Pictures of a run: the loss curves from log.csv and detection overlays (ground truth green, detections red with scores).

use std::path::Path;

use plotters::prelude::*;

use crate::data::PreparedImage;
use crate::error::{Error, Result};
use crate::eval::plot::{ensure_font, line_chart};
use crate::eval::Detection;

/// A named series of (x, y) points.
pub type Series = (String, Vec<(f64, f64)>);

/// Reads log.csv and draws the four loss parts and their total against the step.
pub fn loss_chart(log: &Path, out: &Path) -> Result<()> {
    let series = read_log(log)?;
    line_chart(out, "training loss", "step", "loss", &series)
}

/// The loss series of a log.csv: (name, points) for rpn_cls, rpn_box, head_cls, head_box, total.
pub fn read_log(log: &Path) -> Result<Vec<Series>> {
    let names = ["rpn_cls", "rpn_box", "head_cls", "head_box", "total"];
    let mut series: Vec<(String, Vec<(f64, f64)>)> = names.iter().map(|n| (n.to_string(), Vec::new())).collect();
    if !log.exists() {
        return Ok(series);
    }
    let mut r = csv::Reader::from_path(log).map_err(|e| Error::data(log.display().to_string(), e.to_string()))?;
    for rec in r.records() {
        let rec = rec.map_err(|e| Error::data(log.display().to_string(), e.to_string()))?;
        let step: f64 = rec.get(0).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        for (i, s) in series.iter_mut().enumerate() {
            if let Some(v) = rec.get(3 + i).and_then(|v| v.parse::<f64>().ok()) {
                s.1.push((step, v));
            }
        }
    }
    Ok(series)
}

fn draw_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Format { path: path.into(), message: format!("drawing overlay: {e}") }
}

/// Detections drawn on every overlay whatever their score.
pub const OVERLAY_TOP: usize = 3;

/// Draws the key slice of a prepared image (scaled up to at least 384 px) with its ground-truth
/// boxes in green and, in red labelled with their scores, the [`OVERLAY_TOP`] best detections
/// and every other one scoring at least `min_score`.
pub fn overlay(path: &Path, img: &PreparedImage, dets: &[Detection], min_score: f32) -> Result<()> {
    ensure_font();
    let zoom = (384 / img.width.max(img.height).max(1)).max(1);
    let (w, h) = (img.width * zoom, img.height * zoom);
    let root = BitMapBackend::new(path, (w as u32, h as u32)).into_drawing_area();
    let plane = &img.chw[img.height * img.width..2 * img.height * img.width]; // key slice = channel 1
    for y in 0..h {
        for x in 0..w {
            let v = (plane[(y / zoom) * img.width + x / zoom].clamp(0.0, 1.0) * 255.0) as u8;
            root.draw_pixel((x as i32, y as i32), &RGBColor(v, v, v)).map_err(|e| draw_err(path, e))?;
        }
    }
    let z = zoom as f32;
    let rect = |b: [f32; 4]| [((b[0] * z) as i32, (b[1] * z) as i32), ((b[2] * z) as i32, (b[3] * z) as i32)];
    for b in &img.boxes {
        root.draw(&Rectangle::new(rect(*b), GREEN.stroke_width(2))).map_err(|e| draw_err(path, e))?;
    }
    // The three best always show (a weak detector's scores may all sit below the threshold).
    let mut order: Vec<&Detection> = dets.iter().collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    for (rank, d) in order.into_iter().enumerate() {
        if rank >= OVERLAY_TOP && d.score < min_score {
            break;
        }
        // Back from original-slice pixels to this image's frame.
        let (sx, sy) = (img.scale[0], img.scale[1]);
        let b = [
            (d.bbox[0] + 0.5) * sx - 0.5,
            (d.bbox[1] + 0.5) * sy - 0.5,
            (d.bbox[2] + 0.5) * sx - 0.5,
            (d.bbox[3] + 0.5) * sy - 0.5,
        ];
        let r = rect(b);
        root.draw(&Rectangle::new(r, RED.stroke_width(1))).map_err(|e| draw_err(path, e))?;
        root.draw(&Text::new(
            format!("{:.2}", d.score),
            (r[0].0, (r[0].1 - 12).max(0)),
            ("sans-serif", 12).into_font().color(&RED),
        ))
        .map_err(|e| draw_err(path, e))?;
    }
    root.present().map_err(|e| draw_err(path, e))
}
