//! GPU ops: one module per op family, each with its params struct, launcher and CPU reference.

pub mod elementwise;
