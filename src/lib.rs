//! DeepLesion (Yan et al. 2017) on a from-scratch WGSL compute engine.
//!
//! Layers, bottom to top (dependencies point down): `gpu` (device, buffers, pipelines) and
//! `tensor`; `ops` (kernels with CPU references); `autograd` and `nn`; `data` (DeepLesion
//! format, mining, synthetic generator); `detection` (RoI ops, NMS, anchors); `cluster`;
//! `detector`; `eval`.

pub mod autograd;
pub mod bench;
pub mod cluster;
pub mod data;
pub mod detection;
pub mod detector;
pub mod error;
pub mod eval;
pub mod gpu;
pub mod nn;
pub mod ops;
pub mod tensor;

pub use error::{Error, Result};
pub use gpu::{Gpu, GpuOptions};
pub use tensor::{DType, Tensor};
#[doc(hidden)]
pub mod testing;
