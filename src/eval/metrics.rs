//! DeepLesion metrics: sensitivity at 0.5-16 FPs/image by IoU and IoBB, overall, per coarse type and per size.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::detections::Detection;
use super::froc::{curve, match_detections, sensitivity_at, Convention, Criterion};
use crate::error::Result;

/// FP-per-image levels the DeepLesion protocol reports.
pub const FP_LEVELS: [f64; 6] = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
/// Coarse lesion type names, index = Coarse_lesion_type - 1.
pub const COARSE_TYPES: [&str; 8] =
    ["bone", "abdomen", "mediastinum", "liver", "lung", "kidney", "soft tissue", "pelvis"];
/// Size bins on the long RECIST diameter in mm: < 10, 10..=30, > 30.
pub const SIZE_BINS: [&str; 3] = ["<10mm", "10-30mm", ">30mm"];

/// One annotated lesion of the evaluated split (box in 0-based original-slice pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct GtLesion {
    /// DL_info.csv File_name.
    pub file: String,
    /// x1, y1, x2, y2, 0-based.
    pub bbox: [f32; 4],
    /// 1..8, or -1 when unlabelled.
    pub coarse_type: i32,
    /// Long RECIST diameter in mm (pixels x spacing).
    pub long_diameter_mm: f32,
    /// Possibly_noisy flag: such lesions are dropped before evaluation.
    pub noisy: bool,
}

/// Evaluation settings.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    pub convention: Convention,
    /// Overlap threshold for both IoU and IoBB (0.5 in the protocol).
    pub threshold: f64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { convention: Convention::PixelInclusive, threshold: 0.5 }
    }
}

/// Sensitivities of one criterion over one set of lesions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sensitivities {
    /// Lesions in the set.
    pub lesions: usize,
    /// Sensitivity at each of `fp_levels`.
    pub sensitivity: Vec<f64>,
    /// Mean of the sensitivities at 0.5, 1, 2 and 4 FPs per image.
    pub mean_0_5_to_4: f64,
}

/// Everything one criterion produces.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CriterionReport {
    pub criterion: Criterion,
    pub threshold: f64,
    pub overall: Sensitivities,
    /// The FROC points (FPs per image, sensitivity) over all lesions.
    pub curve: Vec<(f64, f64)>,
    /// Largest FP rate reached; sensitivities at higher levels are held at the last point.
    pub max_fp_per_image: f64,
    /// Per coarse type (only labelled lesions; types with no lesion are left out).
    pub per_type: Vec<(String, Sensitivities)>,
    /// Per long-diameter bin.
    pub per_size: Vec<(String, Sensitivities)>,
}

/// The metrics JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metrics {
    /// Which box convention the overlaps used.
    pub overlap_convention: Convention,
    /// How sensitivity past the curve's last point is read.
    pub beyond_last_point: String,
    pub fp_levels: Vec<f64>,
    pub images: usize,
    pub lesions: usize,
    pub noisy_lesions_excluded: usize,
    pub detections: usize,
    /// Detections whose file is not an evaluated image (ignored).
    pub detections_ignored: usize,
    pub iou: CriterionReport,
    pub iobb: CriterionReport,
}

fn sens(points: &[(f64, f64)], lesions: usize) -> Sensitivities {
    let sensitivity: Vec<f64> = FP_LEVELS.iter().map(|&f| sensitivity_at(points, f)).collect();
    let mean_0_5_to_4 = sensitivity[..4].iter().sum::<f64>() / 4.0;
    Sensitivities { lesions, sensitivity, mean_0_5_to_4 }
}

/// Size bin index of a long diameter in mm.
pub fn size_bin(mm: f32) -> usize {
    if mm < 10.0 {
        0
    } else if mm <= 30.0 {
        1
    } else {
        2
    }
}

/// Evaluates `dets` on the images `images` (every evaluated image, with or without detections)
/// and their lesions `gts`. Noisy lesions are dropped first, as the public code drops those rows.
pub fn evaluate(dets: &[Detection], gts: &[GtLesion], images: &[String], opts: EvalOptions) -> Result<Metrics> {
    let index: HashMap<&str, usize> = images.iter().enumerate().map(|(i, f)| (f.as_str(), i)).collect();
    let kept: Vec<&GtLesion> = gts.iter().filter(|g| !g.noisy && index.contains_key(g.file.as_str())).collect();
    let noisy = gts.iter().filter(|g| g.noisy && index.contains_key(g.file.as_str())).count();
    let gt_pairs: Vec<(usize, [f32; 4])> = kept.iter().map(|g| (index[g.file.as_str()], g.bbox)).collect();
    let det_triples: Vec<(usize, [f32; 4], f32)> =
        dets.iter().filter_map(|d| index.get(d.file.as_str()).map(|&i| (i, d.bbox, d.score))).collect();
    let ignored = dets.len() - det_triples.len();
    let report = |crit: Criterion| -> Result<CriterionReport> {
        let outcomes = match_detections(&det_triples, &gt_pairs, opts.threshold, crit, opts.convention)?;
        let all = vec![true; kept.len()];
        let points = curve(&outcomes, &all, images.len());
        let mut per_type = Vec::new();
        for (t, name) in COARSE_TYPES.iter().enumerate() {
            let mask: Vec<bool> = kept.iter().map(|g| g.coarse_type == t as i32 + 1).collect();
            let n = mask.iter().filter(|&&m| m).count();
            if n > 0 {
                per_type.push((name.to_string(), sens(&curve(&outcomes, &mask, images.len()), n)));
            }
        }
        let mut per_size = Vec::new();
        for (b, name) in SIZE_BINS.iter().enumerate() {
            let mask: Vec<bool> = kept.iter().map(|g| size_bin(g.long_diameter_mm) == b).collect();
            let n = mask.iter().filter(|&&m| m).count();
            per_size.push((name.to_string(), sens(&curve(&outcomes, &mask, images.len()), n)));
        }
        Ok(CriterionReport {
            criterion: crit,
            threshold: opts.threshold,
            overall: sens(&points, kept.len()),
            max_fp_per_image: points.last().map_or(0.0, |p| p.0),
            curve: points,
            per_type,
            per_size,
        })
    };
    Ok(Metrics {
        overlap_convention: opts.convention,
        beyond_last_point: "hold: past the last FROC point the last sensitivity is kept (no extrapolation)".into(),
        fp_levels: FP_LEVELS.to_vec(),
        images: images.len(),
        lesions: kept.len(),
        noisy_lesions_excluded: noisy,
        detections: det_triples.len(),
        detections_ignored: ignored,
        iou: report(Criterion::Iou)?,
        iobb: report(Criterion::Iobb)?,
    })
}
