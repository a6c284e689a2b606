//! Elementwise ops (add, mul, axpy, scale, fill, relu and its backward): launchers and CPU references.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static BINARY: Shader = shader!("elementwise");
static UNARY: Shader = shader!("elementwise_unary");
static FILL: Shader = shader!("fill");

/// Mirrors `Params` in shaders/elementwise*.wgsl and fill.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ElementwiseParams {
    pub n: u32,
    pub alpha: f32,
    pub _pad: [u32; 2],
}

fn params(n: usize, alpha: f32) -> ElementwiseParams {
    ElementwiseParams { n: n as u32, alpha, _pad: [0; 2] }
}

fn same_shape(op: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::shape(op, format!("{:?} vs {:?}", a.shape(), b.shape())));
    }
    Ok(())
}

fn binary(gpu: &Gpu, op: &'static str, entry: &'static str, a: &Tensor, b: &Tensor, alpha: f32) -> Result<Tensor> {
    same_shape(op, a, b)?;
    let out = gpu.empty(op, a.shape(), DType::F32)?;
    gpu.dispatch(
        op,
        &BINARY,
        entry,
        &params(a.numel(), alpha),
        &[Arg::R(a), Arg::R(b), Arg::W(&out)],
        grid_1d(a.numel(), 256),
    )?;
    Ok(out)
}

/// a + b.
pub fn add(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(gpu, "add", "add", a, b, 0.0)
}
/// a * b elementwise.
pub fn mul(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(gpu, "mul", "mul", a, b, 0.0)
}
/// a + alpha * b.
pub fn axpy(gpu: &Gpu, a: &Tensor, alpha: f32, b: &Tensor) -> Result<Tensor> {
    binary(gpu, "axpy", "axpy", a, b, alpha)
}
/// dy where x > 0, else 0.
pub fn relu_backward(gpu: &Gpu, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    binary(gpu, "relu_backward", "relu_backward", x, dy, 0.0)
}

fn unary(gpu: &Gpu, op: &'static str, x: &Tensor, alpha: f32) -> Result<Tensor> {
    let out = gpu.empty(op, x.shape(), DType::F32)?;
    gpu.dispatch(op, &UNARY, op, &params(x.numel(), alpha), &[Arg::R(x), Arg::W(&out)], grid_1d(x.numel(), 256))?;
    Ok(out)
}

/// alpha * x.
pub fn scale(gpu: &Gpu, x: &Tensor, alpha: f32) -> Result<Tensor> {
    unary(gpu, "scale", x, alpha)
}
/// max(x, 0).
pub fn relu(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    unary(gpu, "relu", x, 0.0)
}

/// Sets every element of `t` to `value` (in stream order).
pub fn fill(gpu: &Gpu, t: &Tensor, value: f32) -> Result<()> {
    gpu.dispatch("fill", &FILL, "fill", &params(t.numel(), value), &[Arg::W(t)], grid_1d(t.numel(), 256))
}

/// A new tensor of `shape` filled with `value`.
pub fn full(gpu: &Gpu, shape: &[usize], value: f32) -> Result<Tensor> {
    let t = gpu.empty("full", shape, DType::F32)?;
    fill(gpu, &t, value)?;
    Ok(t)
}

/// CPU references.
pub mod cpu {
    pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
        a.iter().zip(b).map(|(x, y)| x + y).collect()
    }
    pub fn mul(a: &[f32], b: &[f32]) -> Vec<f32> {
        a.iter().zip(b).map(|(x, y)| x * y).collect()
    }
    pub fn axpy(a: &[f32], alpha: f32, b: &[f32]) -> Vec<f32> {
        a.iter().zip(b).map(|(x, y)| x + alpha * y).collect()
    }
    pub fn scale(x: &[f32], alpha: f32) -> Vec<f32> {
        x.iter().map(|v| alpha * v).collect()
    }
    pub fn relu(x: &[f32]) -> Vec<f32> {
        x.iter().map(|v| v.max(0.0)).collect()
    }
    pub fn relu_backward(x: &[f32], dy: &[f32]) -> Vec<f32> {
        x.iter().zip(dy).map(|(x, d)| if *x > 0.0 { *d } else { 0.0 }).collect()
    }
}
