//! Subcommand implementations; each file holds one command.

pub mod info;
