//! `deeplesion mine DIR`: boxes mined from RECIST endpoints, written as CSV, with rows that disagree with Bounding_boxes reported.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use deeplesion::data::dl_info::{fmt_list, zero_based_to_file};
use deeplesion::data::{recist, Dataset, LoadOptions};

#[derive(Args)]
pub struct MineArgs {
    /// Dataset folder holding DL_info.csv (the PNGs are not needed).
    pub dir: PathBuf,
    /// Output CSV of mined boxes (default DIR/mined_boxes.csv).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Disagreement in pixels above which a row is reported.
    #[arg(long, default_value_t = 1.0)]
    pub tolerance: f32,
    /// Stop at the first bad row instead of skipping it.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(a: MineArgs) -> anyhow::Result<()> {
    let opts = LoadOptions { strict: a.strict, check_images: false };
    let (ds, summary) = Dataset::open(&a.dir, &opts)?;
    for s in summary.skipped.iter().take(20) {
        eprintln!("{s}");
    }
    let out = a.out.unwrap_or_else(|| a.dir.join("mined_boxes.csv"));
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_path(&out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    w.write_record([
        "File_name",
        "Line",
        "Mined_box",
        "Stored_box",
        "Mined_diameters_Pixel_",
        "Stored_diameters_Pixel_",
        "Box_diff_px",
        "Diameter_diff_px",
    ])?;
    let (mut n, mut bad_box, mut bad_diam) = (0usize, Vec::new(), 0usize);
    for im in &ds.images {
        for l in &im.lesions {
            let m = recist::mine(l);
            n += 1;
            let file = |b: [f32; 4]| fmt_list(&b.map(|v| zero_based_to_file(v) as f64));
            w.write_record([
                m.file_name.clone(),
                m.line.to_string(),
                file(m.mined_box),
                file(m.stored_box),
                fmt_list(&m.mined_diameters.map(f64::from)),
                fmt_list(&m.stored_diameters.map(f64::from)),
                format!("{:.3}", m.box_diff),
                format!("{:.3}", m.diameter_diff),
            ])?;
            if m.box_diff > a.tolerance {
                bad_box.push(m.clone());
            }
            bad_diam += (m.diameter_diff > a.tolerance) as usize;
        }
    }
    w.flush()?;
    println!("{}", summary.report());
    println!("mined {n} boxes (RECIST extent + {} px) -> {}", recist::BOX_PADDING, out.display());
    println!(
        "{} rows whose stored box differs from the mined one by more than {} px; {} rows whose diameters differ",
        bad_box.len(),
        a.tolerance,
        bad_diam
    );
    for m in bad_box.iter().take(20) {
        println!(
            "  line {} {}: stored {:?} mined {:?} (max diff {:.2} px)",
            m.line, m.file_name, m.stored_box, m.mined_box, m.box_diff
        );
    }
    if bad_box.len() > 20 {
        println!("  ... {} more in the CSV (Box_diff_px column)", bad_box.len() - 20);
    }
    Ok(())
}
