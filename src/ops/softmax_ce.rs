//! Softmax cross-entropy over `[N, C]` logits with per-sample weights and an ignore label: launchers and CPU references.
//!
//! loss = sum_i w_i (logsumexp(x_i) - x_i[y_i]) / sum_i w_i over samples whose label is not the
//! ignore label; 0 when that weight sum is 0. A label outside `0..C` that is not ignored makes the
//! loss (and its gradient) NaN rather than silently dropping the sample: the GPU cannot raise an
//! error, and a NaN loss stops training loudly. The forward runs in one workgroup with a fixed
//! reduction tree, so it is deterministic; it saves each row's logsumexp for the backward.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static FORWARD: Shader = shader!("softmax_ce");
static BACKWARD: Shader = shader!("softmax_ce_backward");

/// Mirrors `Params` in shaders/softmax_ce*.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SoftmaxCeParams {
    pub n: u32,
    pub c: u32,
    pub ignore: u32,
    pub flags: u32,
}

/// What the forward returns: the loss and what the backward needs.
#[derive(Clone, Debug)]
pub struct SoftmaxCeOutput {
    /// The weighted mean loss, `[1]`.
    pub loss: Tensor,
    /// logsumexp of every row, `[N]`.
    pub lse: Tensor,
    /// Sum of the weights of the samples counted, `[1]` (the loss's denominator).
    pub norm: Tensor,
}

fn setup(
    op: &str,
    logits: &Tensor,
    labels: &Tensor,
    weights: Option<&Tensor>,
    ignore: Option<i32>,
) -> Result<SoftmaxCeParams> {
    let s = logits.shape();
    if s.len() != 2 || s[1] == 0 {
        return Err(Error::shape(op, format!("logits must be [N, C] with C > 0, got {s:?}")));
    }
    if logits.dtype() != DType::F32 {
        return Err(Error::invalid(op, "logits must be F32"));
    }
    if labels.dtype() == DType::F32 {
        return Err(Error::invalid(op, "labels must be U32 or I32"));
    }
    if labels.numel() != s[0] {
        return Err(Error::shape(op, format!("{} labels for {} rows", labels.numel(), s[0])));
    }
    if let Some(w) = weights {
        if w.numel() != s[0] || w.dtype() != DType::F32 {
            return Err(Error::shape(op, format!("weights {:?} {:?} for {} rows", w.shape(), w.dtype(), s[0])));
        }
    }
    let flags = (weights.is_some() as u32) | ((ignore.is_some() as u32) << 1);
    Ok(SoftmaxCeParams { n: s[0] as u32, c: s[1] as u32, ignore: ignore.unwrap_or(0) as u32, flags })
}

/// Forward pass. `labels` are U32 or I32 (`[N]`); `weights` `[N]` default to 1.
pub fn forward(
    gpu: &Gpu,
    logits: &Tensor,
    labels: &Tensor,
    weights: Option<&Tensor>,
    ignore: Option<i32>,
) -> Result<SoftmaxCeOutput> {
    let op = "softmax_ce";
    let params = setup(op, logits, labels, weights, ignore)?;
    let n = params.n as usize;
    let lse = gpu.empty(op, &[n], DType::F32)?;
    let loss = gpu.empty(op, &[1], DType::F32)?;
    let norm = gpu.empty(op, &[1], DType::F32)?;
    // Unused weights are bound to the logits so the binding list stays the same.
    let w = weights.unwrap_or(logits);
    gpu.dispatch(
        op,
        &FORWARD,
        "forward",
        &params,
        &[Arg::R(logits), Arg::R(labels), Arg::R(w), Arg::W(&lse), Arg::W(&loss), Arg::W(&norm)],
        [1, 1, 1],
    )?;
    Ok(SoftmaxCeOutput { loss, lse, norm })
}

/// Backward pass: the gradient with respect to the logits, given `dy` (`[1]`, the loss's gradient).
pub fn backward(
    gpu: &Gpu,
    logits: &Tensor,
    labels: &Tensor,
    weights: Option<&Tensor>,
    ignore: Option<i32>,
    saved: &SoftmaxCeOutput,
    dy: &Tensor,
) -> Result<Tensor> {
    let op = "softmax_ce_backward";
    let params = setup(op, logits, labels, weights, ignore)?;
    if dy.numel() != 1 {
        return Err(Error::shape(op, format!("dy must have one element, got {:?}", dy.shape())));
    }
    let dx = gpu.empty(op, logits.shape(), DType::F32)?;
    let w = weights.unwrap_or(logits);
    gpu.dispatch(
        op,
        &BACKWARD,
        "backward",
        &params,
        &[Arg::R(logits), Arg::R(labels), Arg::R(w), Arg::R(&saved.lse), Arg::R(&saved.norm), Arg::R(dy), Arg::W(&dx)],
        grid_1d(logits.numel(), 256),
    )?;
    Ok(dx)
}

/// CPU references in f64 (labels as i64; `None` weights are 1).
pub mod cpu {
    /// The loss.
    pub fn forward(x: &[f64], c: usize, labels: &[i64], weights: Option<&[f64]>, ignore: Option<i64>) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for (i, &lab) in labels.iter().enumerate() {
            if Some(lab) == ignore {
                continue;
            }
            let row = &x[i * c..(i + 1) * c];
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            let w = weights.map_or(1.0, |w| w[i]);
            if lab < 0 || lab as usize >= c {
                return f64::NAN;
            }
            num += w * (lse - row[lab as usize]);
            den += w;
        }
        if den == 0.0 {
            0.0
        } else {
            num / den
        }
    }

    /// The gradient with respect to the logits for dy = 1.
    pub fn backward(x: &[f64], c: usize, labels: &[i64], weights: Option<&[f64]>, ignore: Option<i64>) -> Vec<f64> {
        let mut dx = vec![0.0; x.len()];
        let den: f64 = labels
            .iter()
            .enumerate()
            .filter(|(_, l)| Some(**l) != ignore)
            .map(|(i, _)| weights.map_or(1.0, |w| w[i]))
            .sum();
        if den == 0.0 {
            return dx;
        }
        for (i, &lab) in labels.iter().enumerate() {
            if Some(lab) == ignore {
                continue;
            }
            let row = &x[i * c..(i + 1) * c];
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = row.iter().map(|v| (v - m).exp()).sum();
            let w = weights.map_or(1.0, |w| w[i]);
            for k in 0..c {
                let p = (row[k] - m).exp() / s;
                dx[i * c + k] = w / den * (p - if k as i64 == lab { 1.0 } else { 0.0 });
            }
        }
        dx
    }
}
