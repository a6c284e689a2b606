//! Smooth-L1 loss in the Fast R-CNN sigma form with per-element weights: launchers and CPU references.
//!
//! With d = pred - target: f(d) = 0.5 sigma^2 d^2 if |d| < 1/sigma^2, else |d| - 0.5/sigma^2, and
//! loss = sum_j w_j f(d_j) / normaliser. Fast R-CNN uses sigma = 1 for the box head and sigma = 3
//! for the RPN; weights are 1 on foreground box coordinates and 0 elsewhere (Fast R-CNN's inside
//! and outside weights multiplied: with 0/1 inside weights the two forms agree). The normaliser is
//! a host value (the RoI or anchor batch size). The gradient is taken with respect to `pred` only.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static FORWARD: Shader = shader!("smooth_l1");
static BACKWARD: Shader = shader!("smooth_l1_backward");

/// Mirrors `Params` in shaders/smooth_l1*.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SmoothL1Params {
    pub n: u32,
    pub flags: u32,
    pub sigma2: f32,
    pub inv_norm: f32,
}

fn setup(
    op: &str,
    pred: &Tensor,
    target: &Tensor,
    weights: Option<&Tensor>,
    sigma: f32,
    normaliser: f32,
) -> Result<SmoothL1Params> {
    if pred.shape() != target.shape() {
        return Err(Error::shape(op, format!("pred {:?} vs target {:?}", pred.shape(), target.shape())));
    }
    if let Some(w) = weights {
        if w.shape() != pred.shape() {
            return Err(Error::shape(op, format!("weights {:?} vs pred {:?}", w.shape(), pred.shape())));
        }
    }
    if [pred, target].iter().chain(weights.as_ref()).any(|t| t.dtype() != DType::F32) {
        return Err(Error::invalid(op, "pred, target and weights must be F32"));
    }
    if !(sigma > 0.0 && sigma.is_finite() && normaliser > 0.0 && normaliser.is_finite()) {
        return Err(Error::invalid(op, format!("sigma {sigma} and normaliser {normaliser} must be positive")));
    }
    Ok(SmoothL1Params {
        n: pred.numel() as u32,
        flags: weights.is_some() as u32,
        sigma2: sigma * sigma,
        inv_norm: 1.0 / normaliser,
    })
}

/// The loss as a `[1]` tensor.
pub fn forward(
    gpu: &Gpu,
    pred: &Tensor,
    target: &Tensor,
    weights: Option<&Tensor>,
    sigma: f32,
    normaliser: f32,
) -> Result<Tensor> {
    let op = "smooth_l1";
    let params = setup(op, pred, target, weights, sigma, normaliser)?;
    let loss = gpu.empty(op, &[1], DType::F32)?;
    let w = weights.unwrap_or(pred);
    gpu.dispatch(
        op,
        &FORWARD,
        "forward",
        &params,
        &[Arg::R(pred), Arg::R(target), Arg::R(w), Arg::W(&loss)],
        [1, 1, 1],
    )?;
    Ok(loss)
}

/// The gradient with respect to `pred`, given `dy` (`[1]`).
pub fn backward(
    gpu: &Gpu,
    pred: &Tensor,
    target: &Tensor,
    weights: Option<&Tensor>,
    sigma: f32,
    normaliser: f32,
    dy: &Tensor,
) -> Result<Tensor> {
    let op = "smooth_l1_backward";
    let params = setup(op, pred, target, weights, sigma, normaliser)?;
    if dy.numel() != 1 {
        return Err(Error::shape(op, format!("dy must have one element, got {:?}", dy.shape())));
    }
    let dx = gpu.empty(op, pred.shape(), DType::F32)?;
    let w = weights.unwrap_or(pred);
    gpu.dispatch(
        op,
        &BACKWARD,
        "backward",
        &params,
        &[Arg::R(pred), Arg::R(target), Arg::R(w), Arg::R(dy), Arg::W(&dx)],
        grid_1d(pred.numel(), 256),
    )?;
    Ok(dx)
}

/// CPU references in f64.
pub mod cpu {
    fn f(d: f64, s2: f64) -> f64 {
        if d.abs() < 1.0 / s2 {
            0.5 * s2 * d * d
        } else {
            d.abs() - 0.5 / s2
        }
    }

    pub fn forward(pred: &[f64], target: &[f64], w: Option<&[f64]>, sigma: f64, norm: f64) -> f64 {
        let s2 = sigma * sigma;
        let sum: f64 =
            pred.iter().zip(target).enumerate().map(|(j, (p, t))| w.map_or(1.0, |w| w[j]) * f(p - t, s2)).sum();
        sum / norm
    }

    pub fn backward(pred: &[f64], target: &[f64], w: Option<&[f64]>, sigma: f64, norm: f64) -> Vec<f64> {
        let s2 = sigma * sigma;
        pred.iter()
            .zip(target)
            .enumerate()
            .map(|(j, (p, t))| {
                let d = p - t;
                let g = if d.abs() < 1.0 / s2 { s2 * d } else { d.signum() };
                w.map_or(1.0, |w| w[j]) * g / norm
            })
            .collect()
    }
}
