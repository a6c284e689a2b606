//! `deeplesion synth`: write a synthetic dataset in the exact DeepLesion format.

use std::path::PathBuf;

use clap::Args;
use deeplesion::data::synth::{writer, SynthConfig};

#[derive(Args)]
pub struct SynthArgs {
    /// Output folder (DL_info.csv, truth.csv, Images_png/).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of patients.
    #[arg(long, default_value_t = 10)]
    pub patients: usize,
    /// Slice size in pixels (square); pixel spacing grows so the body still fits.
    #[arg(long, default_value_t = 512)]
    pub size: u32,
    /// Random seed: the output is a function of it.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(a: SynthArgs) -> anyhow::Result<()> {
    let cfg = SynthConfig { patients: a.patients, size: a.size, seed: a.seed };
    let bar = indicatif::ProgressBar::new(a.patients as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} patients {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t0 = std::time::Instant::now();
    let s = writer::generate(&cfg, &a.out, |i| bar.set_position(i as u64))?;
    bar.finish_and_clear();
    println!(
        "wrote {}: {} patients, {} series, {} key slices, {} annotated lesions, {} unannotated lesions (truth.csv), \
         {} PNG slices ({:.1} MB) in {:.1} s",
        a.out.display(),
        s.patients,
        s.series,
        s.images,
        s.annotated_lesions,
        s.unannotated_lesions,
        s.slices_written,
        s.bytes_written as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
