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
    /// Mine lesion boxes from RECIST endpoints and compare them with Bounding_boxes.
    Mine(cli::mine::MineArgs),
    /// Write a synthetic dataset in the exact DeepLesion format.
    Synth(cli::synth::SynthArgs),
    /// Dataset figures: images, lesions, patients per split, types, sizes.
    Stats(cli::stats::StatsArgs),
    /// Draw a key slice with its RECIST axes and boxes.
    View(cli::view::ViewArgs),
    /// DeepLesion FROC metrics of a detections file (sensitivity at 0.5-16 FPs/image), JSON + chart.
    Eval(cli::eval::Args),
    /// Cluster lesions into pseudo categories (deep features, GPU k-means, LDPO refinement).
    Cluster(cli::cluster::ClusterArgs),
    /// Train the Faster R-CNN lesion detector (checkpoints, logs, validation each epoch).
    Train(cli::train::Args),
    /// Run a trained detector on a split or one PNG: detections CSV/JSON and overlays.
    Detect(cli::detect::Args),
    /// The whole pipeline on synthetic data: mining, clustering, two detectors, evaluation, report.
    Demo(cli::demo::Args),
}

fn main() {
    let args = Cli::parse();
    let result = match args.command {
        Command::Info => cli::info::run(args.adapter.as_deref()),
        Command::Bench(b) => cli::bench::run(args.adapter.as_deref(), &b),
        Command::Mine(a) => cli::mine::run(a),
        Command::Synth(a) => cli::synth::run(a),
        Command::Stats(a) => cli::stats::run(a),
        Command::View(a) => cli::view::run(a),
        Command::Eval(a) => cli::eval::run(a),
        Command::Cluster(a) => cli::cluster::run(args.adapter.as_deref(), a),
        Command::Train(a) => cli::train::run(a, args.adapter.as_deref()),
        Command::Detect(a) => cli::detect::run(a, args.adapter.as_deref()),
        Command::Demo(a) => cli::demo::run(a, args.adapter.as_deref()),
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
