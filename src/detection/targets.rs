//! Training targets for the RPN (anchors) and the RoI head (proposals): IoU matching on the GPU, balanced seeded sampling on the CPU.
//!
//! Output is ready for the losses: labels for a softmax cross-entropy with ignore label `-1`
//! and per-sample weights, and regression targets with per-element weights for smooth-L1.
//! For the RoI head, append the ground-truth boxes to the proposals before calling (the usual
//! Fast R-CNN practice) so every ground truth has a perfect positive.

use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

use super::boxes::{self, cpu as box_cpu, BoxCoder, BoxF};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// Label of a box that takes no part in the classification loss.
pub const IGNORE: i32 = -1;

/// Matching and sampling settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchConfig {
    /// Max IoU at least this: positive.
    pub pos_iou: f32,
    /// Max IoU in `[neg_iou_lo, neg_iou_hi)`: negative. Between the ranges: ignored.
    pub neg_iou_hi: f32,
    pub neg_iou_lo: f32,
    /// Every ground truth makes its best-overlapping box(es) positive (Faster R-CNN's RPN rule).
    pub best_box_positive: bool,
    /// Samples per image (positives + negatives).
    pub batch_size: usize,
    /// At most this fraction of the batch is positive.
    pub pos_fraction: f32,
    /// Parameterisation of the regression targets.
    pub coder: BoxCoder,
    /// `Some((width, height, border))`: boxes not inside the image grown by `border` are ignored
    /// (the RPN's rule for anchors that straddle the image edge).
    pub inside: Option<(f32, f32, f32)>,
}

impl MatchConfig {
    /// The RPN's: positives at IoU >= 0.7 and each ground truth's best anchor, negatives below 0.3,
    /// 256 samples, half positive, unit weights, straddling anchors ignored.
    pub fn rpn(image_w: f32, image_h: f32) -> Self {
        MatchConfig {
            pos_iou: 0.7,
            neg_iou_hi: 0.3,
            neg_iou_lo: 0.0,
            best_box_positive: true,
            batch_size: 256,
            pos_fraction: 0.5,
            coder: BoxCoder::default(),
            inside: Some((image_w, image_h, 0.0)),
        }
    }

    /// The RoI head's: positives at IoU >= 0.5, negatives in [0, 0.5), 32 RoIs an image (the
    /// paper's), a quarter positive, weights (10, 10, 5, 5).
    pub fn roi_head() -> Self {
        MatchConfig {
            pos_iou: 0.5,
            neg_iou_hi: 0.5,
            neg_iou_lo: 0.0,
            best_box_positive: false,
            batch_size: 32,
            pos_fraction: 0.25,
            coder: BoxCoder::roi_head(),
            inside: None,
        }
    }
}

/// Targets of one image, one entry per candidate box.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// Class of the matched ground truth for a sampled positive (classes start at 1), 0 for a
    /// sampled negative, [`IGNORE`] otherwise.
    pub labels: Vec<i32>,
    /// Cross-entropy weight: 1 for sampled boxes, 0 for ignored ones.
    pub weights: Vec<f32>,
    /// Index of the best ground truth (-1 when there is none).
    pub matched: Vec<i32>,
    /// Max IoU with any ground truth.
    pub max_iou: Vec<f32>,
    /// Encoded deltas to the matched ground truth for sampled positives, zeros elsewhere: `[K][4]`.
    pub reg_targets: Vec<[f32; 4]>,
    /// Smooth-L1 weights: 1 on the 4 deltas of sampled positives, 0 elsewhere.
    pub reg_weights: Vec<[f32; 4]>,
    pub num_pos: usize,
    pub num_neg: usize,
}

/// Assigns targets to `boxes` (anchors or proposals) given ground truths `gt` with classes
/// `gt_classes` (>= 1; all 1 for the RPN). The `[K, G]` IoU matrix is computed on the GPU
/// (one readback); matching and seeded sampling run on the CPU.
pub fn assign_targets(
    gpu: &Gpu,
    boxes: &[BoxF],
    gt: &[BoxF],
    gt_classes: &[u32],
    cfg: &MatchConfig,
    rng: &mut ChaCha8Rng,
) -> Result<Targets> {
    let iou = if boxes.is_empty() || gt.is_empty() {
        Vec::new()
    } else {
        let tb = boxes::upload(gpu, boxes)?;
        let tg = boxes::upload(gpu, gt)?;
        boxes::iou_matrix(gpu, &tb, &tg)?.to_vec(gpu)?
    };
    assign_from_iou(&iou, boxes, gt, gt_classes, cfg, rng)
}

/// The CPU reference: IoU on the CPU, then the same matching and sampling.
pub fn cpu_assign_targets(
    boxes: &[BoxF],
    gt: &[BoxF],
    gt_classes: &[u32],
    cfg: &MatchConfig,
    rng: &mut ChaCha8Rng,
) -> Result<Targets> {
    assign_from_iou(&box_cpu::iou_matrix(boxes, gt), boxes, gt, gt_classes, cfg, rng)
}

/// Matching and sampling from a row-major `[K, G]` IoU matrix.
pub fn assign_from_iou(
    iou: &[f32],
    boxes: &[BoxF],
    gt: &[BoxF],
    gt_classes: &[u32],
    cfg: &MatchConfig,
    rng: &mut ChaCha8Rng,
) -> Result<Targets> {
    let (k, g) = (boxes.len(), gt.len());
    if gt_classes.len() != g || iou.len() != k * g {
        return Err(Error::shape("assign_targets", format!("{k} boxes, {g} gt, {} classes", gt_classes.len())));
    }
    if gt_classes.contains(&0) {
        return Err(Error::invalid("assign_targets", "ground-truth classes start at 1 (0 is background)"));
    }
    let mut max_iou = vec![0.0f32; k];
    let mut matched = vec![-1i32; k];
    for i in 0..k {
        for j in 0..g {
            let v = iou[i * g + j];
            if matched[i] < 0 || v > max_iou[i] {
                max_iou[i] = v;
                matched[i] = j as i32;
            }
        }
    }
    let inside: Vec<bool> = boxes
        .iter()
        .map(|b| match cfg.inside {
            Some((w, h, border)) => b[0] >= -border && b[1] >= -border && b[2] <= w + border && b[3] <= h + border,
            None => true,
        })
        .collect();
    // 1 positive, 0 negative, -1 ignored (before sampling).
    let mut state = vec![-1i8; k];
    for i in 0..k {
        if inside[i] && max_iou[i] >= cfg.neg_iou_lo && max_iou[i] < cfg.neg_iou_hi {
            state[i] = 0;
        }
    }
    if cfg.best_box_positive {
        for j in 0..g {
            let best = (0..k).filter(|&i| inside[i]).map(|i| iou[i * g + j]).fold(0.0f32, f32::max);
            if best > 0.0 {
                for i in 0..k {
                    if inside[i] && iou[i * g + j] == best {
                        state[i] = 1;
                    }
                }
            }
        }
    }
    for i in 0..k {
        if inside[i] && g > 0 && max_iou[i] >= cfg.pos_iou {
            state[i] = 1;
        }
    }
    let pos: Vec<usize> = (0..k).filter(|&i| state[i] == 1).collect();
    let neg: Vec<usize> = (0..k).filter(|&i| state[i] == 0).collect();
    let max_pos = (cfg.batch_size as f32 * cfg.pos_fraction) as usize;
    let pos = subsample(pos, max_pos, rng);
    let neg = subsample(neg, cfg.batch_size.saturating_sub(pos.len()), rng);
    let mut t = Targets {
        labels: vec![IGNORE; k],
        weights: vec![0.0; k],
        matched,
        max_iou,
        reg_targets: vec![[0.0; 4]; k],
        reg_weights: vec![[0.0; 4]; k],
        num_pos: pos.len(),
        num_neg: neg.len(),
    };
    for &i in &neg {
        t.labels[i] = 0;
        t.weights[i] = 1.0;
    }
    for &i in &pos {
        let m = t.matched[i] as usize;
        t.labels[i] = gt_classes[m] as i32;
        t.weights[i] = 1.0;
        t.reg_targets[i] = box_cpu::encode_one(&boxes[i], &gt[m], &cfg.coder);
        t.reg_weights[i] = [1.0; 4];
    }
    Ok(t)
}

/// Keeps `n` of `idx` chosen uniformly with the seeded RNG (all when there are fewer), ascending.
fn subsample(idx: Vec<usize>, n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    if idx.len() <= n {
        return idx;
    }
    let mut keep: Vec<usize> = sample(rng, idx.len(), n).into_iter().map(|i| idx[i]).collect();
    keep.sort_unstable();
    keep
}
