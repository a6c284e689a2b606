//! The parameter store: named parameter tensors, freezing by name prefix, per-parameter lr/decay multipliers, load by name.

use std::collections::HashMap;

use crate::autograd::{ParamId, Tape, Var};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::init::{self, Init};
use crate::tensor::{DType, Tensor};

/// One parameter.
#[derive(Debug, Clone)]
pub struct Param {
    /// Dotted name, e.g. `conv1.weight`.
    pub name: String,
    /// The values on the GPU (updated in place by the optimiser).
    pub value: Tensor,
    /// Frozen parameters get no gradient and no update.
    pub frozen: bool,
    /// Multiplies the optimiser's learning rate (Caffe's `lr_mult`; Faster R-CNN uses 2 on biases).
    pub lr_mult: f32,
    /// Multiplies the optimiser's weight decay (Caffe's `decay_mult`; 0 on biases there).
    pub decay_mult: f32,
}

/// All parameters of a model, in creation order, addressable by id and by name.
pub struct ParamStore {
    params: Vec<Param>,
    by_name: HashMap<String, ParamId>,
    seed: u64,
}

/// FNV-1a of a name: mixes it into the store's seed so a parameter's initial values depend on its
/// name, not on the order layers were built in.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

impl ParamStore {
    /// An empty store; `seed` keys every random initialisation.
    pub fn new(seed: u64) -> ParamStore {
        ParamStore { params: Vec::new(), by_name: HashMap::new(), seed }
    }

    /// Adds a parameter with the given values.
    pub fn add(&mut self, name: &str, value: Tensor) -> Result<ParamId> {
        if self.by_name.contains_key(name) {
            return Err(Error::invalid("param_store", format!("duplicate parameter name '{name}'")));
        }
        if value.dtype() != DType::F32 {
            return Err(Error::invalid("param_store", format!("parameter '{name}' must be F32")));
        }
        let id = ParamId(self.params.len());
        self.params.push(Param { name: name.to_string(), value, frozen: false, lr_mult: 1.0, decay_mult: 1.0 });
        self.by_name.insert(name.to_string(), id);
        Ok(id)
    }

    /// Adds a parameter drawn from `init` (seeded by the store's seed and the name).
    pub fn add_init(&mut self, gpu: &Gpu, name: &str, shape: &[usize], init: Init) -> Result<ParamId> {
        let t = init::random(gpu, shape, init, self.seed ^ name_hash(name))?;
        self.add(name, t)
    }

    /// Adds a zero-filled parameter (biases).
    pub fn add_zeros(&mut self, gpu: &Gpu, name: &str, shape: &[usize]) -> Result<ParamId> {
        let t = gpu.zeros(shape, DType::F32)?;
        self.add(name, t)
    }

    /// The parameter `id`.
    pub fn get(&self, id: ParamId) -> &Param {
        &self.params[id.0]
    }

    /// Mutable access (to set `lr_mult`, `decay_mult`, `frozen`).
    pub fn get_mut(&mut self, id: ParamId) -> &mut Param {
        &mut self.params[id.0]
    }

    /// The id of the parameter called `name`.
    pub fn id(&self, name: &str) -> Option<ParamId> {
        self.by_name.get(name).copied()
    }

    /// (name, parameter) in creation order: what a checkpoint writes.
    pub fn named(&self) -> Vec<(String, &Param)> {
        self.params.iter().map(|p| (p.name.clone(), p)).collect()
    }

    /// Ids in creation order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> {
        (0..self.params.len()).map(ParamId)
    }

    /// Number of parameters (tensors).
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Total number of scalar values.
    pub fn numel(&self) -> usize {
        self.params.iter().map(|p| p.value.numel()).sum()
    }

    /// Freezes (or unfreezes) every parameter whose name starts with `prefix`; returns how many.
    /// The paper freezes conv1-conv2: `store.set_frozen("conv1", true)`, `store.set_frozen("conv2", true)`.
    pub fn set_frozen(&mut self, prefix: &str, frozen: bool) -> usize {
        let mut n = 0;
        for p in self.params.iter_mut().filter(|p| p.name.starts_with(prefix)) {
            p.frozen = frozen;
            n += 1;
        }
        n
    }

    /// Overwrites the parameter called `name` with host values (in stream order); the element
    /// count must match, `shape` when given must match exactly.
    pub fn load(&self, gpu: &Gpu, name: &str, shape: Option<&[usize]>, data: &[f32]) -> Result<()> {
        let id = self.id(name).ok_or_else(|| Error::invalid("param_load", format!("no parameter named '{name}'")))?;
        let p = self.get(id);
        if let Some(s) = shape {
            if s != p.value.shape() {
                return Err(Error::shape("param_load", format!("'{name}' is {:?}, data is {s:?}", p.value.shape())));
            }
        }
        gpu.write(&p.value, data)
    }

    /// The tape variable of parameter `id` (untracked when frozen).
    pub fn var(&self, tape: &Tape, id: ParamId) -> Var {
        let p = self.get(id);
        tape.param(id, &p.value, p.frozen)
    }
}
