//! The integration tests, one binary (one link): a module per area.

mod cli_info;
mod elementwise;
mod engine;
mod shaders;
