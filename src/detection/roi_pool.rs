//! RoI max pooling (Fast R-CNN): forward with argmax, backward as a deterministic gather; CPU references.
//!
//! RoIs are `[R, 5]` f32 rows `(batch_index, x1, y1, x2, y2)` in image pixels (continuous box
//! convention, see [`super::boxes`]); `spatial_scale` maps pixels to feature cells (1/8 for a
//! stride-8 map). The RoI spans `[x1 * s, x2 * s)` in cells; bin `j` of `out_w` spans
//! `[sx + j * b, sx + (j + 1) * b)` with `b = width / out_w`, and pools the cells
//! `floor(lo) .. max(ceil(hi), floor(lo) + 1)` clamped to the map: a RoI smaller than a cell
//! still pools the cell it lies in; a bin wholly outside the map outputs 0 with argmax
//! [`NO_ARGMAX`]. Ties go to the first cell in row-major order. A RoI whose batch index is not
//! in `0..N` outputs zeros.
//!
//! Backward is a gather: one thread per input cell (and 16 channels, sharing the RoI and bin
//! tests) loops over the RoIs listed
//! for its 8x8-cell tile ([`super::roi_tiles`]: built on the GPU by one extra dispatch, RoIs of
//! its image that may reach the tile, in RoI order) and the bins that hold the cell, summing
//! `dy` where the stored argmax is that cell. The sum order is fixed, so it is deterministic and
//! needs no float atomics. Lavapipe ends an invocation after 65,535 loop iterations (all loops
//! together); a covering RoI costs a thread up to about 850 of them at 7x7 (a RoI smaller than a
//! cell puts the cell in every bin), so the launcher processes RoIs in chunks that fit
//! [`roi_tiles::LOOP_BUDGET`] and sums the chunks' gradients in order.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

use super::roi_tiles::{self, TileGeometry};

static SHADER: Shader = shader!("roi_pool");

/// Argmax of an empty bin.
pub const NO_ARGMAX: u32 = u32::MAX;
/// Channels per backward thread (`CB` in the shader).
const CB: usize = 16;
/// Largest output width (the backward keeps a 32-bit mask of bins per row).
pub const MAX_OUT: usize = 32;

/// Mirrors `Params` in shaders/roi_pool.wgsl.
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
    scale: f32,
    tile: u32,
    tiles_x: u32,
    _pad0: u32,
    _pad1: u32,
}

/// Checks `rois` is `[R, 5]` f32 and returns R.
pub(crate) fn roi_rows(op: &str, rois: &Tensor) -> Result<usize> {
    if rois.dtype() != DType::F32 || rois.shape().len() != 2 || rois.shape()[1] != 5 {
        return Err(Error::shape(op, format!("rois must be [R, 5] f32, got {:?} {:?}", rois.shape(), rois.dtype())));
    }
    Ok(rois.shape()[0])
}

/// Checks a feature map is `[N, C, H, W]` f32.
pub(crate) fn nchw(op: &str, shape: &[usize]) -> Result<[usize; 4]> {
    if shape.len() != 4 {
        return Err(Error::shape(op, format!("features must be [N, C, H, W], got {shape:?}")));
    }
    Ok([shape[0], shape[1], shape[2], shape[3]])
}

fn check_out(op: &str, out_h: usize, out_w: usize, scale: f32) -> Result<()> {
    if out_h == 0 || out_w == 0 || out_h > MAX_OUT || out_w > MAX_OUT {
        return Err(Error::invalid(op, format!("output size {out_h}x{out_w} must be 1..={MAX_OUT}")));
    }
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::invalid(op, format!("spatial scale {scale} must be positive")));
    }
    Ok(())
}

/// Forward: `features [N, C, H, W]`, `rois [R, 5]` -> (`out [R, C, out_h, out_w]`, `argmax` u32 same shape).
pub fn roi_pool_forward(
    gpu: &Gpu,
    features: &Tensor,
    rois: &Tensor,
    out_h: usize,
    out_w: usize,
    spatial_scale: f32,
) -> Result<(Tensor, Tensor)> {
    let [n, c, h, w] = nchw("roi_pool_forward", features.shape())?;
    let r = roi_rows("roi_pool_forward", rois)?;
    check_out("roi_pool_forward", out_h, out_w, spatial_scale)?;
    let shape = [r, c, out_h, out_w];
    let out = gpu.empty("roi_pool_forward", &shape, DType::F32)?;
    let argmax = gpu.empty("roi_pool_forward", &shape, DType::U32)?;
    let p = params(n, c, h, w, r, out_h, out_w, spatial_scale);
    gpu.dispatch(
        "roi_pool_forward",
        &SHADER,
        "forward",
        &p,
        &[Arg::R(rois), Arg::R(features), Arg::W(&out), Arg::W(&argmax)],
        grid_1d(out.numel(), 256),
    )?;
    Ok((out, argmax))
}

#[allow(clippy::too_many_arguments)]
fn params(n: usize, c: usize, h: usize, w: usize, r: usize, out_h: usize, out_w: usize, scale: f32) -> Params {
    Params {
        n: n as u32,
        c: c as u32,
        h: h as u32,
        w: w as u32,
        r: r as u32,
        out_h: out_h as u32,
        out_w: out_w as u32,
        scale,
        tile: 0,
        tiles_x: 0,
        _pad0: 0,
        _pad1: 0,
    }
}

/// Backward: `dy [R, C, out_h, out_w]` and the forward's argmax -> `dx` of `input_shape [N, C, H, W]`.
/// The RoIs and `spatial_scale` must be those of the forward.
pub fn roi_pool_backward(
    gpu: &Gpu,
    dy: &Tensor,
    argmax: &Tensor,
    input_shape: &[usize],
    rois: &Tensor,
    spatial_scale: f32,
) -> Result<Tensor> {
    let [n, c, h, w] = nchw("roi_pool_backward", input_shape)?;
    let r = roi_rows("roi_pool_backward", rois)?;
    let ds = dy.shape();
    if ds.len() != 4 || ds[0] != r || ds[1] != c || argmax.shape() != ds || argmax.dtype() != DType::U32 {
        return Err(Error::shape(
            "roi_pool_backward",
            format!("dy {:?} / argmax {:?} do not fit {r} RoIs of {c} channels", ds, argmax.shape()),
        ));
    }
    check_out("roi_pool_backward", ds[2], ds[3], spatial_scale)?;
    if h == 0 || w == 0 || n * c * h * w == 0 {
        return gpu.empty("roi_pool_backward", input_shape, DType::F32);
    }
    // Worst case for one covering RoI: the bin scans plus, when the RoI is smaller than a cell
    // and every bin pools this cell, all bins times the channel loop.
    let (oh, ow) = (ds[2], ds[3]);
    let per_roi = oh + ow + oh * ow * (CB + 1) + 8;
    roi_tiles::sum_over_roi_chunks(gpu, rois, &[dy, argmax], roi_tiles::LOOP_BUDGET / per_roi, |rois, t| {
        backward_pass(gpu, &t[0], &t[1], [n, c, h, w], rois, spatial_scale)
    })
}

/// One backward dispatch (plus its tile lists) over all of `rois`.
fn backward_pass(
    gpu: &Gpu,
    dy: &Tensor,
    argmax: &Tensor,
    [n, c, h, w]: [usize; 4],
    rois: &Tensor,
    spatial_scale: f32,
) -> Result<Tensor> {
    let r = rois.shape()[0];
    let ds = dy.shape();
    let dx = gpu.empty("roi_pool_backward", &[n, c, h, w], DType::F32)?;
    let geo = TileGeometry { scale: spatial_scale, offset: 0.0, min1: false };
    let tl = roi_tiles::build(gpu, rois, n, h, w, geo)?;
    let mut p = params(n, c, h, w, r, ds[2], ds[3], spatial_scale);
    p.tile = tl.tile as u32;
    p.tiles_x = tl.tiles_x as u32;
    let threads = n * c.div_ceil(CB) * h * w;
    gpu.dispatch(
        "roi_pool_backward",
        &SHADER,
        "backward",
        &p,
        &[Arg::R(rois), Arg::R(dy), Arg::R(argmax), Arg::W(&dx), Arg::R(&tl.lists)],
        grid_1d(threads, 256),
    )?;
    Ok(dx)
}

/// CPU references (f64 arithmetic on the values, f32 bin geometry exactly as the shader).
pub mod cpu {
    use super::NO_ARGMAX;

    /// Cell range `[lo, hi)` of bin `i` (mirrors `bin_range` in the shader).
    pub fn bin_range(start: f32, bin: f32, i: usize, size: usize) -> (usize, usize) {
        let lim = size as f32 + 1.0;
        let lo = (start + i as f32 * bin).floor().clamp(-1.0, lim);
        let hi = (start + (i + 1) as f32 * bin).ceil().clamp(-1.0, lim).max(lo + 1.0);
        let cl = |v: f32| (v as i64).clamp(0, size as i64) as usize;
        (cl(lo), cl(hi))
    }

    /// (batch, sx, sy, bin w, bin h) of a RoI row; `None` batch for an invalid index.
    pub fn roi_geometry(roi: &[f32], n: usize, out_h: usize, out_w: usize, scale: f32) -> (Option<usize>, [f32; 4]) {
        let b = roi[0];
        let batch = if b >= 0.0 && b < n as f32 { Some(b as usize) } else { None };
        let sx = roi[1] * scale;
        let sy = roi[2] * scale;
        let ex = roi[3] * scale;
        let ey = roi[4] * scale;
        (batch, [sx, sy, (ex - sx).max(0.0) / out_w as f32, (ey - sy).max(0.0) / out_h as f32])
    }

    /// Forward in f64: (out, argmax), shapes `[R, C, out_h, out_w]`.
    pub fn forward_f64(
        x: &[f64],
        shape: [usize; 4],
        rois: &[f32],
        out_h: usize,
        out_w: usize,
        scale: f32,
    ) -> (Vec<f64>, Vec<u32>) {
        let [n, c, h, w] = shape;
        let r = rois.len() / 5;
        let mut out = vec![0.0; r * c * out_h * out_w];
        let mut arg = vec![NO_ARGMAX; out.len()];
        for ri in 0..r {
            let (batch, [sx, sy, bw, bh]) = roi_geometry(&rois[ri * 5..ri * 5 + 5], n, out_h, out_w, scale);
            let Some(b) = batch else { continue };
            for ci in 0..c {
                let base = (b * c + ci) * h * w;
                for ph in 0..out_h {
                    let (y0, y1) = bin_range(sy, bh, ph, h);
                    for pw in 0..out_w {
                        let (x0, x1) = bin_range(sx, bw, pw, w);
                        let o = ((ri * c + ci) * out_h + ph) * out_w + pw;
                        for yy in y0..y1 {
                            for xx in x0..x1 {
                                let cell = yy * w + xx;
                                let v = x[base + cell];
                                if arg[o] == NO_ARGMAX || v > out[o] {
                                    out[o] = v;
                                    arg[o] = cell as u32;
                                }
                            }
                        }
                    }
                }
            }
        }
        (out, arg)
    }

    /// Forward in f32 (values are only selected, so it equals the f64 one rounded).
    pub fn forward(
        x: &[f32],
        shape: [usize; 4],
        rois: &[f32],
        out_h: usize,
        out_w: usize,
        scale: f32,
    ) -> (Vec<f32>, Vec<u32>) {
        let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let (o, a) = forward_f64(&xd, shape, rois, out_h, out_w, scale);
        (o.iter().map(|&v| v as f32).collect(), a)
    }

    /// Backward as a scatter (the plain definition): `dx[argmax] += dy`.
    pub fn backward(
        dy: &[f32],
        argmax: &[u32],
        shape: [usize; 4],
        rois: &[f32],
        out_h: usize,
        out_w: usize,
    ) -> Vec<f32> {
        let [n, c, h, w] = shape;
        let mut dx = vec![0.0f64; n * c * h * w];
        for (o, (&g, &a)) in dy.iter().zip(argmax).enumerate() {
            if a == NO_ARGMAX {
                continue;
            }
            let ci = (o / (out_h * out_w)) % c;
            let ri = o / (out_h * out_w * c);
            let b = rois[ri * 5] as usize;
            dx[(b * c + ci) * h * w + a as usize] += g as f64;
        }
        dx.iter().map(|&v| v as f32).collect()
    }
}
