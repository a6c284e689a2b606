//! The RPN proposal layer on the GPU: decode deltas on anchors, clip, drop small boxes, pre-NMS top-k, NMS, post-NMS top-k, one readback.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

use super::boxes::{box_rows, cpu as box_cpu, BoxCoder, BoxF};
use super::nms::{self, NmsConfig};

static SHADER: Shader = shader!("proposals");

/// Proposal-layer settings (per image).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProposalConfig {
    /// Best-scoring boxes per image that enter NMS.
    pub pre_nms_top_n: usize,
    /// Boxes per image kept after NMS.
    pub post_nms_top_n: usize,
    /// NMS IoU threshold (0.7 in the paper's RPN).
    pub nms_iou: f32,
    /// Boxes narrower or lower than this (pixels, after clipping) are dropped.
    pub min_size: f32,
    /// Delta parameterisation (unit weights for the RPN).
    pub coder: BoxCoder,
}

impl Default for ProposalConfig {
    /// Test-time defaults: 6000 before NMS, 300 after, IoU 0.7, min size 0.
    fn default() -> Self {
        ProposalConfig {
            pre_nms_top_n: 6000,
            post_nms_top_n: 300,
            nms_iou: 0.7,
            min_size: 0.0,
            coder: BoxCoder::default(),
        }
    }
}

/// Proposals of a batch: per image boxes and scores (best first), and the same as RoIs on the GPU.
#[derive(Debug)]
pub struct Proposals {
    /// Per image, the kept boxes, best first.
    pub boxes: Vec<Vec<BoxF>>,
    /// Per image, their objectness scores.
    pub scores: Vec<Vec<f32>>,
    /// `[total, 5]` rows `(image, x1, y1, x2, y2)`, images in order: ready for RoI pooling.
    pub rois: Tensor,
}

impl Proposals {
    /// RoI rows `(image, x1, y1, x2, y2)` flattened (host copy of `rois`).
    pub fn roi_rows(boxes: &[Vec<BoxF>]) -> Vec<f32> {
        let mut out = Vec::new();
        for (n, bs) in boxes.iter().enumerate() {
            for b in bs {
                out.extend([n as f32, b[0], b[1], b[2], b[3]]);
            }
        }
        out
    }
}

/// Mirrors `Params` in shaders/proposals.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    k: u32,
    a: u32,
    hw: u32,
    nchw: u32,
    post: u32,
    img_w: f32,
    img_h: f32,
    wx: f32,
    wy: f32,
    ww: f32,
    wh: f32,
    clamp: f32,
    min_size: f32,
    _pad0: u32,
    _pad1: u32,
}

/// Runs the proposal layer. `objectness` is `[N, A, H, W]` (conv output, with `deltas [N, 4A, H, W]`,
/// delta `j` of anchor `a` in channel `4a + j`) or `[N, K]` (with `deltas [N, K, 4]`), scores in any
/// monotone form (logits or probabilities). `anchors [K, 4]` in the order of
/// [`AnchorConfig::grid`](super::AnchorConfig::grid), `K = H * W * A`. `image_size` = (width, height)
/// in pixels for clipping. Everything runs on the GPU with exactly one readback; `rois` is then
/// uploaded from the host copy.
pub fn proposals(
    gpu: &Gpu,
    objectness: &Tensor,
    deltas: &Tensor,
    anchors: &Tensor,
    image_size: (f32, f32),
    cfg: &ProposalConfig,
) -> Result<Proposals> {
    let op = "proposals";
    let k = box_rows(op, anchors)?;
    let os = objectness.shape();
    let (n, a, hw, nchw) = match os.len() {
        4 => {
            let (n, a, hw) = (os[0], os[1], os[2] * os[3]);
            if deltas.shape() != [n, 4 * a, os[2], os[3]] || a * hw != k {
                return Err(Error::shape(op, format!("objectness {os:?}, deltas {:?}, {k} anchors", deltas.shape())));
            }
            (n, a, hw, true)
        }
        2 => {
            if deltas.shape() != [os[0], os[1], 4] || os[1] != k {
                return Err(Error::shape(op, format!("objectness {os:?}, deltas {:?}, {k} anchors", deltas.shape())));
            }
            (os[0], 1, k, false)
        }
        _ => return Err(Error::shape(op, format!("objectness must be [N, A, H, W] or [N, K], got {os:?}"))),
    };
    if cfg.post_nms_top_n == 0 || cfg.pre_nms_top_n == 0 {
        return Err(Error::invalid(op, "pre_nms_top_n and post_nms_top_n must be positive"));
    }
    let total = n * k;
    let boxes = gpu.empty(op, &[total, 4], DType::F32)?;
    let scores = gpu.empty(op, &[total], DType::F32)?;
    let groups = gpu.empty(op, &[total], DType::U32)?;
    let c = &cfg.coder;
    let mut p = Params {
        n: n as u32,
        k: k as u32,
        a: a as u32,
        hw: hw as u32,
        nchw: nchw as u32,
        post: 0,
        img_w: image_size.0,
        img_h: image_size.1,
        wx: c.weights[0],
        wy: c.weights[1],
        ww: c.weights[2],
        wh: c.weights[3],
        clamp: c.clamp,
        min_size: cfg.min_size,
        _pad0: 0,
        _pad1: 0,
    };
    gpu.dispatch(
        "proposals_decode",
        &SHADER,
        "decode",
        &p,
        &[Arg::R(objectness), Arg::R(deltas), Arg::R(anchors), Arg::W(&boxes), Arg::W(&scores), Arg::W(&groups)],
        grid_1d(total, 256),
    )?;
    let ncfg = NmsConfig {
        iou_threshold: cfg.nms_iou,
        score_threshold: f32::MIN, // drops the -inf of small boxes only
        max_kept: Some(cfg.post_nms_top_n),
        pre_top_k: Some(cfg.pre_nms_top_n),
    };
    let res = nms::nms_gpu(gpu, &boxes, &scores, Some((&groups, n)), &ncfg)?;
    let post = res.max_kept;
    p.post = post as u32;
    let out = gpu.empty(op, &[1 + n * (1 + post * 5)], DType::F32)?;
    if n * post > 0 {
        gpu.dispatch(
            "proposals_gather",
            &SHADER,
            "gather",
            &p,
            &[Arg::R(&res.out), Arg::R(&boxes), Arg::R(&scores), Arg::W(&out)],
            grid_1d(n * post, 256),
        )?;
    }
    let (all_boxes, all_scores) =
        if n * post > 0 { parse(&out.to_vec(gpu)?, n, post)? } else { (vec![vec![]; n], vec![vec![]; n]) };
    let rows = Proposals::roi_rows(&all_boxes);
    let rois = gpu.upload(&[rows.len() / 5, 5], &rows)?;
    Ok(Proposals { boxes: all_boxes, scores: all_scores, rois })
}

type PerImage = (Vec<Vec<BoxF>>, Vec<Vec<f32>>);

fn parse(v: &[f32], n: usize, post: usize) -> Result<PerImage> {
    if v[0] != 0.0 {
        return Err(Error::invalid("proposals", "objectness contains NaN"));
    }
    let mut boxes = Vec::with_capacity(n);
    let mut scores = Vec::with_capacity(n);
    for i in 0..n {
        let base = 1 + i * (1 + post * 5);
        let cnt = (v[base] as usize).min(post);
        let rows = &v[base + 1..base + 1 + cnt * 5];
        boxes.push(rows.chunks_exact(5).map(|r| [r[0], r[1], r[2], r[3]]).collect());
        scores.push(rows.chunks_exact(5).map(|r| r[4]).collect());
    }
    Ok((boxes, scores))
}

/// CPU reference of the proposal layer for one image: `scores[k]`, `deltas[k]` in anchor order.
pub fn cpu_proposals(
    scores: &[f32],
    deltas: &[[f32; 4]],
    anchors: &[BoxF],
    image_size: (f32, f32),
    cfg: &ProposalConfig,
) -> Result<(Vec<BoxF>, Vec<f32>)> {
    let decoded = box_cpu::decode(anchors, deltas, 1, &cfg.coder, Some(image_size));
    let s: Vec<f32> = decoded
        .iter()
        .zip(scores)
        .map(|(b, &s)| if b[2] - b[0] < cfg.min_size || b[3] - b[1] < cfg.min_size { f32::NEG_INFINITY } else { s })
        .collect();
    let ncfg = NmsConfig {
        iou_threshold: cfg.nms_iou,
        score_threshold: f32::MIN,
        max_kept: Some(cfg.post_nms_top_n),
        pre_top_k: Some(cfg.pre_nms_top_n),
    };
    let kept = nms::cpu::nms(&decoded, &s, &ncfg)?;
    Ok((kept.iter().map(|&i| decoded[i as usize]).collect(), kept.iter().map(|&i| s[i as usize]).collect()))
}
