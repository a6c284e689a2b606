//! The DeepLesion FROC: overlap criteria, score-ordered matching, the curve and its interpolation.
//!
//! Mirrors the public DeepLesion/3DCE evaluation code (`FROC`, `sens_at_FP`):
//! all detections of all images are sorted by score (descending; ties keep input order, a
//! stable sort, so results are deterministic). A detection whose best overlap with the image's
//! ground truths is below the threshold is a false positive. Otherwise it marks every
//! not-yet-found ground truth it overlaps at or above the threshold as found (normally one);
//! when all the lesions it overlaps are already found it is neither a hit nor a false positive.

use crate::error::{Error, Result};

/// Box overlap convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Convention {
    /// width = x2 - x1 + 1 (the public DeepLesion code's convention; comparable with published figures).
    PixelInclusive,
    /// width = x2 - x1 (the convention used everywhere else in this project).
    Continuous,
}

/// Which overlap a hit is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// Intersection over union.
    Iou,
    /// Intersection over the detected box's area (IoBB).
    Iobb,
}

fn extent(lo: f32, hi: f32, conv: Convention) -> f64 {
    let e = hi as f64 - lo as f64 + if conv == Convention::PixelInclusive { 1.0 } else { 0.0 };
    e.max(0.0)
}

/// Overlap of detection `det` with ground truth `gt` under a criterion and convention.
pub fn overlap(det: &[f32; 4], gt: &[f32; 4], crit: Criterion, conv: Convention) -> f64 {
    let iw = extent(det[0].max(gt[0]), det[2].min(gt[2]), conv);
    let ih = extent(det[1].max(gt[1]), det[3].min(gt[3]), conv);
    let inter = iw * ih;
    let det_area = extent(det[0], det[2], conv) * extent(det[1], det[3], conv);
    let denom = match crit {
        Criterion::Iou => det_area + extent(gt[0], gt[2], conv) * extent(gt[1], gt[3], conv) - inter,
        Criterion::Iobb => det_area,
    };
    if denom <= 0.0 {
        0.0
    } else {
        inter / denom
    }
}

/// What one detection did, in score order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Overlaps no ground truth enough.
    FalsePositive,
    /// Found these ground truths (global indices); empty = overlapped only already-found lesions.
    Found(Vec<usize>),
}

/// Matches detections against ground truths. `dets[i] = (image, box, score)`, `gts[j] = (image, box)`
/// with image indices into a common image list. Returns one outcome per detection in score order.
pub fn match_detections(
    dets: &[(usize, [f32; 4], f32)],
    gts: &[(usize, [f32; 4])],
    threshold: f64,
    crit: Criterion,
    conv: Convention,
) -> Result<Vec<Outcome>> {
    if dets.iter().any(|d| !d.2.is_finite()) {
        return Err(Error::invalid("froc", "a detection score is NaN or infinite"));
    }
    let n_img = dets.iter().map(|d| d.0 + 1).chain(gts.iter().map(|g| g.0 + 1)).max().unwrap_or(0);
    let mut by_image: Vec<Vec<usize>> = vec![Vec::new(); n_img];
    for (j, g) in gts.iter().enumerate() {
        by_image[g.0].push(j);
    }
    let mut order: Vec<usize> = (0..dets.len()).collect();
    order.sort_by(|&a, &b| dets[b].2.total_cmp(&dets[a].2)); // stable: ties keep input order
    let mut found = vec![false; gts.len()];
    let mut out = Vec::with_capacity(dets.len());
    for i in order {
        let (img, b, _) = dets[i];
        let mut any = false;
        let mut newly = Vec::new();
        for &j in &by_image[img] {
            if overlap(&b, &gts[j].1, crit, conv) >= threshold {
                any = true;
                if !found[j] {
                    found[j] = true;
                    newly.push(j);
                }
            }
        }
        out.push(if any { Outcome::Found(newly) } else { Outcome::FalsePositive });
    }
    Ok(out)
}

/// FROC points `(FPs per image, sensitivity)`: one point per false-positive count k = 0..=K,
/// holding the sensitivity reached before the (k+1)-th false positive (the curve's upper corners).
/// Only ground truths with `counted[j]` enter the sensitivity (subsets: a coarse type, a size bin);
/// false positives are always counted over all images.
pub fn curve(outcomes: &[Outcome], counted: &[bool], n_images: usize) -> Vec<(f64, f64)> {
    let n_gt = counted.iter().filter(|&&c| c).count();
    let sens = |f: usize| if n_gt == 0 { 0.0 } else { f as f64 / n_gt as f64 };
    let per_img = |k: usize| if n_images == 0 { 0.0 } else { k as f64 / n_images as f64 };
    let (mut fps, mut hit) = (0usize, 0usize);
    let mut pts = Vec::new();
    for o in outcomes {
        match o {
            Outcome::FalsePositive => {
                pts.push((per_img(fps), sens(hit)));
                fps += 1;
            }
            Outcome::Found(js) => hit += js.iter().filter(|&&j| counted[j]).count(),
        }
    }
    pts.push((per_img(fps), sens(hit)));
    pts
}

/// Sensitivity at `fp` false positives per image: linear interpolation between the curve's
/// points; past the last point the last sensitivity is HELD (not extrapolated).
pub fn sensitivity_at(points: &[(f64, f64)], fp: f64) -> f64 {
    let Some(&(last_x, last_y)) = points.last() else { return 0.0 };
    if fp >= last_x {
        return last_y;
    }
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if fp >= x0 && fp < x1 {
            return y0 + (fp - x0) / (x1 - x0) * (y1 - y0);
        }
    }
    points[0].1 // fp below the first point (only when fp < 0)
}
