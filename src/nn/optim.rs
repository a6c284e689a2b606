//! The SGD optimiser over a parameter store: momentum, weight decay, per-parameter multipliers, an lr schedule hook.

use std::collections::HashMap;

use super::params::ParamStore;
use crate::autograd::{Grads, ParamId};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::sgd;
use crate::tensor::{DType, Tensor};

/// Learning rate as a function of the step index (0-based).
pub type LrSchedule = Box<dyn Fn(usize) -> f32>;

/// SGD with momentum and weight decay (PyTorch's form, see `ops::sgd`). Velocity buffers are
/// created at a parameter's first update and reused after, so steps after the first allocate nothing.
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    schedule: Option<LrSchedule>,
    velocity: HashMap<ParamId, Tensor>,
    steps: usize,
}

impl Sgd {
    /// A constant learning rate `lr`.
    pub fn new(lr: f32, momentum: f32, weight_decay: f32) -> Sgd {
        Sgd { lr, momentum, weight_decay, schedule: None, velocity: HashMap::new(), steps: 0 }
    }

    /// The learning rate comes from `schedule(step)` instead of `lr` (e.g. a step decay).
    pub fn with_schedule(mut self, schedule: impl Fn(usize) -> f32 + 'static) -> Sgd {
        self.schedule = Some(Box::new(schedule));
        self
    }

    /// The learning rate the next step will use.
    pub fn current_lr(&self) -> f32 {
        self.schedule.as_ref().map_or(self.lr, |f| f(self.steps))
    }

    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Updates every unfrozen parameter that has a gradient (recorded, not submitted).
    pub fn step(&mut self, gpu: &Gpu, store: &ParamStore, grads: &Grads) -> Result<()> {
        let lr = self.current_lr();
        for id in store.ids() {
            let p = store.get(id);
            if p.frozen {
                continue;
            }
            let Some(g) = grads.param(id) else { continue };
            let v = match self.velocity.get(&id) {
                Some(v) => v.clone(),
                None => {
                    let v = gpu.zeros(p.value.shape(), DType::F32)?;
                    self.velocity.insert(id, v.clone());
                    v
                }
            };
            sgd::step(gpu, &p.value, &v, g, lr * p.lr_mult, self.momentum, self.weight_decay * p.decay_mult, 1.0)?;
        }
        self.steps += 1;
        Ok(())
    }
}
