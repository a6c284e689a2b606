//! Subcommand implementations; each file holds one command.

pub mod bench;
pub mod cluster;
pub mod demo;
pub mod detect;
pub mod eval;
pub mod info;
pub mod mine;
pub mod stats;
pub mod synth;
pub mod train;
pub mod view;
