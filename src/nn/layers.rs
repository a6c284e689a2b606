//! Layers: the `Module` trait and Conv2d, Linear, ReLU, MaxPool2d, Flatten, Sequential.

use super::params::ParamStore;
use crate::autograd::{ParamId, Tape, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::conv2d::Conv2dParams;
use crate::ops::init::Init;
use crate::ops::maxpool::MaxPool2dParams;

/// Something that maps a variable to a variable, reading its parameters from a store.
pub trait Module {
    fn forward(&self, tape: &Tape, store: &ParamStore, x: &Var) -> Result<Var>;
}

/// 2-d convolution with bias: `name.weight` `[out, in, k, k]` (Kaiming normal) and `name.bias` `[out]` (zeros).
#[derive(Debug, Clone)]
pub struct Conv2d {
    pub weight: ParamId,
    pub bias: Option<ParamId>,
    pub stride: usize,
    pub pad: usize,
}

impl Conv2d {
    /// A `k`x`k` convolution from `cin` to `cout` channels with bias.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        store: &mut ParamStore,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Result<Conv2d> {
        let weight = store.add_init(gpu, &format!("{name}.weight"), &[cout, cin, k, k], Init::KaimingNormal)?;
        let bias = Some(store.add_zeros(gpu, &format!("{name}.bias"), &[cout])?);
        Ok(Conv2d { weight, bias, stride, pad })
    }
}

impl Module for Conv2d {
    fn forward(&self, tape: &Tape, store: &ParamStore, x: &Var) -> Result<Var> {
        let w = store.var(tape, self.weight);
        let b = self.bias.map(|b| store.var(tape, b));
        tape.conv2d(x, &w, b.as_ref(), Conv2dParams { stride: self.stride, pad: self.pad })
    }
}

/// Fully connected layer: `name.weight` `[out, in]` and `name.bias` `[out]` (zeros); y = x w^T + b.
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: ParamId,
    pub bias: Option<ParamId>,
}

impl Linear {
    /// Weights Kaiming normal (right before a ReLU; use `with_init` for output layers).
    pub fn new(gpu: &Gpu, store: &mut ParamStore, name: &str, fin: usize, fout: usize) -> Result<Linear> {
        Self::with_init(gpu, store, name, fin, fout, Init::KaimingNormal)
    }

    /// Weights drawn from `init` (Fast R-CNN's heads use `Init::Normal { std: 0.01 }` and 0.001).
    pub fn with_init(
        gpu: &Gpu,
        store: &mut ParamStore,
        name: &str,
        fin: usize,
        fout: usize,
        init: Init,
    ) -> Result<Linear> {
        let weight = store.add_init(gpu, &format!("{name}.weight"), &[fout, fin], init)?;
        let bias = Some(store.add_zeros(gpu, &format!("{name}.bias"), &[fout])?);
        Ok(Linear { weight, bias })
    }
}

impl Module for Linear {
    fn forward(&self, tape: &Tape, store: &ParamStore, x: &Var) -> Result<Var> {
        let w = store.var(tape, self.weight);
        let b = self.bias.map(|b| store.var(tape, b));
        tape.linear(x, &w, b.as_ref())
    }
}

/// max(x, 0).
#[derive(Debug, Clone, Copy)]
pub struct ReLU;

impl Module for ReLU {
    fn forward(&self, tape: &Tape, _: &ParamStore, x: &Var) -> Result<Var> {
        tape.relu(x)
    }
}

/// Max-pool 2d with a square window (padding cells never win).
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2d {
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

impl MaxPool2d {
    /// A `kernel` x `kernel` window moved by `stride`, no padding.
    pub fn new(kernel: usize, stride: usize) -> MaxPool2d {
        MaxPool2d { kernel, stride, pad: 0 }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, tape: &Tape, _: &ParamStore, x: &Var) -> Result<Var> {
        tape.maxpool2d(x, MaxPool2dParams { kernel: self.kernel, stride: self.stride, pad: self.pad })
    }
}

/// `[N, ...]` to `[N, rest]`.
#[derive(Debug, Clone, Copy)]
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, tape: &Tape, _: &ParamStore, x: &Var) -> Result<Var> {
        tape.flatten(x)
    }
}

/// Modules applied in order.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// An empty sequence.
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Appends a layer (builder style).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Module + 'static) -> Sequential {
        self.layers.push(Box::new(layer));
        self
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Module for Sequential {
    fn forward(&self, tape: &Tape, store: &ParamStore, x: &Var) -> Result<Var> {
        let mut h = x.clone();
        for l in &self.layers {
            h = l.forward(tape, store, &h)?;
        }
        Ok(h)
    }
}
