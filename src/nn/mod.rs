//! Small layers on the autograd: a named parameter store, Conv2d/Linear/ReLU/MaxPool2d/Flatten/Sequential, SGD.
//!
//! A model is a tree of [`Module`]s holding [`ParamId`]s; the values live in a [`ParamStore`] (so
//! checkpoints save and load by name, and freezing is a flag there). A training step:
//! ```ignore
//! let tape = Tape::new(gpu);
//! let logits = model.forward(&tape, &store, &tape.input(&images))?;
//! let loss = tape.softmax_ce(&logits, &labels, None, None)?;
//! let grads = tape.backward(&loss)?;
//! opt.step(gpu, &store, &grads)?;
//! let loss = loss.value().clone();
//! drop((tape, grads));                // buffers go back to the pool before the submit
//! let l = loss.to_vec(gpu)?[0];      // the step's only readback
//! ```

mod checkpoint;
mod layers;
mod optim;
mod params;
pub mod smoke;

pub use crate::autograd::{ParamId, Tape, Var};
pub use checkpoint::LoadReport;
pub use layers::{Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential};
pub use optim::Sgd;
pub use params::{Param, ParamStore};
