//! Per-tile RoI lists on the GPU (shaders/roi_tiles.wgsl) that let the RoI pooling and RoIAlign backward gathers skip RoIs far from a cell; CPU reference.
//!
//! Why: a gather backward (one thread per input cell) that loops over every RoI spends nearly
//! all its time rejecting RoIs that cannot touch the cell. One extra dispatch cuts the map into
//! `T x T`-cell tiles and lists, per (image, tile) and in RoI order, the RoIs whose cell extent
//! (plus 2 cells of slack) meets the tile; the gather then walks only its tile's list, in the
//! same fixed order, so it stays deterministic and free of float atomics. Lists are
//! conservative: the gather still makes every exact decision itself.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("roi_tiles");

/// Cells per tile side (doubled while the lists would exceed [`MAX_WORDS`]).
pub const TILE: usize = 8;
/// Largest list buffer, in u32 words (64 MiB).
const MAX_WORDS: usize = 1 << 24;

/// Mirrors `Params` in shaders/roi_tiles.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    r: u32,
    h: u32,
    w: u32,
    tile: u32,
    tiles_x: u32,
    tiles_y: u32,
    min1: u32,
    scale: f32,
    offset: f32,
    _pad0: u32,
    _pad1: u32,
}

/// How the RoI rows map to cells: `cell = coord * scale - offset`, widened to one cell when `min1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileGeometry {
    pub scale: f32,
    pub offset: f32,
    pub min1: bool,
}

/// Tile lists on the GPU: u32 `[n * tiles_y * tiles_x * (r + 1)]`, each list a count then RoI indices.
pub struct TileLists {
    pub lists: Tensor,
    /// Cells per tile side.
    pub tile: usize,
    pub tiles_x: usize,
    pub tiles_y: usize,
}

/// Tile side for a map and RoI count: [`TILE`], doubled until the lists fit in [`MAX_WORDS`].
pub fn tile_size(n: usize, h: usize, w: usize, r: usize) -> usize {
    let mut t = TILE;
    while n * h.div_ceil(t) * w.div_ceil(t) * (r + 1) > MAX_WORDS && t < h.max(w) {
        t *= 2;
    }
    t
}

/// Records the list build for `rois [R, 5]` on an `[n, _, h, w]` map.
pub fn build(gpu: &Gpu, rois: &Tensor, n: usize, h: usize, w: usize, geo: TileGeometry) -> Result<TileLists> {
    let op = "roi_tiles";
    let r = rois.shape().first().copied().unwrap_or(0);
    if h == 0 || w == 0 {
        return Err(Error::shape(op, "feature map has no cells"));
    }
    let tile = tile_size(n, h, w, r);
    let (tiles_x, tiles_y) = (w.div_ceil(tile), h.div_ceil(tile));
    let words = n * tiles_x * tiles_y * (r + 1);
    if words > MAX_WORDS || r >= u32::MAX as usize {
        return Err(Error::invalid(op, format!("{r} RoIs on {n} maps of {h}x{w} need too large tile lists")));
    }
    let lists = gpu.empty(op, &[words.max(1)], DType::U32)?;
    let p = Params {
        n: n as u32,
        r: r as u32,
        h: h as u32,
        w: w as u32,
        tile: tile as u32,
        tiles_x: tiles_x as u32,
        tiles_y: tiles_y as u32,
        min1: geo.min1 as u32,
        scale: geo.scale,
        offset: geo.offset,
        _pad0: 0,
        _pad1: 0,
    };
    if n * tiles_x * tiles_y > 0 {
        gpu.dispatch(op, &SHADER, "build", &p, &[Arg::R(rois), Arg::W(&lists)], grid_1d(n * tiles_x * tiles_y, 64))?;
    }
    Ok(TileLists { lists, tile, tiles_x, tiles_y })
}

/// Lavapipe ends a shader invocation after 65,535 loop iterations (all its loops together); the
/// backward gathers stay under this many per invocation by processing RoIs in chunks.
pub const LOOP_BUDGET: usize = 60_000;

/// Runs a backward `pass` on consecutive chunks of at most `chunk` RoIs (the rows of `rois` and
/// the same rows of each tensor in `per_roi`) and sums the input gradients in chunk order: the
/// result is deterministic, and no invocation loops over more RoIs than its budget allows.
pub fn sum_over_roi_chunks(
    gpu: &Gpu,
    rois: &Tensor,
    per_roi: &[&Tensor],
    chunk: usize,
    mut pass: impl FnMut(&Tensor, &[Tensor]) -> Result<Tensor>,
) -> Result<Tensor> {
    let r = rois.shape()[0];
    let chunk = chunk.max(1);
    if r <= chunk {
        let all: Vec<Tensor> = per_roi.iter().map(|t| (*t).clone()).collect();
        return pass(rois, &all);
    }
    let mut total: Option<Tensor> = None;
    for start in (0..r).step_by(chunk) {
        let count = chunk.min(r - start);
        let rc = gpu.slice_rows(rois, start, count)?;
        let parts: Vec<Tensor> = per_roi.iter().map(|t| gpu.slice_rows(t, start, count)).collect::<Result<_>>()?;
        let dx = pass(&rc, &parts)?;
        total = Some(match total {
            None => dx,
            Some(acc) => crate::ops::elementwise::add(gpu, &acc, &dx)?,
        });
    }
    total.ok_or_else(|| Error::invalid("roi_chunk", "no RoIs"))
}

/// CPU reference: the lists per (image, tile), in RoI order (mirrors the shader's f32 arithmetic).
pub fn cpu_lists(rois: &[f32], n: usize, h: usize, w: usize, tile: usize, geo: TileGeometry) -> Vec<Vec<u32>> {
    let (tx_n, ty_n) = (w.div_ceil(tile), h.div_ceil(tile));
    let span = |a: f32, b: f32, size: usize| -> (i64, i64) {
        if !a.is_finite() || !b.is_finite() {
            return (0, ((size - 1) / tile) as i64);
        }
        let lo = a.min(b).floor() - 2.0;
        let hi = a.max(b).ceil() + 2.0;
        let last = (size - 1) as f32;
        if hi < 0.0 || lo > last {
            return (1, 0);
        }
        ((lo.clamp(0.0, last) as i64) / tile as i64, (hi.clamp(0.0, last) as i64) / tile as i64)
    };
    let mut out = vec![Vec::new(); n * tx_n * ty_n];
    for (ri, row) in rois.chunks_exact(5).enumerate() {
        let b = row[0];
        if !(b >= 0.0 && b < n as f32) {
            continue;
        }
        let img = b as usize;
        let x1 = row[1] * geo.scale - geo.offset;
        let y1 = row[2] * geo.scale - geo.offset;
        let (mut x2, mut y2) = (row[3] * geo.scale - geo.offset, row[4] * geo.scale - geo.offset);
        if geo.min1 {
            x2 = x2.max(x1 + 1.0);
            y2 = y2.max(y1 + 1.0);
        }
        let (sx, sy) = (span(x1, x2, w), span(y1, y2, h));
        for ty in sy.0.max(0)..=sy.1 {
            for tx in sx.0.max(0)..=sx.1 {
                out[(img * ty_n + ty as usize) * tx_n + tx as usize].push(ri as u32);
            }
        }
    }
    out
}

/// Splits a read-back list buffer into lists (tests).
pub fn parse(words: &[u32], r: usize) -> Vec<Vec<u32>> {
    words.chunks_exact(r + 1).map(|c| c[1..1 + (c[0] as usize).min(r)].to_vec()).collect()
}
