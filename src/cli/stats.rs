//! `deeplesion stats DIR`: per-split counts, coarse types, lesion sizes; optionally as JSON.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use deeplesion::data::{stats, Dataset, LoadOptions};

#[derive(Args)]
pub struct StatsArgs {
    /// Dataset folder holding DL_info.csv and Images_png/.
    pub dir: PathBuf,
    /// Also write the figures (and the load summary) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Skip the PNG header checks (CSV only; fast on the full release).
    #[arg(long)]
    pub no_image_check: bool,
    /// Stop at the first bad row instead of skipping it.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(a: StatsArgs) -> anyhow::Result<()> {
    let opts = LoadOptions { strict: a.strict, check_images: !a.no_image_check };
    let (ds, summary) = Dataset::open(&a.dir, &opts)?;
    for s in summary.skipped.iter().take(20) {
        eprintln!("{s}");
    }
    if summary.skipped.len() > 20 {
        eprintln!("... {} more skipped rows", summary.skipped.len() - 20);
    }
    println!("{}\n", summary.report());
    let st = stats::compute(&ds);
    print!("{}", stats::table(&st));
    if let Some(p) = a.json {
        let v = serde_json::json!({ "stats": st, "load": summary });
        std::fs::write(&p, serde_json::to_string_pretty(&v)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
        println!("\nwrote {}", p.display());
    }
    Ok(())
}
