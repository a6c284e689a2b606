//! Subcommand implementations; each file holds one command.

pub mod bench;
pub mod info;
