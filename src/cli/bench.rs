//! `deeplesion bench`: times the engine's kernels on the chosen adapter beside the CPU references, as a table or CSV.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use deeplesion::bench::{self, Row};
use deeplesion::gpu::Variant;
use deeplesion::{Gpu, GpuOptions};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also write the table as CSV to this file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// One case per kernel at the smaller size, fewer repetitions, no CPU reference.
    #[arg(long)]
    pub quick: bool,
    /// Kernel variant: `auto` (the adapter's), `rb` (register-blocked), `tiled` (workgroup tiles) or `both`.
    #[arg(long, default_value = "auto")]
    pub variant: String,
    /// Subgroup-broadcast kernels (register-blocked variant, adapters with 8-lane subgroups such as
    /// lavapipe): `on` (used where offered), `off`, or `both` (each case timed both ways, side by side).
    #[arg(long, default_value = "on")]
    pub subgroups: String,
    /// Timed repetitions per case (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Skip the CPU reference timings (they take seconds per case).
    #[arg(long)]
    pub no_cpu: bool,
}

pub fn run(adapter: Option<&str>, args: &Args) -> anyhow::Result<()> {
    let gpu = Gpu::new(GpuOptions { adapter: adapter.map(str::to_string), poison: false })?;
    let variants: Vec<Option<Variant>> = match args.variant.as_str() {
        "auto" => vec![None],
        "rb" => vec![Some(Variant::RegisterBlocked)],
        "tiled" => vec![Some(Variant::WorkgroupTiled)],
        "both" => vec![Some(Variant::RegisterBlocked), Some(Variant::WorkgroupTiled)],
        other => anyhow::bail!("unknown --variant '{other}': use auto, rb, tiled or both"),
    };
    let reps = if args.quick { args.reps.min(3) } else { args.reps };
    let with_cpu = !args.quick && !args.no_cpu;
    println!("Adapter: {} ({:?}, {:?})", gpu.info.name, gpu.info.backend, gpu.info.device_type);
    println!("{:<24} {:<19} {:<26} {:>10} {:>12} {:>12}", "kernel", "variant", "shape", "ms", "rate", "CPU ref ms");
    let mut rows = Vec::new();
    let sg_off: Vec<bool> = match args.subgroups.as_str() {
        "on" => vec![false],
        "off" => vec![true],
        "both" => vec![false, true],
        other => anyhow::bail!("unknown --subgroups '{other}': use on, off or both"),
    };
    for v in &variants {
        gpu.force_variant(*v);
        for kind in bench::cases(args.quick) {
            // Maxpool has one variant: measure it once.
            if matches!(kind, bench::Kind::MaxPool { .. }) && rows.iter().any(|r: &Row| r.kernel == kind.kernel()) {
                continue;
            }
            for &off in &sg_off {
                // The tiled kernels and max-pool use no subgroup operations: one run is enough.
                let plain = gpu.variant() == Variant::WorkgroupTiled || matches!(kind, bench::Kind::MaxPool { .. });
                if off && plain && sg_off.len() > 1 {
                    continue;
                }
                gpu.disable_subgroups(off);
                let row = bench::measure(&gpu, kind, reps, with_cpu && !(off && sg_off.len() > 1))
                    .with_context(|| format!("benchmark {}", kind.kernel()))?;
                gpu.disable_subgroups(false);
                print_row(&row);
                std::io::stdout().flush().ok();
                rows.push(row);
            }
        }
    }
    gpu.force_variant(None);
    let train = bench::train_loop(&gpu, 10).context("training-loop benchmark")?;
    println!(
        "train_step tiny_cnn (batch {}, {}x{}): {:.1} steps/s ({:.1} ms/step); per step {} submits, {} readbacks, {} dispatches, {} new buffers",
        deeplesion::nn::smoke::BATCH,
        deeplesion::nn::smoke::SIDE,
        deeplesion::nn::smoke::SIDE,
        train.steps_per_s,
        train.ms_per_step,
        train.submits_per_step,
        train.readbacks_per_step,
        train.dispatches_per_step,
        train.new_buffers_per_step
    );
    println!("rate: GFLOP/s (GB/s for maxpool); ms: median of {reps} runs, each submitted and waited for.");
    if with_cpu {
        println!("CPU ref: the plain-loop Rust references of ops::*::cpu (f64 accumulation, one thread), one run.");
    }
    if let Some(path) = &args.csv {
        write_csv(path, &gpu, &rows, &train).with_context(|| format!("writing {}", path.display()))?;
        println!("Wrote {}", path.display());
    }
    Ok(())
}

fn print_row(r: &Row) {
    let cpu = r.cpu_ms.map_or("-".to_string(), |ms| format!("{ms:.1}"));
    println!(
        "{:<24} {:<19} {:<26} {:>10.2} {:>6.1} {:<5} {:>12}",
        r.kernel,
        r.variant_label(),
        r.shape,
        r.gpu_ms,
        r.rate,
        r.unit,
        cpu
    );
}

fn write_csv(path: &PathBuf, gpu: &Gpu, rows: &[Row], train: &bench::TrainRow) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(["adapter", "kernel", "variant", "shape", "ms", "rate", "unit", "cpu_ref_ms", "cpu_ref_rate"])?;
    for r in rows {
        w.write_record([
            gpu.info.name.clone(),
            r.kernel.to_string(),
            r.variant_label(),
            r.shape.clone(),
            format!("{:.4}", r.gpu_ms),
            format!("{:.3}", r.rate),
            r.unit.to_string(),
            r.cpu_ms.map_or(String::new(), |v| format!("{v:.3}")),
            r.cpu_rate.map_or(String::new(), |v| format!("{v:.3}")),
        ])?;
    }
    // The training loop as one more row: rate in steps/s, ms per step.
    w.write_record([
        gpu.info.name.clone(),
        "train_step_tiny_cnn".to_string(),
        format!("{:?}", gpu.variant()),
        format!(
            "batch {} {}x{}",
            deeplesion::nn::smoke::BATCH,
            deeplesion::nn::smoke::SIDE,
            deeplesion::nn::smoke::SIDE
        ),
        format!("{:.4}", train.ms_per_step),
        format!("{:.3}", train.steps_per_s),
        "steps/s".to_string(),
        String::new(),
        String::new(),
    ])?;
    w.flush()?;
    Ok(())
}
