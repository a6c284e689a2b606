//! Weighted binary cross-entropy on logits (RPN objectness): launchers and CPU references.
//!
//! The paper's RPN scores an anchor with a 2-way softmax; a single logit with a sigmoid is the
//! same model (softmax over (0, z) = sigmoid(z)) and keeps the NCHW `[N, A, H, W]` layout the
//! proposal layer reads, so no permute is needed.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("bce_logits");

/// Mirrors `Params` in shaders/bce_logits.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    _pad: [u32; 3],
}

fn check(op: &str, ts: &[&Tensor]) -> Result<()> {
    for t in &ts[1..] {
        if t.shape() != ts[0].shape() {
            return Err(Error::shape(op, format!("{:?} vs {:?}", ts[0].shape(), t.shape())));
        }
    }
    Ok(())
}

/// Elementwise `w * bce(sigmoid(x), y)`.
pub fn forward(gpu: &Gpu, x: &Tensor, y: &Tensor, w: &Tensor) -> Result<Tensor> {
    check("bce_forward", &[x, y, w])?;
    let out = gpu.empty("bce_forward", x.shape(), DType::F32)?;
    let p = Params { n: x.numel() as u32, _pad: [0; 3] };
    gpu.dispatch(
        "bce_forward",
        &SHADER,
        "forward",
        &p,
        &[Arg::R(x), Arg::R(y), Arg::R(w), Arg::W(&out)],
        grid_1d(x.numel(), 256),
    )?;
    Ok(out)
}

/// Gradient of the elementwise loss: `dy * w * (sigmoid(x) - y)`.
pub fn backward(gpu: &Gpu, x: &Tensor, y: &Tensor, w: &Tensor, dy: &Tensor) -> Result<Tensor> {
    check("bce_backward", &[x, y, w, dy])?;
    let out = gpu.empty("bce_backward", x.shape(), DType::F32)?;
    let p = Params { n: x.numel() as u32, _pad: [0; 3] };
    gpu.dispatch(
        "bce_backward",
        &SHADER,
        "backward",
        &p,
        &[Arg::R(x), Arg::R(y), Arg::R(w), Arg::W(&out), Arg::R(dy)],
        grid_1d(x.numel(), 256),
    )?;
    Ok(out)
}

/// CPU references (f64).
pub mod cpu {
    /// Elementwise weighted loss.
    pub fn forward(x: &[f64], y: &[f64], w: &[f64]) -> Vec<f64> {
        x.iter().zip(y).zip(w).map(|((&v, &t), &w)| w * (v.max(0.0) - v * t + (1.0 + (-v.abs()).exp()).ln())).collect()
    }
    /// Elementwise gradient.
    pub fn backward(x: &[f64], y: &[f64], w: &[f64], dy: &[f64]) -> Vec<f64> {
        x.iter().zip(y).zip(w).zip(dy).map(|(((&v, &t), &w), &d)| d * w * (1.0 / (1.0 + (-v).exp()) - t)).collect()
    }
}
