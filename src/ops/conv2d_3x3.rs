//! The 3x3 / stride 1 / pad 1 fast path of conv2d on rows a multiple of 4 wide (register-blocked variant): launchers of shaders/conv2d_3x3*.wgsl and conv2d_pack.wgsl, and how they pick their blocks.

use super::conv2d::{grid, Conv2dParams, ConvGpuParams, Geometry};
use crate::error::Result;
use crate::gpu::{Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static FAST3: Shader = shader!("conv2d_3x3");
static PACK: Shader = shader!("conv2d_pack");
static WGRAD3: Shader = shader!("conv2d_3x3_wgrad");
static FAST3_SG: Shader = shader!("conv2d_3x3_sg");
static WGRAD3_SG: Shader = shader!("conv2d_3x3_wgrad_sg");

/// Mirrors `Params` in shaders/conv2d_pack.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PackParams {
    pub o: u32,
    pub c: u32,
    pub o4: u32,
    pub flip: u32,
}

/// Whether the register-blocked 3x3 fast path applies: 3x3, stride 1, pad 1, rows a multiple of 4 wide.
pub(super) fn fast3(g: &Geometry, p: Conv2dParams) -> bool {
    g.kh == 3 && g.kw == 3 && p.stride == 1 && p.pad == 1 && g.w.is_multiple_of(4)
}

/// Output channels a lane of the subgroup 3x3 kernels (conv2d_3x3_sg.wgsl) owns: 8 (`fwd3x3_sg`),
/// 16 or 32 (`fwd3x3_sg16`/`_sg32`, 1.28x and 1.38x its speed on lavapipe). Picks the least
/// time for `cout` channels counting the padded ones (20 channels: 32; 67: 16; 4: 8).
pub fn fast3_block(cout: usize) -> usize {
    // Relative speeds x 100, measured side by side (BENCHMARKS.md, session 3).
    cheapest_block(cout, &[(32, 138), (16, 128), (8, 100)])
}

/// Of `(channels a lane, relative speed x 100)` kernels, the one that covers `channels` (padded up
/// to whole blocks) in the least time; the first listed on ties.
fn cheapest_block(channels: usize, kernels: &[(usize, usize)]) -> usize {
    let cost = |&(block, speed): &(usize, usize)| channels.div_ceil(block) * block * 1000 / speed;
    kernels.iter().min_by_key(|k| cost(k)).map_or(8, |k| k.0)
}

/// Runs the 3x3 fast path: `src` [N, cin, H, W] -> `dst` [N, cout, H, W] with w [O, C, 3, 3] packed
/// as-is (`flip` false: cin = C, cout = O) or transposed and flipped (`flip` true: cin = O, cout = C).
#[allow(clippy::too_many_arguments)]
pub(super) fn run_fast3(
    gpu: &Gpu,
    op: &'static str,
    g: &Geometry,
    src: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    dst: &Tensor,
    flip: bool,
    flags: u32,
) -> Result<()> {
    let (cin, cout) = if flip { (g.o, g.c) } else { (g.c, g.o) };
    let cout4 = cout.div_ceil(4) * 4;
    let packed = gpu.empty(op, &[cin * 9 * cout4], DType::F32)?;
    let pp = PackParams { o: g.o as u32, c: g.c as u32, o4: cout4 as u32, flip: u32::from(flip) };
    gpu.dispatch(
        op,
        &PACK,
        "pack_weights",
        &pp,
        &[Arg::R(w), Arg::W(&packed)],
        crate::gpu::grid_1d(packed.numel(), 256),
    )?;
    let params = ConvGpuParams {
        n: g.n as u32,
        c: cin as u32,
        h: g.h as u32,
        w: g.w as u32,
        o: cout as u32,
        kh: 3,
        kw: 3,
        oh: g.h as u32,
        ow: g.w as u32,
        stride: 1,
        pad: 1,
        flags,
        mode: 0,
        gm: 0,
        gn: 0,
        gk: cout4 as u32,
    };
    if gpu.subgroups8() {
        let block = fast3_block(cout);
        let entry = match block {
            32 => "fwd3x3_sg32",
            16 => "fwd3x3_sg16",
            _ => "fwd3x3_sg",
        };
        let groups = grid(op, (g.n * g.h * g.w.div_ceil(8)).div_ceil(32), cout.div_ceil(block))?;
        // The subgroup kernels bind the input twice: as vec4 and as scalars (the window edges).
        let args = [Arg::R(src), Arg::R(&packed), Arg::R(bias), Arg::W(dst), Arg::R(src)];
        return gpu.dispatch(op, &FAST3_SG, entry, &params, &args, groups);
    }
    let groups = grid(op, (g.n * g.h * g.w.div_ceil(8)).div_ceil(32), cout.div_ceil(8))?;
    gpu.dispatch(op, &FAST3, "fwd3x3", &params, &[Arg::R(src), Arg::R(&packed), Arg::R(bias), Arg::W(dst)], groups)
}

/// Mirrors `Params` in shaders/conv2d_3x3_wgrad.wgsl and conv2d_3x3_wgrad_sg.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct WgradParams {
    pub n: u32,
    pub c: u32,
    pub h: u32,
    pub w: u32,
    pub o: u32,
    pub rows_per_chunk: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// Workgroups the 3x3 backward-weight kernels aim for. Their grid is (input channel, block of 8
/// output channels), a handful of workgroups for the narrow layers of a small net (one core's
/// work on lavapipe), so the N x H input rows are also split into chunks.
const WGRAD_TARGET_GROUPS: usize = 32;

/// Chunks of input rows for a backward-weight grid of `groups` workgroups over `rows` rows: enough
/// to reach [`WGRAD_TARGET_GROUPS`], at least 4 rows a chunk. Depends on the shapes only, so the
/// summation order (and the result) does not vary between runs.
pub fn wgrad_chunks(groups: usize, rows: usize) -> usize {
    let want = WGRAD_TARGET_GROUPS.div_ceil(groups.max(1));
    let chunks = want.clamp(1, rows.div_ceil(4).max(1));
    rows.div_ceil(rows.div_ceil(chunks)) // no empty chunk
}

/// Output channels a lane of the subgroup backward-weight kernel owns: 8 (`wgrad3x3_sg`) or 16
/// (`wgrad3x3_sg16`, 1.25x its speed on lavapipe), the one with the least time for `o` channels
/// counting the padded ones (4: 8; 12: 16; 67: 16).
pub fn wgrad_block(o: usize) -> usize {
    // Relative speeds x 100, measured side by side (BENCHMARKS.md, session 3).
    cheapest_block(o, &[(8, 100), (16, 125)])
}

/// dw [O, C, 3, 3] for the 3x3 / stride 1 / pad 1 fast path: the vec4 kernel, or with 8-lane
/// subgroups the one that shares dy across the subgroup; with more than one chunk of rows, the
/// chunks' partial dw are summed in chunk order by `reduce::sum` (deterministic).
pub(super) fn wgrad3x3(gpu: &Gpu, g: &Geometry, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_weight";
    let sg = gpu.subgroups8();
    let sg16 = sg && wgrad_block(g.o) == 16;
    let (gx, gy) = if sg16 {
        (g.c.div_ceil(8), g.o.div_ceil(16))
    } else if sg {
        (g.c.div_ceil(8), g.o.div_ceil(8))
    } else {
        ((g.o.div_ceil(8) * g.c).div_ceil(32), 1)
    };
    let rows = g.n * g.h;
    let chunks = wgrad_chunks(gx * gy, rows);
    let params = WgradParams {
        n: g.n as u32,
        c: g.c as u32,
        h: g.h as u32,
        w: g.w as u32,
        o: g.o as u32,
        rows_per_chunk: rows.div_ceil(chunks) as u32,
        _pad0: 0,
        _pad1: 0,
    };
    let mut groups = grid(OP, gx, gy)?;
    groups[2] = chunks as u32;
    let out = gpu.empty(OP, &[chunks, g.o, g.c, 3, 3], DType::F32)?;
    if sg {
        // x is bound twice: as vec4 and as scalars (the window edges).
        gpu.dispatch(
            OP,
            &WGRAD3_SG,
            if sg16 { "wgrad3x3_sg16" } else { "wgrad3x3_sg" },
            &params,
            &[Arg::R(x), Arg::R(dy), Arg::W(&out), Arg::R(x)],
            groups,
        )?;
    } else {
        gpu.dispatch(OP, &WGRAD3, "wgrad3x3", &params, &[Arg::R(x), Arg::R(dy), Arg::W(&out)], groups)?;
    }
    if chunks == 1 {
        return out.reshape(&[g.o, g.c, 3, 3]);
    }
    crate::ops::reduce::sum(gpu, &out, 0)
}
