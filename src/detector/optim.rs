//! Momentum SGD whose state (one velocity a parameter, the step count) can be saved and restored by name.
//!
//! The update itself is the shared `ops::sgd` kernel; this wrapper exists because a checkpoint
//! must carry the velocities for `--resume` to continue exactly.

use std::collections::BTreeMap;

use crate::autograd::Grads;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::ParamStore;
use crate::ops::{reduce, sgd};
use crate::tensor::{DType, Tensor};

/// A named host tensor: (name, shape, values).
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// SGD with momentum and weight decay; velocities keyed by parameter name.
pub struct Optimizer {
    pub momentum: f32,
    pub weight_decay: f32,
    velocity: BTreeMap<String, Tensor>,
}

impl Optimizer {
    pub fn new(momentum: f32, weight_decay: f32) -> Optimizer {
        Optimizer { momentum, weight_decay, velocity: BTreeMap::new() }
    }

    /// The values of the `[1]` tensors `scalars` (a step's losses) and the global L2 norm of the
    /// trainable parameters' gradients, read back together in one readback: the scalars and one
    /// sum of squares per parameter (on the GPU, fixed order) are gathered into one buffer, and
    /// the sums are added in f64.
    pub fn scalars_and_grad_norm(
        gpu: &Gpu,
        store: &ParamStore,
        grads: &Grads,
        scalars: &[&Tensor],
    ) -> Result<(Vec<f32>, f32)> {
        let trained: Vec<&Tensor> =
            store.ids().filter(|&id| !store.get(id).frozen).filter_map(|id| grads.param(id)).collect();
        let ns = scalars.len();
        if ns + trained.len() == 0 {
            return Ok((Vec::new(), 0.0));
        }
        let buf = gpu.empty("grad_norm", &[ns + trained.len()], DType::F32)?;
        for (i, t) in scalars.iter().enumerate() {
            gpu.copy_region(t, 0, &buf, i, 1)?;
        }
        for (i, g) in trained.iter().enumerate() {
            gpu.copy_region(&reduce::sum_squares(gpu, g)?, 0, &buf, ns + i, 1)?;
        }
        let v = buf.to_vec(gpu)?;
        let total: f64 = v[ns..].iter().map(|&x| x as f64).sum();
        Ok((v[..ns].to_vec(), total.sqrt() as f32))
    }

    /// One update of every trainable parameter that received a gradient (recorded, not submitted),
    /// with the gradients multiplied by `grad_scale` inside the SGD kernel (global-norm clipping;
    /// 1 = none).
    pub fn step(&mut self, gpu: &Gpu, store: &ParamStore, grads: &Grads, lr: f32, grad_scale: f32) -> Result<()> {
        for id in store.ids() {
            let p = store.get(id);
            if p.frozen {
                continue;
            }
            let Some(g) = grads.param(id) else { continue };
            let v = match self.velocity.get(&p.name) {
                Some(v) => v.clone(),
                None => {
                    let v = gpu.zeros(p.value.shape(), DType::F32)?;
                    self.velocity.insert(p.name.clone(), v.clone());
                    v
                }
            };
            sgd::step(
                gpu,
                &p.value,
                &v,
                g,
                lr * p.lr_mult,
                self.momentum,
                self.weight_decay * p.decay_mult,
                grad_scale,
            )?;
        }
        Ok(())
    }

    /// Host copies of the velocities (one readback each).
    pub fn state(&self, gpu: &Gpu) -> Result<Vec<NamedTensor>> {
        self.velocity.iter().map(|(n, t)| Ok((n.clone(), t.shape().to_vec(), t.to_vec(gpu)?))).collect()
    }

    /// Restores velocities saved by [`Optimizer::state`].
    pub fn load_state(&mut self, gpu: &Gpu, state: Vec<NamedTensor>) -> Result<()> {
        self.velocity.clear();
        for (name, shape, data) in state {
            if shape.iter().product::<usize>() != data.len() {
                return Err(Error::shape("optimizer_state", format!("{name}: {shape:?} vs {} values", data.len())));
            }
            self.velocity.insert(name, gpu.upload(&shape, &data)?);
        }
        Ok(())
    }
}
