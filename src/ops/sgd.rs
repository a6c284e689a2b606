//! SGD with momentum and weight decay, updating parameter and velocity buffers in place: launcher and CPU reference.
//!
//! The PyTorch form: v = momentum v + (g + weight_decay w); w -= lr v. (Caffe, which the paper
//! used, folds lr into v; the two agree while lr is constant and differ only in how a learning-rate
//! drop affects the momentum already accumulated.) lr travels in the dispatch's uniform params,
//! so a schedule changes it every step without allocating anything.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("sgd");

/// Mirrors `Params` in shaders/sgd.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SgdParams {
    pub n: u32,
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    pub grad_scale: f32,
    pub _pad: [u32; 3],
}

/// One in-place update of `param` and `velocity` from `grad` times `grad_scale` (all the same
/// shape, F32; `grad_scale` 1 is plain SGD, below 1 applies global-norm clipping in the same pass).
#[allow(clippy::too_many_arguments)]
pub fn step(
    gpu: &Gpu,
    param: &Tensor,
    velocity: &Tensor,
    grad: &Tensor,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    grad_scale: f32,
) -> Result<()> {
    let op = "sgd";
    if param.shape() != velocity.shape() || param.shape() != grad.shape() {
        return Err(Error::shape(
            op,
            format!("param {:?}, velocity {:?}, grad {:?}", param.shape(), velocity.shape(), grad.shape()),
        ));
    }
    if [param, velocity, grad].iter().any(|t| t.dtype() != DType::F32) {
        return Err(Error::invalid(op, "param, velocity and grad must be F32"));
    }
    if param.same_storage(velocity) || param.same_storage(grad) || velocity.same_storage(grad) {
        return Err(Error::invalid(op, "param, velocity and grad must be distinct buffers"));
    }
    let params = SgdParams { n: param.numel() as u32, lr, momentum, weight_decay, grad_scale, _pad: [0; 3] };
    gpu.dispatch(
        op,
        &SHADER,
        "sgd",
        &params,
        &[Arg::R(grad), Arg::W(param), Arg::W(velocity)],
        grid_1d(param.numel(), 256),
    )
}

/// CPU reference: updates `w` and `v` in place.
pub mod cpu {
    pub fn step(w: &mut [f32], v: &mut [f32], g: &[f32], lr: f32, momentum: f32, weight_decay: f32, grad_scale: f32) {
        for i in 0..w.len() {
            v[i] = momentum * v[i] + grad_scale * g[i] + weight_decay * w[i];
            w[i] -= lr * v[i];
        }
    }
}
