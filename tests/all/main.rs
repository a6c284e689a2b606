//! The integration tests, one binary (one link): a module per area.

mod elementwise;
mod engine;
mod shaders;
