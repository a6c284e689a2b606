//! The `deeplesion` command line: one subcommand a job; errors printed once with their chain.

mod cli;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "deeplesion",
    version,
    about = "DeepLesion lesion mining, categorization and detection on a WGSL compute engine"
)]
struct Cli {
    /// Adapter to use: index or name substring as listed by `deeplesion info` (env DEEPLESION_ADAPTER).
    #[arg(long, global = true, env = "DEEPLESION_ADAPTER")]
    adapter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the GPU adapters, the one chosen, its limits and features.
    Info,
    /// Time the kernels (matmul, conv2d passes, max-pool) on the chosen adapter beside CPU references.
    Bench(cli::bench::Args),
}

fn main() {
    let args = Cli::parse();
    let result = match args.command {
        Command::Info => cli::info::run(args.adapter.as_deref()),
        Command::Bench(b) => cli::bench::run(args.adapter.as_deref(), &b),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        let code = match e.downcast_ref::<deeplesion::Error>() {
            Some(deeplesion::Error::NoAdapter { .. }) | Some(deeplesion::Error::AdapterNotFound { .. }) => 2,
            _ => 1,
        };
        std::process::exit(code);
    }
}
