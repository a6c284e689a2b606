//! Inference over a split or a single PNG: detections in original-slice pixels, and their DeepLesion metrics.

use std::sync::Arc;

use super::data as ddata;
use super::model::Network;
use super::step::RawDetection;
use crate::data::{Dataset, Loader, PreparedImage, Split};
use crate::error::Result;
use crate::eval::{self, Detection, EvalOptions, Metrics};
use crate::gpu::Gpu;

/// All detections, and the first images with their own detections (for overlays).
pub type Detected = (Vec<Detection>, Vec<(PreparedImage, Vec<Detection>)>);

/// Detections of the images `indices` of `ds`, in batches of the training batch size, mapped to
/// the original slices' 0-based pixels. `keep` prepared images are returned too (for overlays).
pub fn detect_dataset(
    gpu: &Gpu,
    net: &Network,
    ds: &Arc<Dataset>,
    indices: Vec<usize>,
    keep: usize,
    mut progress: impl FnMut(usize),
) -> Result<Detected> {
    let cfg = &net.cfg;
    let loader =
        Loader::new(ds.clone(), indices, ddata::preprocess_config(cfg), cfg.train.batch_images.max(1), None, 2);
    let mut all = Vec::new();
    let mut kept = Vec::new();
    for b in loader {
        if b.images.is_empty() {
            continue;
        }
        let raw = net.detect_prepared(gpu, &b.images)?;
        for (img, dets) in b.images.into_iter().zip(raw) {
            let dets: Vec<Detection> = dets
                .into_iter()
                .map(|d| Detection {
                    file: img.file_name.clone(),
                    bbox: ddata::to_original(d.bbox, &img),
                    score: d.score,
                    class: d.class,
                })
                .collect();
            all.extend(dets.iter().cloned());
            if kept.len() < keep {
                kept.push((img, dets));
            }
            progress(1);
        }
    }
    Ok((all, kept))
}

/// Detects on a split (at most `max_images`, 0 = all) and evaluates with the DeepLesion protocol
/// (pixel-inclusive overlaps). Returns the metrics; `dets_out` receives the detections.
pub fn evaluate_split(
    gpu: &Gpu,
    net: &Network,
    ds: &Arc<Dataset>,
    split: Split,
    max_images: usize,
    dets_out: Option<&mut Vec<Detection>>,
) -> Result<Metrics> {
    let mut idx = ds.indices(split);
    if max_images > 0 {
        idx.truncate(max_images);
    }
    let recs: Vec<_> = idx.iter().map(|&i| &ds.images[i]).collect();
    let (names, gts) = eval::ground_truth::from_records(recs.iter().flat_map(|img| &img.lesions));
    let (dets, _) = detect_dataset(gpu, net, ds, idx, 0, |_| {})?;
    let m = eval::evaluate(&dets, &gts, &names, EvalOptions::default())?;
    if let Some(out) = dets_out {
        *out = dets;
    }
    Ok(m)
}

impl Network {
    /// Detections (network-input pixels) of prepared images, one list an image.
    pub fn detect_prepared(&self, gpu: &Gpu, images: &[PreparedImage]) -> Result<Vec<Vec<RawDetection>>> {
        let images = ddata::stack(gpu, &self.cfg, images, &[])?;
        self.detect(gpu, &images)
    }
}
