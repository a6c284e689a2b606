//! Broadcast ops: a per-channel bias added along one axis (Linear rows, NCHW channels): launcher and CPU reference.
//!
//! The backward of `bias_add` is `reduce::channel_sum` on the same axis; `expand_scalar` is the
//! backward of a whole-tensor sum or mean.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("broadcast");

/// Mirrors `Params` in shaders/broadcast.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BroadcastParams {
    pub n: u32,
    pub c: u32,
    pub inner: u32,
    pub scale: f32,
}

/// x + b broadcast along `axis` (`b` has `x.shape()[axis]` elements).
pub fn bias_add(gpu: &Gpu, x: &Tensor, b: &Tensor, axis: usize) -> Result<Tensor> {
    let op = "bias_add";
    let s = x.shape();
    if axis >= s.len() || b.numel() != s[axis] {
        return Err(Error::shape(op, format!("bias {:?} along axis {axis} of {s:?}", b.shape())));
    }
    if x.dtype() != DType::F32 || b.dtype() != DType::F32 {
        return Err(Error::invalid(op, "x and b must be F32"));
    }
    let inner: usize = s[axis + 1..].iter().product();
    let out = gpu.empty(op, s, DType::F32)?;
    let params = BroadcastParams { n: x.numel() as u32, c: s[axis] as u32, inner: inner.max(1) as u32, scale: 1.0 };
    gpu.dispatch(op, &SHADER, "bias_add", &params, &[Arg::R(x), Arg::R(b), Arg::W(&out)], grid_1d(x.numel(), 256))?;
    Ok(out)
}

/// `scale * s[0]` repeated to fill `shape` (`s` has one element, on the GPU: no readback).
pub fn expand_scalar(gpu: &Gpu, s: &Tensor, shape: &[usize], scale: f32) -> Result<Tensor> {
    let op = "expand_scalar";
    if s.numel() != 1 || s.dtype() != DType::F32 {
        return Err(Error::shape(op, format!("needs a one-element F32 tensor, got {:?} {:?}", s.shape(), s.dtype())));
    }
    let out = gpu.empty(op, shape, DType::F32)?;
    let params = BroadcastParams { n: out.numel() as u32, c: 1, inner: 1, scale };
    gpu.dispatch(
        op,
        &SHADER,
        "expand_scalar",
        &params,
        &[Arg::R(s), Arg::R(s), Arg::W(&out)],
        grid_1d(out.numel(), 256),
    )?;
    Ok(out)
}

/// `x` (shaped like `shape` with `axis` removed) repeated `shape[axis]` times along `axis`, times
/// `scale`: the backward of `reduce::sum` / `reduce::mean` along `axis`.
pub fn expand_axis(gpu: &Gpu, x: &Tensor, shape: &[usize], axis: usize, scale: f32) -> Result<Tensor> {
    let op = "expand_axis";
    if axis >= shape.len() {
        return Err(Error::shape(op, format!("axis {axis} out of range for {shape:?}")));
    }
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    if x.numel() != outer * inner || x.dtype() != DType::F32 {
        return Err(Error::shape(op, format!("{:?} cannot expand to {shape:?} along axis {axis}", x.shape())));
    }
    let out = gpu.empty(op, shape, DType::F32)?;
    let params = BroadcastParams { n: out.numel() as u32, c: shape[axis] as u32, inner: inner.max(1) as u32, scale };
    gpu.dispatch(
        op,
        &SHADER,
        "expand_axis",
        &params,
        &[Arg::R(x), Arg::R(x), Arg::W(&out)],
        grid_1d(out.numel(), 256),
    )?;
    Ok(out)
}

/// CPU reference.
pub mod cpu {
    pub fn bias_add(x: &[f32], shape: &[usize], b: &[f32], axis: usize) -> Vec<f32> {
        let inner: usize = shape[axis + 1..].iter().product();
        let c = shape[axis];
        x.iter().enumerate().map(|(i, v)| v + b[(i / inner.max(1)) % c]).collect()
    }

    pub fn expand_axis(x: &[f32], shape: &[usize], axis: usize, scale: f32) -> Vec<f32> {
        let inner: usize = shape[axis + 1..].iter().product();
        let n: usize = shape.iter().product();
        (0..n).map(|i| scale * x[(i / (shape[axis] * inner)) * inner + i % inner]).collect()
    }
}
