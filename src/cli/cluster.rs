//! `deeplesion cluster`: lesion patches, deep features, GPU k-means and LDPO refinement into pseudo categories.

use std::path::PathBuf;

use clap::Args;
use deeplesion::cluster::{self, ClusterConfig, KChoice};
use deeplesion::data::dataset::{Dataset, LoadOptions};
use deeplesion::data::preprocess::Window;
use deeplesion::{Gpu, GpuOptions};

#[derive(Args)]
pub struct ClusterArgs {
    /// DeepLesion folder (DL_info.csv + Images_png/), e.g. data-fixtures.
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: pseudo_labels.csv, centroids.csv, confusion.csv, report.{txt,json}, metrics.png, mosaic.png.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of clusters (ignored with --k-sweep).
    #[arg(long, default_value_t = 8)]
    pub k: usize,
    /// Choose k in MIN..MAX by the silhouette of the round-0 features, e.g. 4..12.
    #[arg(long)]
    pub k_sweep: Option<String>,
    /// Refinement rounds after round 0.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Classifier epochs per round.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Stop when fewer than this fraction of lesions change cluster between rounds.
    #[arg(long, default_value_t = 0.05)]
    pub stop_change: f64,
    /// Channels of the first conv block (the network doubles them to 4x).
    #[arg(long, default_value_t = 8)]
    pub width: usize,
    /// Conv blocks (each but the last halves the map).
    #[arg(long, default_value_t = 4)]
    pub blocks: usize,
    /// Spatial pooling of the last conv block: CELLS x CELLS average-pooled regions (1 = global).
    #[arg(long, default_value_t = 1)]
    pub pool_cells: usize,
    /// Feature normalisation before k-means: standardize (per-dimension z-score over the lesions),
    /// l2 (unit vectors; drops the brightness level, see README) or none.
    #[arg(long, default_value = "standardize")]
    pub feature_norm: deeplesion::cluster::features::FeatureNorm,
    /// Re-cluster every round with fresh k-means++ restarts instead of starting from the previous
    /// round's clusters.
    #[arg(long)]
    pub fresh_kmeans: bool,
    /// Classifier learning rate.
    #[arg(long, default_value_t = 0.01)]
    pub lr: f32,
    /// Patch side in pixels.
    #[arg(long, default_value_t = 64)]
    pub patch: usize,
    /// Context margin on each side as a fraction of the box.
    #[arg(long, default_value_t = 0.5)]
    pub margin: f32,
    /// Intensity window: soft-tissue (default), paper, lung, bone, dicom or LO,HI.
    #[arg(long, default_value = "soft-tissue")]
    pub window: Window,
    /// k-means restarts (k-means++ seeds); the lowest inertia is kept.
    #[arg(long, default_value_t = 3)]
    pub restarts: usize,
    /// Pretrained weights (safetensors, parameter names conv{b}_{i}.weight/bias) for round 0.
    #[arg(long)]
    pub pretrained: Option<PathBuf>,
    /// Seed of weights, seeding and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn parse_sweep(s: &str) -> anyhow::Result<KChoice> {
    let (a, b) = s.split_once("..").ok_or_else(|| anyhow::anyhow!("--k-sweep wants MIN..MAX, got '{s}'"))?;
    let (min, max) = (a.trim().parse()?, b.trim().trim_start_matches('=').parse()?);
    anyhow::ensure!(min >= 2 && max >= min, "--k-sweep needs 2 <= MIN <= MAX, got {min}..{max}");
    Ok(KChoice::Sweep { min, max })
}

pub fn run(adapter: Option<&str>, a: ClusterArgs) -> anyhow::Result<()> {
    let t0 = std::time::Instant::now();
    let gpu = Gpu::new(GpuOptions { adapter: adapter.map(str::to_string), poison: false })?;
    let (ds, summary) = Dataset::open(&a.data, &LoadOptions::default())?;
    if !summary.skipped.is_empty() {
        eprintln!("{}", summary.report());
    }
    let mut cfg = ClusterConfig::default();
    cfg.patches.size = a.patch;
    cfg.patches.margin = a.margin;
    cfg.patches.window = a.window;
    cfg.ldpo.k = match &a.k_sweep {
        Some(s) => parse_sweep(s)?,
        None => KChoice::Fixed(a.k),
    };
    cfg.ldpo.rounds = a.rounds;
    cfg.ldpo.epochs = a.epochs;
    cfg.ldpo.stop_change = a.stop_change;
    cfg.ldpo.kmeans.restarts = a.restarts;
    cfg.ldpo.kmeans.seed = a.seed;
    cfg.ldpo.features.width = a.width;
    cfg.ldpo.features.blocks = a.blocks;
    cfg.ldpo.features.seed = a.seed;
    cfg.ldpo.features.pool_cells = a.pool_cells;
    cfg.ldpo.features.norm = a.feature_norm;
    cfg.ldpo.features.lr = a.lr;
    cfg.ldpo.warm_start = !a.fresh_kmeans;
    cfg.ldpo.pretrained = a.pretrained;
    cfg.ldpo.seed = a.seed;
    let mp = indicatif::MultiProgress::new();
    let rep = cluster::run(&gpu, &ds, &cfg, &a.out, Some(&mp), &mut |line| {
        let _ = mp.println(line);
    })?;
    println!("\n{}", cluster::report::summary(&rep));
    println!("wrote {} in {:.1} s", a.out.display(), t0.elapsed().as_secs_f64());
    Ok(())
}
