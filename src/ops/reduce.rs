//! Reductions along an axis (sum, mean, max), per-channel sums and whole-tensor sums: launchers and CPU references.
//!
//! Each output element is reduced by one thread in index order (or, for `sum_all`, by a fixed
//! 256-leaf tree), so results are bit-for-bit repeatable: no atomics.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("reduce");

/// Mirrors `Params` in shaders/reduce.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ReduceParams {
    pub outer: u32,
    pub len: u32,
    pub inner: u32,
    pub scale: f32,
}

/// Splits `shape` around `axis` into (outer, len, inner) and the output shape with `axis` removed
/// (`[1]` when nothing is left).
fn split(op: &str, shape: &[usize], axis: usize) -> Result<(usize, usize, usize, Vec<usize>)> {
    if axis >= shape.len() {
        return Err(Error::shape(op, format!("axis {axis} out of range for shape {shape:?}")));
    }
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    let mut out: Vec<usize> = shape.iter().enumerate().filter(|(i, _)| *i != axis).map(|(_, &d)| d).collect();
    if out.is_empty() {
        out.push(1);
    }
    Ok((outer, shape[axis], inner, out))
}

fn check_f32(op: &str, x: &Tensor) -> Result<()> {
    if x.dtype() != DType::F32 {
        return Err(Error::invalid(op, format!("expects an F32 tensor, got {:?}", x.dtype())));
    }
    Ok(())
}

fn axis_op(gpu: &Gpu, op: &'static str, entry: &'static str, x: &Tensor, axis: usize, mean: bool) -> Result<Tensor> {
    check_f32(op, x)?;
    let (outer, len, inner, oshape) = split(op, x.shape(), axis)?;
    if len == 0 {
        return Err(Error::shape(op, format!("cannot reduce an empty axis of {:?}", x.shape())));
    }
    let scale = if mean { 1.0 / len as f32 } else { 1.0 };
    let out = gpu.empty(op, &oshape, DType::F32)?;
    let params = ReduceParams { outer: outer as u32, len: len as u32, inner: inner as u32, scale };
    gpu.dispatch(op, &SHADER, entry, &params, &[Arg::R(x), Arg::W(&out)], grid_1d(outer * inner, 256))?;
    Ok(out)
}

/// Sum along `axis` (the axis is removed from the shape).
pub fn sum(gpu: &Gpu, x: &Tensor, axis: usize) -> Result<Tensor> {
    axis_op(gpu, "sum", "sum_axis", x, axis, false)
}

/// Mean along `axis`.
pub fn mean(gpu: &Gpu, x: &Tensor, axis: usize) -> Result<Tensor> {
    axis_op(gpu, "mean", "sum_axis", x, axis, true)
}

/// Maximum along `axis` (NaN if any reduced element is NaN).
pub fn max(gpu: &Gpu, x: &Tensor, axis: usize) -> Result<Tensor> {
    axis_op(gpu, "max", "max_axis", x, axis, false)
}

/// `scale` times the sum of all elements, as a `[1]` tensor (one workgroup, fixed tree order).
pub fn sum_all(gpu: &Gpu, x: &Tensor, scale: f32) -> Result<Tensor> {
    whole_sum(gpu, "sum_all", x, scale)
}

/// The sum of the squares of all elements (a squared L2 norm), as a `[1]` tensor: `sum_all` of
/// `x * x` in one dispatch, with no squared copy.
pub fn sum_squares(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    whole_sum(gpu, "sum_squares", x, 1.0)
}

/// The whole-tensor reductions: entry point `op` of shaders/reduce.wgsl in one workgroup.
fn whole_sum(gpu: &Gpu, op: &'static str, x: &Tensor, scale: f32) -> Result<Tensor> {
    check_f32(op, x)?;
    let out = gpu.empty(op, &[1], DType::F32)?;
    let params = ReduceParams { outer: x.numel() as u32, len: 1, inner: 1, scale };
    if x.numel() == 0 {
        crate::ops::elementwise::fill(gpu, &out, 0.0)?;
        return Ok(out);
    }
    gpu.dispatch(op, &SHADER, op, &params, &[Arg::R(x), Arg::W(&out)], [1, 1, 1])?;
    Ok(out)
}

/// Sum over every axis except `axis`, giving a `[shape[axis]]` tensor: the gradient of a bias
/// broadcast along `axis` (axis 1 of NCHW activations, the last axis of `[N, F]` rows).
pub fn channel_sum(gpu: &Gpu, x: &Tensor, axis: usize) -> Result<Tensor> {
    check_f32("channel_sum", x)?;
    let (outer, len, inner, _) = split("channel_sum", x.shape(), axis)?;
    let out = gpu.empty("channel_sum", &[len], DType::F32)?;
    let params = ReduceParams { outer: outer as u32, len: len as u32, inner: inner as u32, scale: 1.0 };
    gpu.dispatch("channel_sum", &SHADER, "channel_sum", &params, &[Arg::R(x), Arg::W(&out)], grid_1d(len, 256))?;
    Ok(out)
}

/// CPU references (f32 accumulation in the same order as the shaders, except `sum_all`).
pub mod cpu {
    fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
        (shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product())
    }

    pub fn sum(x: &[f32], shape: &[usize], axis: usize) -> Vec<f32> {
        let (outer, len, inner) = split(shape, axis);
        let mut out = vec![0.0f32; outer * inner];
        for o in 0..outer {
            for i in 0..inner {
                out[o * inner + i] = (0..len).map(|k| x[(o * len + k) * inner + i]).sum();
            }
        }
        out
    }

    pub fn mean(x: &[f32], shape: &[usize], axis: usize) -> Vec<f32> {
        let n = shape[axis] as f32;
        sum(x, shape, axis).into_iter().map(|v| v * (1.0 / n)).collect()
    }

    pub fn max(x: &[f32], shape: &[usize], axis: usize) -> Vec<f32> {
        let (outer, len, inner) = split(shape, axis);
        let mut out = vec![0.0f32; outer * inner];
        for o in 0..outer {
            for i in 0..inner {
                let vals = (0..len).map(|k| x[(o * len + k) * inner + i]);
                out[o * inner + i] =
                    vals.fold(f32::NEG_INFINITY, |m, v| if v.is_nan() || m.is_nan() { f32::NAN } else { m.max(v) });
            }
        }
        out
    }

    pub fn channel_sum(x: &[f32], shape: &[usize], axis: usize) -> Vec<f32> {
        let (outer, len, inner) = split(shape, axis);
        let mut out = vec![0.0f32; len];
        for o in 0..outer {
            for (c, acc) in out.iter_mut().enumerate() {
                for i in 0..inner {
                    *acc += x[(o * len + c) * inner + i];
                }
            }
        }
        out
    }

    /// Accumulated in f64 (the shader's tree order differs; the test allows for it).
    pub fn sum_all(x: &[f32], scale: f32) -> f32 {
        (x.iter().map(|&v| v as f64).sum::<f64>() * scale as f64) as f32
    }

    /// The sum of squares, accumulated in f64.
    pub fn sum_squares(x: &[f32]) -> f32 {
        x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() as f32
    }
}
