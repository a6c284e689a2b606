//! GPU ops: one module per op family, each with its params struct, launcher and CPU reference.

pub mod conv2d;
pub mod elementwise;
pub mod matmul;
pub mod maxpool;
