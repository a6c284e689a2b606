//! `deeplesion eval`: DeepLesion FROC metrics of a detections file against DL_info.csv, as JSON and a chart.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args as ClapArgs;
use deeplesion::data::Split;
use deeplesion::eval::{self, ground_truth, Convention, EvalOptions, Metrics};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Detections file (CSV `file,x1,y1,x2,y2,score,class` or JSON), boxes 0-based in original slice pixels.
    #[arg(long)]
    pub detections: PathBuf,
    /// Dataset folder holding DL_info.csv.
    #[arg(long)]
    pub data: PathBuf,
    /// Split to evaluate: train, val or test.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Output folder for metrics.json and froc.png (default: the detections file's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Use continuous box extents (x2 - x1) instead of the public code's pixel-inclusive (x2 - x1 + 1).
    #[arg(long)]
    pub continuous: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let dets = eval::detections::read(&args.detections)?;
    let split: Split = args.split.parse().map_err(anyhow::Error::msg)?;
    let (images, gts) = ground_truth::load(&args.data.join("DL_info.csv"), split)?;
    let convention = if args.continuous { Convention::Continuous } else { Convention::PixelInclusive };
    let metrics = eval::evaluate(&dets, &gts, &images, EvalOptions { convention, threshold: 0.5 })?;
    let out = args.out.clone().unwrap_or_else(|| args.detections.parent().unwrap_or(Path::new(".")).to_path_buf());
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    write_outputs(&out, &metrics, "detector")?;
    if metrics.detections_ignored > 0 {
        eprintln!(
            "note: {} detections are on images not evaluated (outside the {} split, or with only noisy lesions) and were ignored",
            metrics.detections_ignored, args.split
        );
    }
    print!("{}", summary(&metrics));
    println!("wrote {} and {}", out.join("metrics.json").display(), out.join("froc.png").display());
    Ok(())
}

/// Writes metrics.json and froc.png (IoU and IoBB curves) into `out`.
pub fn write_outputs(out: &Path, m: &Metrics, name: &str) -> anyhow::Result<()> {
    std::fs::write(out.join("metrics.json"), serde_json::to_string_pretty(m)?)?;
    eval::plot::froc_chart(
        &out.join("froc.png"),
        &format!("FROC ({} images, {} lesions)", m.images, m.lesions),
        &[(format!("{name}, IoU>=0.5"), m.iou.curve.clone()), (format!("{name}, IoBB>=0.5"), m.iobb.curve.clone())],
    )?;
    Ok(())
}

/// A plain-text table of the headline numbers.
pub fn summary(m: &Metrics) -> String {
    let mut s = format!(
        "{} images, {} lesions ({} noisy excluded), {} detections; overlap {:?}; past the last FROC point: held\n",
        m.images, m.lesions, m.noisy_lesions_excluded, m.detections, m.overlap_convention
    );
    s += &format!("{:<22}", "sensitivity @ FPs/img");
    for f in &m.fp_levels {
        s += &format!("{f:>7}");
    }
    s += "   mean(0.5-4)\n";
    let mut row = |name: &str, v: &eval::metrics::Sensitivities| {
        s += &format!("{name:<22}");
        for x in &v.sensitivity {
            s += &format!("{x:>7.3}");
        }
        s += &format!("   {:.3}\n", v.mean_0_5_to_4);
    };
    row("IoU >= 0.5", &m.iou.overall);
    row("IoBB >= 0.5", &m.iobb.overall);
    for (n, v) in m.iou.per_type.iter().chain(&m.iou.per_size) {
        row(&format!("  {n} (n={})", v.lesions), v);
    }
    s
}
