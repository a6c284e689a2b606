//! Convolution as explicit GEMM for the register-blocked variant: im2col / col2im (shaders/im2col.wgsl) around the matmul kernels, with CPU references.
//!
//! The 3x3 / stride 1 / pad 1 convolutions have their own kernels (conv2d_3x3*.wgsl). The rest
//! (the paper head's conv6 3x3 and conv7 5x5 without padding on 7x7 RoI features, 1x1 and strided
//! convolutions) ran on a scalar implicit-GEMM kernel at 0.2-9 GFLOP/s on lavapipe; unfolded into
//! rows they run on the 32x8 subgroup matmul (about 50 GFLOP/s):
//! - forward: y rows [P, O] = cols [P, K] x W[O, K]^T, then NCHW;
//! - backward-data: dcols [P, K] = dy rows [P, O] x W[O, K], then col2im;
//! - backward-weight: dW [O, K] = dy rows^T x cols, summed over chunks in order.
//!
//! P = images x output pixels, K = C KH KW. Images go in chunks so that no unfolded matrix
//! passes [`CHUNK_BYTES`].

use super::conv2d::Conv2dParams;
use super::{elementwise, matmul, permute};
use crate::error::Result;
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("im2col");

/// Largest unfolded matrix (cols, dcols, or the [P, O] product) of one chunk of images.
pub const CHUNK_BYTES: usize = 64 << 20;

/// Mirrors `Params` in shaders/im2col.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Im2colParams {
    pub n0: u32,
    pub nc: u32,
    pub c: u32,
    pub h: u32,
    pub w: u32,
    pub kh: u32,
    pub kw: u32,
    pub oh: u32,
    pub ow: u32,
    pub stride: u32,
    pub pad: u32,
    pub _pad0: u32,
}

/// Sizes of a convolution for the GEMM path: input [n, c, h, w], weights [o, c, kh, kw], output
/// [n, o, oh, ow].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmShape {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub oh: usize,
    pub ow: usize,
    pub p: Conv2dParams,
    /// Largest unfolded matrix of a chunk of images: [`CHUNK_BYTES`] (smaller in tests).
    pub chunk_bytes: usize,
}

impl GemmShape {
    fn pixels(&self) -> usize {
        self.oh * self.ow
    }
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Images a chunk, or None when one image's unfolded matrices alone pass `chunk_bytes`.
    fn chunk(&self) -> Option<usize> {
        let per_image = self.pixels() * self.k().max(self.o) * 4;
        (per_image > 0 && per_image <= self.chunk_bytes).then(|| (self.chunk_bytes / per_image).clamp(1, self.n.max(1)))
    }
    fn params(&self, n0: usize, nc: usize) -> Im2colParams {
        Im2colParams {
            n0: n0 as u32,
            nc: nc as u32,
            c: self.c as u32,
            h: self.h as u32,
            w: self.w as u32,
            kh: self.kh as u32,
            kw: self.kw as u32,
            oh: self.oh as u32,
            ow: self.ow as u32,
            stride: self.p.stride as u32,
            pad: self.p.pad as u32,
            _pad0: 0,
        }
    }
    /// The image ranges (n0, nc) of the chunks.
    fn chunks(&self) -> Vec<(usize, usize)> {
        let step = self.chunk().unwrap_or(1);
        (0..self.n).step_by(step).map(|n0| (n0, step.min(self.n - n0))).collect()
    }
}

/// Smallest convolution (multiply-adds x 2) worth the path's 4-5 dispatches instead of one: below
/// it the direct kernel wins on lavapipe (an RPN's 1x1 heads on a 16x16 map, 1-4 MFLOP), above
/// it the GEMM does (the small preset's conv7, 6.5 MFLOP: 2 ms against 6 forward, 6 against 29
/// backward-data).
pub const MIN_FLOPS: usize = 5_000_000;

/// Whether the GEMM path can run a pass: the contiguous axes the vec4 matmul kernels need are
/// multiples of 4 (K for all three passes, O too for backward-weight) and one image fits a chunk.
pub fn applies(s: &GemmShape, needs_o4: bool) -> bool {
    s.k().is_multiple_of(4) && (!needs_o4 || s.o.is_multiple_of(4)) && s.chunk().is_some()
}

/// Whether it is worth it: at least [`MIN_FLOPS`].
pub fn worth_it(s: &GemmShape) -> bool {
    2 * s.n * s.pixels() * s.k() * s.o >= MIN_FLOPS
}

/// cols [nc P, K] of images n0 .. n0 + nc of x [N, C, H, W].
pub fn im2col(gpu: &Gpu, x: &Tensor, s: &GemmShape, n0: usize, nc: usize) -> Result<Tensor> {
    const OP: &str = "im2col";
    let cols = gpu.empty(OP, &[nc * s.pixels(), s.k()], DType::F32)?;
    let threads = nc * s.pixels() * s.c;
    gpu.dispatch(OP, &SHADER, "im2col", &s.params(n0, nc), &[Arg::R(x), Arg::W(&cols)], grid_1d(threads, 256))?;
    Ok(cols)
}

/// Writes images n0 .. n0 + nc of dx [N, C, H, W] from their rows' gradients dcols [nc P, K].
pub fn col2im(gpu: &Gpu, dcols: &Tensor, dx: &Tensor, s: &GemmShape, n0: usize, nc: usize) -> Result<()> {
    const OP: &str = "col2im";
    let threads = nc * s.c * s.h * s.w;
    gpu.dispatch(OP, &SHADER, "col2im", &s.params(n0, nc), &[Arg::R(dcols), Arg::W(dx)], grid_1d(threads, 256))
}

/// dy rows [nc P, O] of images n0 .. n0 + nc of dy [N, O, OH, OW].
fn dy_rows(gpu: &Gpu, dy: &Tensor, s: &GemmShape, n0: usize, nc: usize) -> Result<Tensor> {
    let part = gpu.slice_rows(dy, n0, nc)?.reshape(&[nc, s.o, s.pixels()])?;
    permute::permute(gpu, &part, &[0, 2, 1])?.reshape(&[nc * s.pixels(), s.o])
}

/// y [N, O, OH, OW] = conv(x, w) without bias (the caller adds it).
pub fn forward(gpu: &Gpu, x: &Tensor, w: &Tensor, s: &GemmShape) -> Result<Tensor> {
    let w2 = w.reshape(&[s.o, s.k()])?;
    let chunks = s.chunks();
    let out_shape = [s.n, s.o, s.oh, s.ow];
    let y = if chunks.len() > 1 { Some(gpu.empty("conv2d_forward", &out_shape, DType::F32)?) } else { None };
    for (n0, nc) in chunks {
        let cols = im2col(gpu, x, s, n0, nc)?;
        let rows = matmul::matmul(gpu, &cols, &w2, false, true)?.reshape(&[nc, s.pixels(), s.o])?;
        let part = permute::permute(gpu, &rows, &[0, 2, 1])?;
        match &y {
            Some(y) => gpu.copy_region(&part, 0, y, n0 * s.o * s.pixels(), part.numel())?,
            None => return part.reshape(&out_shape),
        }
    }
    Ok(y.expect("more than one chunk"))
}

/// dx [N, C, H, W] of y = conv(x, w) given dy.
pub fn backward_data(gpu: &Gpu, dy: &Tensor, w: &Tensor, s: &GemmShape) -> Result<Tensor> {
    let w2 = w.reshape(&[s.o, s.k()])?;
    let dx = gpu.empty("conv2d_backward_data", &[s.n, s.c, s.h, s.w], DType::F32)?;
    for (n0, nc) in s.chunks() {
        let rows = dy_rows(gpu, dy, s, n0, nc)?;
        let dcols = matmul::matmul(gpu, &rows, &w2, false, false)?;
        col2im(gpu, &dcols, &dx, s, n0, nc)?;
    }
    Ok(dx)
}

/// dw [O, C, KH, KW] of y = conv(x, w) given dy: the chunks' products added in chunk order.
pub fn backward_weight(gpu: &Gpu, x: &Tensor, dy: &Tensor, s: &GemmShape) -> Result<Tensor> {
    let mut dw: Option<Tensor> = None;
    for (n0, nc) in s.chunks() {
        let cols = im2col(gpu, x, s, n0, nc)?;
        let rows = dy_rows(gpu, dy, s, n0, nc)?;
        let part = matmul::matmul(gpu, &rows, &cols, true, false)?;
        dw = Some(match dw {
            Some(acc) => elementwise::add(gpu, &acc, &part)?,
            None => part,
        });
    }
    dw.expect("at least one image").reshape(&[s.o, s.c, s.kh, s.kw])
}

/// CPU references of the two unfolding kernels.
pub mod cpu {
    use super::GemmShape;

    /// Calls `f(cols index, x index)` for every tap of images n0 .. n0 + nc that lands inside the
    /// image (the padding has no x index), in cols order.
    fn for_each_tap(s: &GemmShape, n0: usize, nc: usize, mut f: impl FnMut(usize, usize)) {
        let (k, taps) = (s.c * s.kh * s.kw, s.kh * s.kw);
        for row in 0..nc * s.oh * s.ow {
            let (nl, oy, ox) = (row / (s.oh * s.ow), row / s.ow % s.oh, row % s.ow);
            for c in 0..s.c {
                for ky in 0..s.kh {
                    for kx in 0..s.kw {
                        let iy = (oy * s.p.stride + ky) as isize - s.p.pad as isize;
                        let ix = (ox * s.p.stride + kx) as isize - s.p.pad as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < s.h && (ix as usize) < s.w {
                            let src = (((n0 + nl) * s.c + c) * s.h + iy as usize) * s.w + ix as usize;
                            f(row * k + c * taps + ky * s.kw + kx, src);
                        }
                    }
                }
            }
        }
    }

    /// cols [nc P, K] of images n0 .. n0 + nc of x.
    pub fn im2col(x: &[f32], s: &GemmShape, n0: usize, nc: usize) -> Vec<f32> {
        let mut cols = vec![0.0; nc * s.oh * s.ow * s.c * s.kh * s.kw];
        for_each_tap(s, n0, nc, |col, src| cols[col] = x[src]);
        cols
    }

    /// The adjoint of [`im2col`]: images n0 .. n0 + nc of dx (the others 0), summed in f64.
    pub fn col2im(dcols: &[f32], s: &GemmShape, n0: usize, nc: usize) -> Vec<f32> {
        let mut dx = vec![0.0f64; s.n * s.c * s.h * s.w];
        for_each_tap(s, n0, nc, |col, dst| dx[dst] += dcols[col] as f64);
        dx.into_iter().map(|v| v as f32).collect()
    }
}
