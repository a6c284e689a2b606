//! The integration tests, one binary (one link): a module per area.

mod autograd;
mod cli_info;
mod cluster;
mod conv2d;
mod data_cli;
mod data_preprocess;
mod data_reader;
mod data_synth;
mod data_tools;
mod detector;
mod elementwise;
mod engine;
mod eval;
mod init;
mod kmeans;
mod losses;
mod matmul;
mod maxpool;
mod nn;
mod reduce;
mod sgd;
mod shaders;
