//! Conv2d (NCHW) forward with bias and optional fused ReLU, backward-data, backward-weight and backward-bias, as implicit GEMM; CPU references.

use super::conv2d_3x3::{fast3, run_fast3, wgrad3x3};
use super::conv2d_gemm::{self, GemmShape};
use super::{broadcast, elementwise};
use crate::error::{Error, Result};
use crate::gpu::{Arg, Gpu, Shader, Variant};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("conv2d");
static BIAS: Shader = shader!("conv2d_bias");

/// Square stride and zero padding of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    pub stride: usize,
    pub pad: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams { stride: 1, pad: 0 }
    }
}

impl Conv2dParams {
    /// Output size along one axis: (size + 2 pad - k) / stride + 1, or None when the kernel does not fit.
    pub fn out_size(&self, size: usize, k: usize) -> Option<usize> {
        let padded = size + 2 * self.pad;
        if self.stride == 0 || padded < k {
            return None;
        }
        Some((padded - k) / self.stride + 1)
    }
}

/// Mirrors `Params` in shaders/conv2d.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvGpuParams {
    pub n: u32,
    pub c: u32,
    pub h: u32,
    pub w: u32,
    pub o: u32,
    pub kh: u32,
    pub kw: u32,
    pub oh: u32,
    pub ow: u32,
    pub stride: u32,
    pub pad: u32,
    pub flags: u32,
    pub mode: u32,
    pub gm: u32,
    pub gn: u32,
    pub gk: u32,
}

/// Sizes of one convolution, checked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) o: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
}

impl Geometry {
    fn new(op: &str, input: &[usize], weight: &[usize], p: Conv2dParams) -> Result<Geometry> {
        if input.len() != 4 || weight.len() != 4 {
            return Err(Error::shape(op, format!("input {input:?} and weight {weight:?} must both be 4-D")));
        }
        if input[1] != weight[1] {
            return Err(Error::shape(
                op,
                format!("input {input:?} has {} channels, weight {weight:?} expects {}", input[1], weight[1]),
            ));
        }
        if p.stride == 0 {
            return Err(Error::invalid(op, "stride must be at least 1"));
        }
        let (kh, kw) = (weight[2], weight[3]);
        let (Some(oh), Some(ow)) = (p.out_size(input[2], kh), p.out_size(input[3], kw)) else {
            return Err(Error::shape(
                op,
                format!("kernel {kh}x{kw} does not fit input {input:?} with padding {}", p.pad),
            ));
        };
        Ok(Geometry { n: input[0], c: input[1], h: input[2], w: input[3], o: weight[0], kh, kw, oh, ow })
    }

    fn params(&self, p: Conv2dParams, flags: u32, mode: u32, gemm: [usize; 3]) -> ConvGpuParams {
        ConvGpuParams {
            n: self.n as u32,
            c: self.c as u32,
            h: self.h as u32,
            w: self.w as u32,
            o: self.o as u32,
            kh: self.kh as u32,
            kw: self.kw as u32,
            oh: self.oh as u32,
            ow: self.ow as u32,
            stride: p.stride as u32,
            pad: p.pad as u32,
            flags,
            mode,
            gm: gemm[0] as u32,
            gn: gemm[1] as u32,
            gk: gemm[2] as u32,
        }
    }

    fn output(&self) -> [usize; 4] {
        [self.n, self.o, self.oh, self.ow]
    }

    /// The shape for the explicit-GEMM path, when a pass runs there: register-blocked variant, not
    /// the 3x3 fast path, big enough, and aligned for the vec4 matmul kernels (`needs_o4`:
    /// backward-weight).
    fn gemm(&self, gpu: &Gpu, p: Conv2dParams, needs_o4: bool) -> Option<GemmShape> {
        let s = GemmShape {
            n: self.n,
            c: self.c,
            h: self.h,
            w: self.w,
            o: self.o,
            kh: self.kh,
            kw: self.kw,
            oh: self.oh,
            ow: self.ow,
            p,
            chunk_bytes: conv2d_gemm::CHUNK_BYTES,
        };
        let eligible = gpu.variant() == Variant::RegisterBlocked && !fast3(self, p);
        (eligible && conv2d_gemm::worth_it(&s) && conv2d_gemm::applies(&s, needs_o4)).then_some(s)
    }
}

fn check_f32(op: &str, t: &Tensor, name: &str) -> Result<()> {
    if t.dtype() != DType::F32 {
        return Err(Error::invalid(op, format!("{name} is {:?}, expected F32", t.dtype())));
    }
    Ok(())
}

pub(super) fn grid(op: &str, x: usize, y: usize) -> Result<[u32; 3]> {
    if x > crate::gpu::MAX_GROUPS as usize || y > crate::gpu::MAX_GROUPS as usize {
        return Err(Error::invalid(op, format!("needs a grid of {x}x{y} workgroups, over the 65,535 limit")));
    }
    Ok([x as u32, y as u32, 1])
}

/// Tiled GEMM grid: 64x64 blocks of C[gm, gn].
fn tiled_grid(op: &str, gm: usize, gn: usize) -> Result<[u32; 3]> {
    grid(op, gn.div_ceil(64), gm.div_ceil(64))
}

/// y = conv(x, w) + bias: x [N,C,H,W], w [O,C,KH,KW], bias [O]; y [N,O,OH,OW].
pub fn conv2d_forward(gpu: &Gpu, x: &Tensor, w: &Tensor, bias: Option<&Tensor>, p: Conv2dParams) -> Result<Tensor> {
    conv2d_forward_act(gpu, x, w, bias, p, false)
}

/// Forward with an optional ReLU fused into the epilogue (y = max(conv + bias, 0)).
pub fn conv2d_forward_act(
    gpu: &Gpu,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: Conv2dParams,
    relu: bool,
) -> Result<Tensor> {
    const OP: &str = "conv2d_forward";
    check_f32(OP, x, "x")?;
    check_f32(OP, w, "w")?;
    let g = Geometry::new(OP, x.shape(), w.shape(), p)?;
    if let Some(b) = bias {
        check_f32(OP, b, "bias")?;
        if b.shape() != [g.o] {
            return Err(Error::shape(OP, format!("bias {:?} must be [{}]", b.shape(), g.o)));
        }
    }
    let gk = g.c * g.kh * g.kw;
    if gk == 0 {
        let y = gpu.zeros(&g.output(), DType::F32)?;
        // An empty reduction still gets the bias: route through the normal epilogue by a 0-channel GEMM is
        // not possible, so only the bias-free case is exact here; refuse the other.
        if bias.is_some() || relu {
            return Err(Error::invalid(
                OP,
                "a convolution over zero input channels with bias or ReLU is not supported",
            ));
        }
        return Ok(y);
    }
    if g.output().iter().product::<usize>() == 0 {
        return gpu.empty(OP, &g.output(), DType::F32);
    }
    if let Some(s) = g.gemm(gpu, p, false) {
        let mut y = conv2d_gemm::forward(gpu, x, w, &s)?;
        if let Some(b) = bias {
            y = broadcast::bias_add(gpu, &y, b, 1)?;
        }
        return if relu { elementwise::relu(gpu, &y) } else { Ok(y) };
    }
    let y = gpu.empty(OP, &g.output(), DType::F32)?;
    let flags = u32::from(bias.is_some()) | (u32::from(relu) << 1);
    let gemm = [g.o, g.n * g.oh * g.ow, gk];
    let params = g.params(p, flags, 0, gemm);
    // Without a bias the binding still needs a buffer; the shader ignores it (flag bit 0 clear).
    let b = bias.unwrap_or(w);
    let args = [Arg::R(x), Arg::R(w), Arg::R(b), Arg::W(&y)];
    match gpu.variant() {
        Variant::RegisterBlocked if fast3(&g, p) => run_fast3(gpu, OP, &g, x, w, b, &y, false, flags)?,
        Variant::RegisterBlocked => {
            let groups = grid(OP, (g.n * g.oh * g.ow.div_ceil(8)).div_ceil(32), g.o.div_ceil(8))?;
            gpu.dispatch(OP, &SHADER, "fwd_rb", &params, &args, groups)?;
        }
        Variant::WorkgroupTiled => {
            gpu.dispatch(OP, &SHADER, "conv_tiled", &params, &args, tiled_grid(OP, gemm[0], gemm[1])?)?;
        }
    }
    Ok(y)
}

/// dx from dy [N,O,OH,OW] and w [O,C,KH,KW]: the transposed convolution, shaped `input_shape`.
pub fn conv2d_backward_data(
    gpu: &Gpu,
    dy: &Tensor,
    w: &Tensor,
    input_shape: &[usize],
    p: Conv2dParams,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_data";
    check_f32(OP, dy, "dy")?;
    check_f32(OP, w, "w")?;
    let g = Geometry::new(OP, input_shape, w.shape(), p)?;
    if dy.shape() != g.output() {
        return Err(Error::shape(OP, format!("dy {:?} must be {:?}", dy.shape(), g.output())));
    }
    let gk = g.o * g.kh * g.kw;
    if gk == 0 {
        return gpu.zeros(input_shape, DType::F32);
    }
    if input_shape.iter().product::<usize>() == 0 {
        return gpu.empty(OP, input_shape, DType::F32);
    }
    if let Some(s) = g.gemm(gpu, p, false) {
        return conv2d_gemm::backward_data(gpu, dy, w, &s);
    }
    let dx = gpu.empty(OP, input_shape, DType::F32)?;
    let gemm = [g.c, g.n * g.h * g.w, gk];
    let params = g.params(p, 0, 1, gemm);
    let args = [Arg::R(dy), Arg::R(w), Arg::R(w), Arg::W(&dx)];
    match gpu.variant() {
        Variant::RegisterBlocked if fast3(&g, p) => run_fast3(gpu, OP, &g, dy, w, w, &dx, true, 0)?,
        Variant::RegisterBlocked => {
            let groups = grid(OP, (g.n * g.h * g.w.div_ceil(8)).div_ceil(32), g.c.div_ceil(8))?;
            gpu.dispatch(OP, &SHADER, "bwd_data_rb", &params, &args, groups)?;
        }
        Variant::WorkgroupTiled => {
            gpu.dispatch(OP, &SHADER, "conv_tiled", &params, &args, tiled_grid(OP, gemm[0], gemm[1])?)?;
        }
    }
    Ok(dx)
}

/// dw [O,C,KH,KW] from x [N,C,H,W] and dy [N,O,OH,OW]: a GEMM of the input patches and dy.
pub fn conv2d_backward_weight(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    weight_shape: &[usize],
    p: Conv2dParams,
) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_weight";
    check_f32(OP, x, "x")?;
    check_f32(OP, dy, "dy")?;
    let g = Geometry::new(OP, x.shape(), weight_shape, p)?;
    if dy.shape() != g.output() {
        return Err(Error::shape(OP, format!("dy {:?} must be {:?}", dy.shape(), g.output())));
    }
    let gk = g.n * g.oh * g.ow;
    if gk == 0 {
        return gpu.zeros(weight_shape, DType::F32);
    }
    if weight_shape.iter().product::<usize>() == 0 {
        return gpu.empty(OP, weight_shape, DType::F32);
    }
    if gpu.variant() == Variant::RegisterBlocked && fast3(&g, p) {
        return wgrad3x3(gpu, &g, x, dy);
    }
    if let Some(s) = g.gemm(gpu, p, true) {
        return conv2d_gemm::backward_weight(gpu, x, dy, &s);
    }
    let dw = gpu.empty(OP, weight_shape, DType::F32)?;
    let gemm = [g.o, g.c * g.kh * g.kw, gk];
    let params = g.params(p, 0, 2, gemm);
    let args = [Arg::R(x), Arg::R(dy), Arg::R(dy), Arg::W(&dw)];
    match gpu.variant() {
        Variant::RegisterBlocked => {
            let groups = grid(OP, (g.kh * g.kw * g.c.div_ceil(8)).div_ceil(8), g.o.div_ceil(8))?;
            gpu.dispatch(OP, &SHADER, "bwd_weight_rb", &params, &args, groups)?;
        }
        Variant::WorkgroupTiled => {
            gpu.dispatch(OP, &SHADER, "conv_tiled", &params, &args, tiled_grid(OP, gemm[0], gemm[1])?)?;
        }
    }
    Ok(dw)
}

/// Mirrors `Params` in shaders/conv2d_bias.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BiasParams {
    pub n: u32,
    pub c: u32,
    pub hw: u32,
    pub _pad: u32,
}

/// db [O] = sum of dy [N,O,OH,OW] over N, OH and OW (one invocation a channel, fixed order: deterministic).
pub fn conv2d_backward_bias(gpu: &Gpu, dy: &Tensor) -> Result<Tensor> {
    const OP: &str = "conv2d_backward_bias";
    check_f32(OP, dy, "dy")?;
    if dy.shape().len() != 4 {
        return Err(Error::shape(OP, format!("dy {:?} must be 4-D", dy.shape())));
    }
    let [n, c, h, w] = [dy.shape()[0], dy.shape()[1], dy.shape()[2], dy.shape()[3]];
    if n * h * w == 0 {
        return gpu.zeros(&[c], DType::F32);
    }
    let db = gpu.empty(OP, &[c], DType::F32)?;
    let params = BiasParams { n: n as u32, c: c as u32, hw: (h * w) as u32, _pad: 0 };
    gpu.dispatch(OP, &BIAS, "bias_grad", &params, &[Arg::R(dy), Arg::W(&db)], crate::gpu::grid_1d(c, 64))?;
    Ok(db)
}

/// CPU references (f64 accumulation), generic over the float type so gradient checks can run in f64.
pub mod cpu {
    use super::Conv2dParams;

    /// Input coordinate of output position `o` and kernel tap `k`, or None in the padding.
    fn src(o: usize, k: usize, p: Conv2dParams, size: usize) -> Option<usize> {
        let i = (o * p.stride + k) as isize - p.pad as isize;
        (i >= 0 && (i as usize) < size).then_some(i as usize)
    }

    /// y [N,O,OH,OW] = conv(x [N,C,H,W], w [O,C,KH,KW]) + bias.
    pub fn forward(
        x: &[f64],
        xs: [usize; 4],
        w: &[f64],
        ws: [usize; 4],
        bias: Option<&[f64]>,
        p: Conv2dParams,
    ) -> Vec<f64> {
        let [n, c, h, wd] = xs;
        let [o, _, kh, kw] = ws;
        let oh = p.out_size(h, kh).unwrap_or(0);
        let ow = p.out_size(wd, kw).unwrap_or(0);
        let mut y = vec![0.0f64; n * o * oh * ow];
        for b in 0..n {
            for oc in 0..o {
                for yy in 0..oh {
                    for xx in 0..ow {
                        let mut s = bias.map_or(0.0, |bv| bv[oc]);
                        for ic in 0..c {
                            for ky in 0..kh {
                                let Some(iy) = src(yy, ky, p, h) else { continue };
                                for kx in 0..kw {
                                    let Some(ix) = src(xx, kx, p, wd) else { continue };
                                    s += w[((oc * c + ic) * kh + ky) * kw + kx] * x[((b * c + ic) * h + iy) * wd + ix];
                                }
                            }
                        }
                        y[((b * o + oc) * oh + yy) * ow + xx] = s;
                    }
                }
            }
        }
        y
    }

    /// dx [N,C,H,W] from dy and w (scatter form of the transposed convolution).
    pub fn backward_data(dy: &[f64], w: &[f64], ws: [usize; 4], xs: [usize; 4], p: Conv2dParams) -> Vec<f64> {
        let [n, c, h, wd] = xs;
        let [o, _, kh, kw] = ws;
        let oh = p.out_size(h, kh).unwrap_or(0);
        let ow = p.out_size(wd, kw).unwrap_or(0);
        let mut dx = vec![0.0f64; n * c * h * wd];
        for b in 0..n {
            for oc in 0..o {
                for yy in 0..oh {
                    for xx in 0..ow {
                        let g = dy[((b * o + oc) * oh + yy) * ow + xx];
                        for ic in 0..c {
                            for ky in 0..kh {
                                let Some(iy) = src(yy, ky, p, h) else { continue };
                                for kx in 0..kw {
                                    let Some(ix) = src(xx, kx, p, wd) else { continue };
                                    dx[((b * c + ic) * h + iy) * wd + ix] += g * w[((oc * c + ic) * kh + ky) * kw + kx];
                                }
                            }
                        }
                    }
                }
            }
        }
        dx
    }

    /// dw [O,C,KH,KW] from x and dy.
    pub fn backward_weight(x: &[f64], xs: [usize; 4], dy: &[f64], ws: [usize; 4], p: Conv2dParams) -> Vec<f64> {
        let [n, c, h, wd] = xs;
        let [o, _, kh, kw] = ws;
        let oh = p.out_size(h, kh).unwrap_or(0);
        let ow = p.out_size(wd, kw).unwrap_or(0);
        let mut dw = vec![0.0f64; o * c * kh * kw];
        for b in 0..n {
            for oc in 0..o {
                for yy in 0..oh {
                    for xx in 0..ow {
                        let g = dy[((b * o + oc) * oh + yy) * ow + xx];
                        for ic in 0..c {
                            for ky in 0..kh {
                                let Some(iy) = src(yy, ky, p, h) else { continue };
                                for kx in 0..kw {
                                    let Some(ix) = src(xx, kx, p, wd) else { continue };
                                    dw[((oc * c + ic) * kh + ky) * kw + kx] += g * x[((b * c + ic) * h + iy) * wd + ix];
                                }
                            }
                        }
                    }
                }
            }
        }
        dw
    }

    /// db [O] = sum of dy over N, OH, OW.
    pub fn backward_bias(dy: &[f64], dys: [usize; 4]) -> Vec<f64> {
        let [n, o, oh, ow] = dys;
        let plane = oh * ow;
        (0..o)
            .map(|oc| (0..n).map(|b| dy[(b * o + oc) * plane..(b * o + oc + 1) * plane].iter().sum::<f64>()).sum())
            .collect()
    }

    /// f32 <-> f64 helpers for tests and benches.
    pub fn to_f64(v: &[f32]) -> Vec<f64> {
        v.iter().map(|&x| x as f64).collect()
    }
    pub fn to_f32(v: &[f64]) -> Vec<f32> {
        v.iter().map(|&x| x as f32).collect()
    }
}
