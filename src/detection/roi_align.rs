//! RoIAlign (He et al. 2017, torchvision semantics): forward and a deterministic gather backward; CPU references.
//!
//! RoIs are `[R, 5]` rows `(batch_index, x1, y1, x2, y2)` in image pixels (continuous box
//! convention). With `aligned` the RoI is shifted by half a cell so that sample coordinates
//! index pixel centres (the right choice with the continuous convention); without it the RoI
//! is at least one cell wide and high (the original Mask R-CNN behaviour). Each of the
//! `out_h x out_w` bins averages `g_h x g_w` bilinear samples, `g = sampling_ratio`, or
//! `ceil(roi size / bins)` when `sampling_ratio == 0` (adaptive).
//!
//! Backward (gather formulation): the bilinear weight of a sample factorises into a row weight
//! and a column weight. One thread per input cell `(n, h, w)` and 8 channels loops over the RoIs
//! listed for its 8x8-cell tile ([`super::roi_tiles`]: RoIs of image `n` that may reach it, in
//! RoI order), over the sample rows and columns that fall within one cell of `(h, w)` (found
//! by arithmetic on the regular sample grid, then decided exactly by recomputing the weight),
//! and sums `dy * w_row * w_col / count`. Fixed order: deterministic and free of float atomics.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

use super::roi_pool::{nchw, roi_rows};
use super::roi_tiles::{self, TileGeometry};

static SHADER: Shader = shader!("roi_align");
const CB: usize = 8;

/// RoIAlign settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoiAlignConfig {
    pub out_h: usize,
    pub out_w: usize,
    /// Pixels to feature cells (1/8 for stride 8).
    pub spatial_scale: f32,
    /// Samples per bin and axis; 0 = adaptive `ceil(roi size / bins)`.
    pub sampling_ratio: usize,
    /// Half-pixel offset (recommended).
    pub aligned: bool,
}

impl Default for RoiAlignConfig {
    /// 7x7, stride 8, adaptive sampling, aligned.
    fn default() -> Self {
        RoiAlignConfig { out_h: 7, out_w: 7, spatial_scale: 0.125, sampling_ratio: 0, aligned: true }
    }
}

/// Mirrors `Params` in shaders/roi_align.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    r: u32,
    out_h: u32,
    out_w: u32,
    sampling: u32,
    scale: f32,
    aligned: u32,
    tile: u32,
    tiles_x: u32,
}

fn params(op: &str, shape: [usize; 4], r: usize, cfg: &RoiAlignConfig) -> Result<Params> {
    let [n, c, h, w] = shape;
    if h == 0 || w == 0 {
        return Err(Error::shape(op, "feature map has no cells"));
    }
    if cfg.out_h == 0 || cfg.out_w == 0 || !(cfg.spatial_scale.is_finite() && cfg.spatial_scale > 0.0) {
        return Err(Error::invalid(op, format!("bad config {cfg:?}")));
    }
    Ok(Params {
        n: n as u32,
        c: c as u32,
        h: h as u32,
        w: w as u32,
        r: r as u32,
        out_h: cfg.out_h as u32,
        out_w: cfg.out_w as u32,
        sampling: cfg.sampling_ratio as u32,
        scale: cfg.spatial_scale,
        aligned: cfg.aligned as u32,
        tile: 0,
        tiles_x: 0,
    })
}

/// Forward: `features [N, C, H, W]`, `rois [R, 5]` -> `[R, C, out_h, out_w]`.
pub fn roi_align_forward(gpu: &Gpu, features: &Tensor, rois: &Tensor, cfg: &RoiAlignConfig) -> Result<Tensor> {
    let op = "roi_align_forward";
    let shape = nchw(op, features.shape())?;
    let r = roi_rows(op, rois)?;
    let p = params(op, shape, r, cfg)?;
    let out = gpu.empty(op, &[r, shape[1], cfg.out_h, cfg.out_w], DType::F32)?;
    gpu.dispatch(
        op,
        &SHADER,
        "forward",
        &p,
        &[Arg::R(rois), Arg::R(features), Arg::W(&out)],
        grid_1d(out.numel(), 256),
    )?;
    Ok(out)
}

/// Backward: `dy [R, C, out_h, out_w]` -> `dx` of `input_shape [N, C, H, W]` (same RoIs and config).
pub fn roi_align_backward(
    gpu: &Gpu,
    dy: &Tensor,
    input_shape: &[usize],
    rois: &Tensor,
    cfg: &RoiAlignConfig,
) -> Result<Tensor> {
    let op = "roi_align_backward";
    let shape = nchw(op, input_shape)?;
    let r = roi_rows(op, rois)?;
    if dy.shape() != [r, shape[1], cfg.out_h, cfg.out_w] {
        return Err(Error::shape(op, format!("dy {:?} for {r} RoIs, {cfg:?}", dy.shape())));
    }
    params(op, shape, r, cfg)?; // validates the config
    if shape.iter().product::<usize>() == 0 {
        return gpu.empty(op, input_shape, DType::F32);
    }
    roi_tiles::sum_over_roi_chunks(gpu, rois, &[dy], roi_tiles::LOOP_BUDGET / loops_per_roi(cfg), |rois, t| {
        backward_pass(gpu, &t[0], shape, rois, cfg)
    })
}

/// Worst-case loop iterations one covering RoI costs a backward thread: every sample that can
/// touch the cell (all of a RoI smaller than a cell: (out_h * s) x (out_w * s) for a fixed
/// sampling ratio s; with adaptive sampling samples are at least half a cell apart once a bin
/// is a cell wide, so at most max(out, 5) per axis) times the channel loop, plus the fixed cost.
pub fn loops_per_roi(cfg: &RoiAlignConfig) -> usize {
    let (sy, sx) = if cfg.sampling_ratio > 0 {
        (cfg.out_h * cfg.sampling_ratio, cfg.out_w * cfg.sampling_ratio)
    } else {
        (cfg.out_h.max(5), cfg.out_w.max(5))
    };
    sy * sx * (CB + 1) + sy + 32
}

/// One backward dispatch (plus its tile lists) over all of `rois`.
fn backward_pass(gpu: &Gpu, dy: &Tensor, shape: [usize; 4], rois: &Tensor, cfg: &RoiAlignConfig) -> Result<Tensor> {
    let op = "roi_align_backward";
    let r = rois.shape()[0];
    let mut p = params(op, shape, r, cfg)?;
    let dx = gpu.empty(op, &shape, DType::F32)?;
    let offset = if cfg.aligned { 0.5 } else { 0.0 };
    let geo = TileGeometry { scale: cfg.spatial_scale, offset, min1: !cfg.aligned };
    let tl = roi_tiles::build(gpu, rois, shape[0], shape[2], shape[3], geo)?;
    p.tile = tl.tile as u32;
    p.tiles_x = tl.tiles_x as u32;
    let threads = shape[0] * shape[1].div_ceil(CB) * shape[2] * shape[3];
    gpu.dispatch(
        op,
        &SHADER,
        "backward",
        &p,
        &[Arg::R(rois), Arg::R(dy), Arg::W(&dx), Arg::R(&tl.lists)],
        grid_1d(threads, 256),
    )?;
    Ok(dx)
}

/// CPU references: f32 sample geometry exactly as the shader, f64 accumulation.
pub mod cpu {
    use super::RoiAlignConfig;

    struct Geo {
        batch: Option<usize>,
        sx: f32,
        sy: f32,
        bw: f32,
        bh: f32,
        gw: usize,
        gh: usize,
    }

    fn geometry(roi: &[f32], n: usize, cfg: &RoiAlignConfig) -> Geo {
        let b = roi[0];
        let batch = if b >= 0.0 && b < n as f32 { Some(b as usize) } else { None };
        let off = if cfg.aligned { 0.5 } else { 0.0 };
        let s = cfg.spatial_scale;
        let sx = roi[1] * s - off;
        let sy = roi[2] * s - off;
        let mut rw = roi[3] * s - off - sx;
        let mut rh = roi[4] * s - off - sy;
        if !cfg.aligned {
            rw = rw.max(1.0);
            rh = rh.max(1.0);
        }
        let bw = rw / cfg.out_w as f32;
        let bh = rh / cfg.out_h as f32;
        let (gw, gh) = if cfg.sampling_ratio > 0 {
            (cfg.sampling_ratio, cfg.sampling_ratio)
        } else {
            let g = |v: f32, bins: usize| (v / bins as f32).ceil().clamp(0.0, 1024.0) as usize;
            (g(rw, cfg.out_w), g(rh, cfg.out_h))
        };
        Geo { batch, sx, sy, bw, bh, gw, gh }
    }

    fn sample_at(start: f32, bin: f32, i: usize, j: usize, g: usize) -> f32 {
        start + i as f32 * bin + (j as f32 + 0.5) * bin / g as f32
    }

    /// (row or column, weight) pairs of a sample along one axis (torchvision's clamping).
    fn axis(v: f32, size: usize) -> [(usize, f64); 2] {
        if v < -1.0 || v > size as f32 {
            return [(0, 0.0), (0, 0.0)];
        }
        let y = v.max(0.0);
        let lo = y as usize;
        if lo + 1 >= size {
            return [(size - 1, 1.0), (size - 1, 0.0)];
        }
        let l = (y - lo as f32) as f64;
        [(lo, 1.0 - l), (lo + 1, l)]
    }

    /// Calls `f(batch, r, ph, pw, input cell, weight)` for every bilinear tap of every sample.
    fn taps(
        shape: [usize; 4],
        rois: &[f32],
        cfg: &RoiAlignConfig,
        mut f: impl FnMut(usize, usize, usize, usize, usize, f64),
    ) {
        let [n, _, h, w] = shape;
        for r in 0..rois.len() / 5 {
            let g = geometry(&rois[r * 5..r * 5 + 5], n, cfg);
            let Some(b) = g.batch else { continue };
            let inv = 1.0 / (g.gh * g.gw).max(1) as f64;
            for ph in 0..cfg.out_h {
                for pw in 0..cfg.out_w {
                    for iy in 0..g.gh {
                        let ay = axis(sample_at(g.sy, g.bh, ph, iy, g.gh), h);
                        for ix in 0..g.gw {
                            let ax = axis(sample_at(g.sx, g.bw, pw, ix, g.gw), w);
                            for &(yy, wy) in &ay {
                                for &(xx, wx) in &ax {
                                    if wy * wx != 0.0 {
                                        f(b, r, ph, pw, yy * w + xx, wy * wx * inv);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Forward in f64: `[R, C, out_h, out_w]`.
    pub fn forward_f64(x: &[f64], shape: [usize; 4], rois: &[f32], cfg: &RoiAlignConfig) -> Vec<f64> {
        let [_, c, h, w] = shape;
        let (oh, ow) = (cfg.out_h, cfg.out_w);
        let mut out = vec![0.0; rois.len() / 5 * c * oh * ow];
        taps(shape, rois, cfg, |b, r, ph, pw, cell, wt| {
            for ci in 0..c {
                out[((r * c + ci) * oh + ph) * ow + pw] += wt * x[(b * c + ci) * h * w + cell];
            }
        });
        out
    }

    /// Forward in f32 (via f64).
    pub fn forward(x: &[f32], shape: [usize; 4], rois: &[f32], cfg: &RoiAlignConfig) -> Vec<f32> {
        let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        forward_f64(&xd, shape, rois, cfg).iter().map(|&v| v as f32).collect()
    }

    /// Backward as a scatter of the same taps.
    pub fn backward(dy: &[f32], shape: [usize; 4], rois: &[f32], cfg: &RoiAlignConfig) -> Vec<f32> {
        let [n, c, h, w] = shape;
        let (oh, ow) = (cfg.out_h, cfg.out_w);
        let mut dx = vec![0.0f64; n * c * h * w];
        taps(shape, rois, cfg, |b, r, ph, pw, cell, wt| {
            for ci in 0..c {
                dx[(b * c + ci) * h * w + cell] += wt * dy[((r * c + ci) * oh + ph) * ow + pw] as f64;
            }
        });
        dx.iter().map(|&v| v as f32).collect()
    }
}
