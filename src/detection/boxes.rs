//! THE box convention of the crate, and the box kernels (IoU matrix, delta encode/decode, clip) with CPU references.
//!
//! # The box convention (used by every kernel, the data loader and the evaluation)
//! A box is four `f32` in **continuous** image coordinates `(x1, y1, x2, y2)` with `x1 <= x2`,
//! `y1 <= y2`: width `x2 - x1`, height `y2 - y1`, area `(x2 - x1) * (y2 - y1)`. There is **no
//! "+1"**: a box that covers pixels 0..=9 is `(0, 0, 10, 10)` with area 100. A pixel `(i, j)`
//! is the unit square `[j, j+1) x [i, i+1)`. The only place the pixel-inclusive `+1` of the
//! public DeepLesion evaluation code appears is that evaluation, which says so.
//! Tensors of boxes are `[N, 4]` f32 (rows of x1, y1, x2, y2).

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("boxes");

/// A box `(x1, y1, x2, y2)` in the crate's continuous convention.
pub type BoxF = [f32; 4];

/// Default clamp of `dw`, `dh` before `exp` in decoding: boxes may grow at most 1000/16 = 62.5x.
pub const BBOX_CLAMP: f32 = 4.135_166_6; // ln(1000 / 16)

/// Width of a box (negative for a malformed one).
pub fn width(b: &BoxF) -> f32 {
    b[2] - b[0]
}
/// Height of a box.
pub fn height(b: &BoxF) -> f32 {
    b[3] - b[1]
}
/// Area `(x2 - x1) * (y2 - y1)`, zero for empty or inverted boxes. No +1.
pub fn area(b: &BoxF) -> f32 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

/// Intersection over union; 0 when the union is empty (two zero-area boxes).
pub fn iou(a: &BoxF, b: &BoxF) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let uni = area(a) + area(b) - inter;
    if uni > 0.0 {
        inter / uni
    } else {
        0.0
    }
}

/// Weights and clamp of the (dx, dy, dw, dh) box parameterisation (Fast R-CNN, eq. in Girshick 2015):
/// `dx = wx * (gx - x) / w`, `dw = ww * ln(gw / w)`; decoding clamps `dw / ww`, `dh / wh` at `clamp`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxCoder {
    pub weights: [f32; 4],
    pub clamp: f32,
}

impl Default for BoxCoder {
    /// Unit weights (the RPN's), clamp ln(1000/16).
    fn default() -> Self {
        BoxCoder { weights: [1.0; 4], clamp: BBOX_CLAMP }
    }
}

impl BoxCoder {
    /// The RoI head's usual weights (10, 10, 5, 5).
    pub fn roi_head() -> Self {
        BoxCoder { weights: [10.0, 10.0, 5.0, 5.0], clamp: BBOX_CLAMP }
    }
}

/// Mirrors `Params` in shaders/boxes.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    m: u32,
    k: u32,
    c: u32,
    wx: f32,
    wy: f32,
    ww: f32,
    wh: f32,
    clamp: f32,
    img_w: f32,
    img_h: f32,
    min_size: f32,
}

fn coder_params(coder: &BoxCoder) -> Params {
    Params {
        wx: coder.weights[0],
        wy: coder.weights[1],
        ww: coder.weights[2],
        wh: coder.weights[3],
        clamp: coder.clamp,
        ..Default::default()
    }
}

/// Checks a tensor is `[N, 4]` f32 and returns N.
pub(crate) fn box_rows(op: &str, t: &Tensor) -> Result<usize> {
    if t.dtype() != DType::F32 || t.shape().len() != 2 || t.shape()[1] != 4 {
        return Err(Error::shape(op, format!("boxes must be [N, 4] f32, got {:?} {:?}", t.shape(), t.dtype())));
    }
    Ok(t.shape()[0])
}

/// Pairwise IoU matrix `[N, M]` of boxes `a [N, 4]` and `b [M, 4]`, one thread a pair.
pub fn iou_matrix(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let n = box_rows("iou_matrix", a)?;
    let m = box_rows("iou_matrix", b)?;
    let out = gpu.empty("iou_matrix", &[n, m], DType::F32)?;
    let p = Params { n: n as u32, m: m as u32, ..Default::default() };
    gpu.dispatch("iou_matrix", &SHADER, "iou_matrix", &p, &[Arg::R(a), Arg::R(b), Arg::W(&out)], grid_1d(n * m, 256))?;
    Ok(out)
}

/// Decodes `deltas [R, 4]` against reference `boxes [K, 4]`: row `r` uses box `(r / per_box) % K`
/// (`per_box` = classes for class-specific deltas `[K * C, 4]`, 1 otherwise; rows past K wrap, so
/// `[B * K, 4]` decodes B images against one set of anchors). Clips to `clip = Some((w, h))`.
pub fn decode(
    gpu: &Gpu,
    boxes: &Tensor,
    deltas: &Tensor,
    per_box: usize,
    coder: &BoxCoder,
    clip: Option<(f32, f32)>,
) -> Result<Tensor> {
    let k = box_rows("decode", boxes)?;
    let r = box_rows("decode", deltas)?;
    if per_box == 0 || (r > 0 && k == 0) {
        return Err(Error::invalid("decode", format!("{r} delta rows against {k} boxes, per_box {per_box}")));
    }
    let out = gpu.empty("decode", &[r, 4], DType::F32)?;
    let (img_w, img_h) = clip.unwrap_or((0.0, 0.0));
    let p = Params { n: r as u32, k: k as u32, c: per_box as u32, img_w, img_h, ..coder_params(coder) };
    gpu.dispatch("decode", &SHADER, "decode", &p, &[Arg::R(boxes), Arg::R(deltas), Arg::W(&out)], grid_1d(r, 256))?;
    Ok(out)
}

/// Encodes the deltas that move `reference [N, 4]` onto `targets [N, 4]` (row by row).
pub fn encode(gpu: &Gpu, reference: &Tensor, targets: &Tensor, coder: &BoxCoder) -> Result<Tensor> {
    let n = box_rows("encode", reference)?;
    if box_rows("encode", targets)? != n {
        return Err(Error::shape("encode", format!("{:?} vs {:?}", reference.shape(), targets.shape())));
    }
    let out = gpu.empty("encode", &[n, 4], DType::F32)?;
    let p = Params { n: n as u32, ..coder_params(coder) };
    gpu.dispatch(
        "encode",
        &SHADER,
        "encode",
        &p,
        &[Arg::R(reference), Arg::R(targets), Arg::W(&out)],
        grid_1d(n, 256),
    )?;
    Ok(out)
}

/// Clamps boxes to the image `[0, w] x [0, h]`.
pub fn clip(gpu: &Gpu, boxes: &Tensor, image_w: f32, image_h: f32) -> Result<Tensor> {
    let n = box_rows("clip", boxes)?;
    let out = gpu.empty("clip", &[n, 4], DType::F32)?;
    let p = Params { n: n as u32, img_w: image_w, img_h: image_h, ..Default::default() };
    gpu.dispatch("clip", &SHADER, "clip", &p, &[Arg::R(boxes), Arg::W(&out)], grid_1d(n, 256))?;
    Ok(out)
}

/// `[N]` u32 mask: 1 where a box's width and height are both at least `min_size` (small-box removal;
/// the proposal layer fuses the same test into its decode kernel).
pub fn keep_mask(gpu: &Gpu, boxes: &Tensor, min_size: f32) -> Result<Tensor> {
    let n = box_rows("keep_mask", boxes)?;
    let out = gpu.empty("keep_mask", &[n], DType::U32)?;
    let p = Params { n: n as u32, min_size, ..Default::default() };
    gpu.dispatch("keep_mask", &SHADER, "keep_mask", &p, &[Arg::R(boxes), Arg::W(&out)], grid_1d(n, 256))?;
    Ok(out)
}

/// CPU references (same formulas, same order of operations as the shaders).
pub mod cpu {
    use super::{area, iou, BoxCoder, BoxF};

    /// Row-major `[a.len(), b.len()]` IoU matrix.
    pub fn iou_matrix(a: &[BoxF], b: &[BoxF]) -> Vec<f32> {
        let mut out = Vec::with_capacity(a.len() * b.len());
        for x in a {
            for y in b {
                out.push(iou(x, y));
            }
        }
        out
    }

    /// Decodes one delta against one box (see [`super::decode`]).
    pub fn decode_one(b: &BoxF, d: &[f32; 4], coder: &BoxCoder, clip: Option<(f32, f32)>) -> BoxF {
        let w = b[2] - b[0];
        let h = b[3] - b[1];
        let cx = b[0] + 0.5 * w;
        let cy = b[1] + 0.5 * h;
        let dx = d[0] / coder.weights[0];
        let dy = d[1] / coder.weights[1];
        let dw = (d[2] / coder.weights[2]).min(coder.clamp);
        let dh = (d[3] / coder.weights[3]).min(coder.clamp);
        let pcx = dx * w + cx;
        let pcy = dy * h + cy;
        let pw = dw.exp() * w;
        let ph = dh.exp() * h;
        let mut o = [pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph];
        if let Some((iw, ih)) = clip {
            o = clip_one(&o, iw, ih);
        }
        o
    }

    /// Decodes `deltas` against `boxes` with the row rule of [`super::decode`].
    pub fn decode(
        boxes: &[BoxF],
        deltas: &[[f32; 4]],
        per_box: usize,
        coder: &BoxCoder,
        clip: Option<(f32, f32)>,
    ) -> Vec<BoxF> {
        deltas
            .iter()
            .enumerate()
            .map(|(r, d)| decode_one(&boxes[(r / per_box) % boxes.len()], d, coder, clip))
            .collect()
    }

    /// Deltas taking `b` onto `g`.
    pub fn encode_one(b: &BoxF, g: &BoxF, coder: &BoxCoder) -> [f32; 4] {
        let w = b[2] - b[0];
        let h = b[3] - b[1];
        let gw = g[2] - g[0];
        let gh = g[3] - g[1];
        let cx = b[0] + 0.5 * w;
        let cy = b[1] + 0.5 * h;
        let gcx = g[0] + 0.5 * gw;
        let gcy = g[1] + 0.5 * gh;
        let wt = coder.weights;
        [wt[0] * (gcx - cx) / w, wt[1] * (gcy - cy) / h, wt[2] * (gw / w).ln(), wt[3] * (gh / h).ln()]
    }

    /// Row-by-row encode.
    pub fn encode(reference: &[BoxF], targets: &[BoxF], coder: &BoxCoder) -> Vec<[f32; 4]> {
        reference.iter().zip(targets).map(|(b, g)| encode_one(b, g, coder)).collect()
    }

    /// Clamps a box to `[0, w] x [0, h]`.
    pub fn clip_one(b: &BoxF, w: f32, h: f32) -> BoxF {
        [b[0].clamp(0.0, w), b[1].clamp(0.0, h), b[2].clamp(0.0, w), b[3].clamp(0.0, h)]
    }

    /// Clamps every box.
    pub fn clip(boxes: &[BoxF], w: f32, h: f32) -> Vec<BoxF> {
        boxes.iter().map(|b| clip_one(b, w, h)).collect()
    }

    /// Indices of the boxes whose width and height are both at least `min_size`.
    pub fn keep_min_size(boxes: &[BoxF], min_size: f32) -> Vec<usize> {
        (0..boxes.len())
            .filter(|&i| boxes[i][2] - boxes[i][0] >= min_size && boxes[i][3] - boxes[i][1] >= min_size)
            .collect()
    }

    /// Total area (a sanity helper for tests).
    pub fn total_area(boxes: &[BoxF]) -> f32 {
        boxes.iter().map(area).sum()
    }
}

/// Flattens boxes into the `[N, 4]` row layout.
pub fn flatten(boxes: &[BoxF]) -> Vec<f32> {
    boxes.iter().flatten().copied().collect()
}

/// Splits a flat `[N, 4]` buffer into boxes.
pub fn unflatten(flat: &[f32]) -> Vec<BoxF> {
    flat.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect()
}

/// Uploads boxes as an `[N, 4]` tensor.
pub fn upload(gpu: &Gpu, boxes: &[BoxF]) -> Result<Tensor> {
    gpu.upload(&[boxes.len(), 4], &flatten(boxes))
}
