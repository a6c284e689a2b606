//! Max-pool 2d forward (with a u32 argmax) and its gather-form backward; CPU references.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("maxpool");

/// Square window, stride and padding (padding cells never win; 2 pad <= kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2dParams {
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

impl MaxPool2dParams {
    /// Output size along one axis, or None when the window does not fit.
    pub fn out_size(&self, size: usize) -> Option<usize> {
        let padded = size + 2 * self.pad;
        if self.stride == 0 || self.kernel == 0 || padded < self.kernel {
            return None;
        }
        Some((padded - self.kernel) / self.stride + 1)
    }
}

/// Mirrors `Params` in shaders/maxpool.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MaxPoolGpuParams {
    pub n: u32,
    pub c: u32,
    pub h: u32,
    pub w: u32,
    pub oh: u32,
    pub ow: u32,
    pub k: u32,
    pub stride: u32,
    pub pad: u32,
    pub _pad: [u32; 3],
}

fn gpu_params(op: &str, xs: &[usize], p: MaxPool2dParams) -> Result<MaxPoolGpuParams> {
    if xs.len() != 4 {
        return Err(Error::shape(op, format!("input {xs:?} must be 4-D [N,C,H,W]")));
    }
    if 2 * p.pad > p.kernel {
        return Err(Error::invalid(op, format!("padding {} must be at most half the kernel {}", p.pad, p.kernel)));
    }
    let (Some(oh), Some(ow)) = (p.out_size(xs[2]), p.out_size(xs[3])) else {
        return Err(Error::shape(op, format!("window {:?} does not fit input {xs:?}", p)));
    };
    Ok(MaxPoolGpuParams {
        n: xs[0] as u32,
        c: xs[1] as u32,
        h: xs[2] as u32,
        w: xs[3] as u32,
        oh: oh as u32,
        ow: ow as u32,
        k: p.kernel as u32,
        stride: p.stride as u32,
        pad: p.pad as u32,
        _pad: [0; 3],
    })
}

/// y [N,C,OH,OW] = window max of x, and argmax (u32, same shape): the index iy * W + ix of the
/// winning cell inside its input plane (first maximum in row-major window order).
pub fn maxpool2d_forward(gpu: &Gpu, x: &Tensor, p: MaxPool2dParams) -> Result<(Tensor, Tensor)> {
    const OP: &str = "maxpool2d_forward";
    if x.dtype() != DType::F32 {
        return Err(Error::invalid(OP, "x must be F32"));
    }
    let gp = gpu_params(OP, x.shape(), p)?;
    let ys = [x.shape()[0], x.shape()[1], gp.oh as usize, gp.ow as usize];
    let y = gpu.empty(OP, &ys, DType::F32)?;
    let arg = gpu.empty(OP, &ys, DType::U32)?;
    if y.numel() > 0 && x.numel() > 0 {
        gpu.dispatch(
            OP,
            &SHADER,
            "maxpool_forward",
            &gp,
            &[Arg::R(x), Arg::W(&arg), Arg::W(&y)],
            grid_1d(y.numel(), 256),
        )?;
    }
    Ok((y, arg))
}

/// dx [input_shape] from dy and the forward's argmax: one thread a window for disjoint windows
/// (see [`disjoint_windows`]), else the general gather ([`maxpool2d_backward_gather`]).
pub fn maxpool2d_backward(
    gpu: &Gpu,
    dy: &Tensor,
    argmax: &Tensor,
    input_shape: &[usize],
    p: MaxPool2dParams,
) -> Result<Tensor> {
    backward(gpu, dy, argmax, input_shape, p, disjoint_windows(p))
}

/// The general backward: each input cell gathers the dy of the windows that chose it (any
/// window; what [`maxpool2d_backward`] runs for overlapping or padded windows).
pub fn maxpool2d_backward_gather(
    gpu: &Gpu,
    dy: &Tensor,
    argmax: &Tensor,
    input_shape: &[usize],
    p: MaxPool2dParams,
) -> Result<Tensor> {
    backward(gpu, dy, argmax, input_shape, p, false)
}

fn backward(
    gpu: &Gpu,
    dy: &Tensor,
    argmax: &Tensor,
    input_shape: &[usize],
    p: MaxPool2dParams,
    per_window: bool,
) -> Result<Tensor> {
    const OP: &str = "maxpool2d_backward";
    let gp = gpu_params(OP, input_shape, p)?;
    let ys = [input_shape[0], input_shape[1], gp.oh as usize, gp.ow as usize];
    if dy.shape() != ys || argmax.shape() != ys {
        return Err(Error::shape(OP, format!("dy {:?} and argmax {:?} must be {ys:?}", dy.shape(), argmax.shape())));
    }
    if dy.dtype() != DType::F32 || argmax.dtype() != DType::U32 {
        return Err(Error::invalid(OP, "dy must be F32 and argmax U32"));
    }
    let dx = gpu.empty(OP, input_shape, DType::F32)?;
    if dx.numel() == 0 {
        return Ok(dx);
    }
    let args = [Arg::R(dy), Arg::W(argmax), Arg::W(&dx)];
    if per_window {
        let (h, w) = (input_shape[2], input_shape[3]);
        if h % p.kernel != 0 || w % p.kernel != 0 {
            crate::ops::elementwise::fill(gpu, &dx, 0.0)?; // cells no window covers
        }
        gpu.dispatch(OP, &SHADER, "maxpool_backward_disjoint", &gp, &args, grid_1d(dy.numel(), 256))?;
    } else {
        gpu.dispatch(OP, &SHADER, "maxpool_backward", &gp, &args, grid_1d(dx.numel(), 256))?;
    }
    Ok(dx)
}

/// Windows that tile the input without overlap or padding (k == stride, pad 0): the backward
/// can then write each window's cells from one thread instead of gathering per input cell.
pub fn disjoint_windows(p: MaxPool2dParams) -> bool {
    p.kernel == p.stride && p.pad == 0
}

/// CPU references (generic over f32/f64 through f64 inputs).
pub mod cpu {
    use super::MaxPool2dParams;

    /// (y, argmax) for x [N,C,H,W].
    pub fn forward(x: &[f64], xs: [usize; 4], p: MaxPool2dParams) -> (Vec<f64>, Vec<u32>) {
        let [n, c, h, w] = xs;
        let (oh, ow) = (p.out_size(h).unwrap_or(0), p.out_size(w).unwrap_or(0));
        let mut y = Vec::with_capacity(n * c * oh * ow);
        let mut arg = Vec::with_capacity(n * c * oh * ow);
        for plane in 0..n * c {
            let xp = &x[plane * h * w..(plane + 1) * h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    let y0 = (oy * p.stride) as isize - p.pad as isize;
                    let x0 = (ox * p.stride) as isize - p.pad as isize;
                    let (ylo, xlo) = (y0.max(0) as usize, x0.max(0) as usize);
                    let yhi = ((y0 + p.kernel as isize).min(h as isize)) as usize;
                    let xhi = ((x0 + p.kernel as isize).min(w as isize)) as usize;
                    let mut best = (xp[ylo * w + xlo], ylo * w + xlo);
                    for iy in ylo..yhi {
                        for ix in xlo..xhi {
                            if xp[iy * w + ix] > best.0 {
                                best = (xp[iy * w + ix], iy * w + ix);
                            }
                        }
                    }
                    y.push(best.0);
                    arg.push(best.1 as u32);
                }
            }
        }
        (y, arg)
    }

    /// dx from dy and argmax (scatter form, the opposite order from the GPU's gather).
    pub fn backward(dy: &[f64], argmax: &[u32], xs: [usize; 4], p: MaxPool2dParams) -> Vec<f64> {
        let [n, c, h, w] = xs;
        let plane_out = p.out_size(h).unwrap_or(0) * p.out_size(w).unwrap_or(0);
        let mut dx = vec![0.0; n * c * h * w];
        for plane in 0..n * c {
            for o in 0..plane_out {
                let i = plane * plane_out + o;
                dx[plane * h * w + argmax[i] as usize] += dy[i];
            }
        }
        dx
    }
}
