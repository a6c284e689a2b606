//! Tape-based reverse-mode autograd: variables wrapping tensors, a tape of backward rules, a gradient store.
//!
//! A [`Tape`] lives for one step. Ops on [`Var`]s compute their value on the GPU at once and, when
//! any input is tracked (needs a gradient), push a [`Node`] holding the input ids and a backward
//! closure. Because nodes are pushed in execution order the tape is already a topological order:
//! [`Tape::backward`] walks it in reverse, calls each closure with the output's gradient and adds
//! what it returns into the inputs' gradients (`ops::elementwise::add` on the GPU). Ops whose
//! inputs are all untracked record nothing, so frozen layers fed by an input image cost no backward
//! work at all. Everything is recorded into the context's pending encoder: a whole training step
//! (forward, backward, optimiser) is one submit until someone reads a value back.
//!
//! Other modules add differentiable ops with [`Tape::custom_op`] (see `ops.rs` for examples).

mod layers;
mod ops;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::elementwise;
use crate::tensor::Tensor;

/// A backward rule: given the context, the gradient of the op's output and which inputs need a
/// gradient, returns one entry per input (`None` where not needed or not defined).
pub type BackwardFn = Box<dyn FnOnce(&Gpu, &Tensor, &[bool]) -> Result<Vec<Option<Tensor>>>>;

/// Identifies a parameter in a parameter store (`nn::ParamStore` hands these out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub usize);

/// A value in the graph: a tensor, its id on the tape, and whether it needs a gradient.
#[derive(Clone, Debug)]
pub struct Var {
    id: usize,
    value: Tensor,
    tracked: bool,
}

impl Var {
    /// The tensor.
    pub fn value(&self) -> &Tensor {
        &self.value
    }
    /// Its shape.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }
    /// The id on its tape (keys of [`Grads`]).
    pub fn id(&self) -> usize {
        self.id
    }
    /// Whether a gradient flows to it.
    pub fn tracked(&self) -> bool {
        self.tracked
    }
}

struct Node {
    out: usize,
    /// (input id, input tracked, input shape)
    inputs: Vec<(usize, bool, Vec<usize>)>,
    backward: BackwardFn,
    name: &'static str,
}

/// The record of one forward pass.
pub struct Tape<'g> {
    gpu: &'g Gpu,
    next_id: Cell<usize>,
    nodes: RefCell<Vec<Node>>,
    params: RefCell<HashMap<ParamId, Var>>,
    grad_enabled: bool,
}

/// Gradients of the leaves after [`Tape::backward`].
#[derive(Default)]
pub struct Grads {
    by_id: HashMap<usize, Tensor>,
    params: HashMap<ParamId, usize>,
}

impl Grads {
    /// The gradient of a leaf variable, if it received one.
    pub fn get(&self, v: &Var) -> Option<&Tensor> {
        self.by_id.get(&v.id)
    }
    /// The gradient of a parameter (none when frozen or unused).
    pub fn param(&self, id: ParamId) -> Option<&Tensor> {
        self.params.get(&id).and_then(|vid| self.by_id.get(vid))
    }
    /// Number of gradients held.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
    /// Whether no gradient was produced.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
    /// The parameter gradients of `self` plus those of `other` (another tape's: the next
    /// micro-batch of a step), added on the GPU; the result holds parameter gradients only.
    pub fn add_params(&self, gpu: &Gpu, other: &Grads) -> Result<Grads> {
        let mut ids: Vec<ParamId> = self.params.keys().chain(other.params.keys()).copied().collect();
        ids.sort();
        ids.dedup();
        let mut out = Grads::default();
        for (slot, id) in ids.into_iter().enumerate() {
            let sum = match (self.param(id), other.param(id)) {
                (Some(a), Some(b)) => elementwise::add(gpu, a, b)?,
                (Some(a), None) | (None, Some(a)) => a.clone(),
                (None, None) => continue,
            };
            out.by_id.insert(slot, sum);
            out.params.insert(id, slot);
        }
        Ok(out)
    }
}

impl<'g> Tape<'g> {
    /// An empty tape on `gpu`.
    pub fn new(gpu: &'g Gpu) -> Tape<'g> {
        Tape {
            gpu,
            next_id: Cell::new(0),
            nodes: RefCell::new(Vec::new()),
            params: RefCell::new(HashMap::new()),
            grad_enabled: true,
        }
    }

    /// A tape that records nothing (inference): every variable is untracked, no backward closure
    /// is kept, so intermediate tensors are freed as soon as the forward drops them.
    pub fn no_grad(gpu: &'g Gpu) -> Tape<'g> {
        Tape { grad_enabled: false, ..Tape::new(gpu) }
    }

    /// The context the tape records on.
    pub fn gpu(&self) -> &'g Gpu {
        self.gpu
    }

    fn fresh(&self) -> usize {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// A constant (no gradient): input images, targets.
    pub fn input(&self, t: &Tensor) -> Var {
        Var { id: self.fresh(), value: t.clone(), tracked: false }
    }

    /// A leaf that receives a gradient when `requires_grad`.
    pub fn leaf(&self, t: &Tensor, requires_grad: bool) -> Var {
        Var { id: self.fresh(), value: t.clone(), tracked: requires_grad && self.grad_enabled }
    }

    /// The variable of parameter `id` (the same one each time it is asked for on this tape, so a
    /// shared weight accumulates one gradient). Frozen parameters are untracked constants.
    pub fn param(&self, id: ParamId, value: &Tensor, frozen: bool) -> Var {
        if let Some(v) = self.params.borrow().get(&id) {
            return v.clone();
        }
        let v = self.leaf(value, !frozen);
        self.params.borrow_mut().insert(id, v.clone());
        v
    }

    /// Records a differentiable op whose value is already computed: `output` was made from
    /// `inputs`, and `backward` maps the output's gradient to the inputs' gradients. This is the
    /// extension point for ops defined outside this module (RoI pooling, custom losses):
    /// ```ignore
    /// let y = tape.custom_op("roi_pool", &[&features], out, Box::new(move |gpu, dy, needs| {
    ///     Ok(vec![needs[0].then(|| roi_pool_backward(gpu, dy, &argmax)).transpose()?])
    /// }));
    /// ```
    /// Nothing is recorded when no input is tracked.
    pub fn custom_op(&self, name: &'static str, inputs: &[&Var], output: Tensor, backward: BackwardFn) -> Var {
        let tracked = self.grad_enabled && inputs.iter().any(|v| v.tracked);
        let id = self.fresh();
        if tracked {
            self.nodes.borrow_mut().push(Node {
                out: id,
                inputs: inputs.iter().map(|v| (v.id, v.tracked, v.shape().to_vec())).collect(),
                backward,
                name,
            });
        }
        Var { id, value: output, tracked }
    }

    /// Number of recorded nodes (ops that will run a backward).
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.borrow().is_empty()
    }

    /// Reverse pass from `loss` with a seed gradient of ones. Consumes the recorded nodes (a tape
    /// runs backward once). Returns the gradients of every tracked leaf that `loss` depends on.
    pub fn backward(&self, loss: &Var) -> Result<Grads> {
        let seed = elementwise::full(self.gpu, loss.shape(), 1.0)?;
        self.backward_with(loss, seed)
    }

    /// Reverse pass from `out` with an explicit seed gradient `dout` (same shape as `out`).
    pub fn backward_with(&self, out: &Var, dout: Tensor) -> Result<Grads> {
        if dout.shape() != out.shape() {
            return Err(Error::shape("backward", format!("seed {:?} for output {:?}", dout.shape(), out.shape())));
        }
        let nodes = std::mem::take(&mut *self.nodes.borrow_mut());
        let params: HashMap<ParamId, usize> = self.params.borrow().iter().map(|(p, v)| (*p, v.id)).collect();
        if !out.tracked {
            return Ok(Grads { by_id: HashMap::new(), params });
        }
        let mut grads: HashMap<usize, Tensor> = HashMap::new();
        grads.insert(out.id, dout);
        for node in nodes.into_iter().rev() {
            // An intermediate's gradient is complete once its producer is reached: take it out.
            let Some(dy) = grads.remove(&node.out) else { continue };
            let needs: Vec<bool> = node.inputs.iter().map(|i| i.1).collect();
            let gin = (node.backward)(self.gpu, &dy, &needs)?;
            if gin.len() != node.inputs.len() {
                return Err(Error::invalid(
                    node.name,
                    format!("backward returned {} gradients for {} inputs", gin.len(), node.inputs.len()),
                ));
            }
            for ((id, tracked, shape), g) in node.inputs.into_iter().zip(gin) {
                let (true, Some(g)) = (tracked, g) else { continue };
                if g.shape() != shape.as_slice() {
                    return Err(Error::shape(
                        node.name,
                        format!("backward gave a gradient of shape {:?} for an input of shape {shape:?}", g.shape()),
                    ));
                }
                let acc = match grads.remove(&id) {
                    Some(old) => elementwise::add(self.gpu, &old, &g)?,
                    None => g,
                };
                grads.insert(id, acc);
            }
        }
        Ok(Grads { by_id: grads, params })
    }
}
