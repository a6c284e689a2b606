//! The integration tests, one binary (one link): a module per area.

mod cli_info;
mod conv2d;
mod elementwise;
mod engine;
mod matmul;
mod maxpool;
mod shaders;
