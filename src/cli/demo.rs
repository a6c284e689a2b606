//! `deeplesion demo` (what `make demo` runs): synthetic data, box mining, pseudo categories, two detectors, evaluation, a report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args as ClapArgs;
use deeplesion::cluster::{self, ClusterConfig, KChoice};
use deeplesion::data::synth::{writer, SynthConfig};
use deeplesion::data::{recist, Dataset, LoadOptions, Split};
use deeplesion::detector::config::ClassMode;
use deeplesion::detector::train::{load_network, train, TrainOptions};
use deeplesion::detector::{infer, report, Config};
use deeplesion::eval::{self, Metrics};
use deeplesion::{Gpu, GpuOptions};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Report folder.
    #[arg(long, default_value = "demo-report")]
    pub out: PathBuf,
    /// Synthetic dataset folder (generated when it has no DL_info.csv, reused otherwise).
    #[arg(long, default_value = "demo-data")]
    pub data: PathBuf,
    /// Patients to generate.
    #[arg(long, default_value_t = 120)]
    pub patients: usize,
    /// Slice size of the generated data (px).
    #[arg(long, default_value_t = 128)]
    pub size: u32,
    /// Training epochs of each detector.
    #[arg(long, default_value_t = 16)]
    pub epochs: usize,
    /// Pseudo categories.
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    /// Seed of everything.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The demo's detector config: the small-CPU preset at the data's size.
pub fn demo_config(size: u32, epochs: usize, seed: u64) -> Config {
    let mut c = Config::small_cpu();
    c.data.image_size = size as usize;
    c.train.epochs = epochs;
    c.train.lr_steps = vec![epochs.saturating_sub(1).max(1)];
    c.train.seed = seed;
    c
}

pub fn run(args: Args, adapter: Option<&str>) -> anyhow::Result<()> {
    let t_all = Instant::now();
    let gpu = Gpu::new(GpuOptions { adapter: adapter.map(String::from), poison: false })?;
    let adapter_line = format!("{} ({:?}, {:?})", gpu.info.name, gpu.info.device_type, gpu.info.backend);
    println!("adapter: {adapter_line}");
    std::fs::create_dir_all(&args.out)?;
    let mut times: Vec<(&str, f64)> = Vec::new();

    // 1. Data.
    let t = Instant::now();
    if args.data.join("DL_info.csv").exists() {
        println!("[1/6] reusing the synthetic dataset in {}", args.data.display());
    } else {
        println!(
            "[1/6] generating {} synthetic patients at {} px into {}",
            args.patients,
            args.size,
            args.data.display()
        );
        let cfg = SynthConfig { patients: args.patients, size: args.size, seed: args.seed };
        writer::generate(&cfg, &args.data, |_| {})?;
    }
    let (ds, _) = Dataset::open(&args.data, &LoadOptions::default())?;
    let ds = Arc::new(ds);
    let counts: Vec<usize> = [Split::Train, Split::Val, Split::Test].iter().map(|s| ds.indices(*s).len()).collect();
    println!("      {} key slices: train {}, val {}, test {}", ds.images.len(), counts[0], counts[1], counts[2]);
    times.push(("data", t.elapsed().as_secs_f64()));

    // 2. Mine boxes from RECIST and compare with the stored ones.
    let t = Instant::now();
    let (mut lesions, mut off) = (0usize, 0usize);
    for img in &ds.images {
        for l in &img.lesions {
            lesions += 1;
            let m = recist::mine(l);
            if m.box_diff > 1.0 {
                off += 1;
            }
        }
    }
    println!("[2/6] mined {lesions} boxes from RECIST (5 px padding): {off} differ from Bounding_boxes by > 1 px");
    times.push(("mining", t.elapsed().as_secs_f64()));

    // 3. Pseudo categories.
    let t = Instant::now();
    println!("[3/6] clustering lesions into {} pseudo categories", args.k);
    let mut ccfg = ClusterConfig::default();
    ccfg.ldpo.k = KChoice::Fixed(args.k);
    ccfg.ldpo.rounds = 2;
    ccfg.ldpo.seed = args.seed;
    ccfg.ldpo.kmeans.seed = args.seed;
    ccfg.ldpo.features.seed = args.seed;
    let cdir = args.out.join("cluster");
    let rep = cluster::run(&gpu, &ds, &ccfg, &cdir, None, &mut |line| println!("      {line}"))?;
    let cluster_summary = cluster::report::summary(&rep);
    times.push(("clustering", t.elapsed().as_secs_f64()));

    // 4. Two detectors, same data and budget.
    let mut metrics: Vec<(String, Metrics)> = Vec::new();
    for (name, mode) in [("binary", ClassMode::Single), ("pseudo", ClassMode::Pseudo)] {
        let t = Instant::now();
        let mut cfg = demo_config(args.size, args.epochs, args.seed);
        cfg.data.classes = mode;
        if mode == ClassMode::Pseudo {
            cfg.data.pseudo_labels = Some(cdir.join("pseudo_labels.csv").display().to_string());
        }
        let run_dir = args.out.join(format!("detector-{name}"));
        println!("[4/6] training the {name} detector ({} epochs) into {}", cfg.train.epochs, run_dir.display());
        let s = train(
            &gpu,
            &TrainOptions {
                data: args.data.clone(),
                out: run_dir.clone(),
                cfg,
                resume: false,
                progress: true,
                stop: None,
                max_epochs_this_run: None,
            },
        )?;
        println!(
            "      {} steps in {:.1} s ({:.2} images/s), loss {:.3} -> {:.3}",
            s.steps, s.seconds, s.images_per_s, s.first_loss, s.last_loss
        );
        times.push((if name == "binary" { "train binary" } else { "train pseudo" }, t.elapsed().as_secs_f64()));

        // 5. Evaluate the best model on the test split.
        let t = Instant::now();
        let model =
            if run_dir.join("best.safetensors").exists() { "best.safetensors" } else { "checkpoint.safetensors" };
        let (net, _) = load_network(&gpu, &run_dir.join(model))?;
        let mut dets = Vec::new();
        let m = infer::evaluate_split(&gpu, &net, &ds, Split::Test, 0, Some(&mut dets))?;
        let edir = run_dir.join("test");
        std::fs::create_dir_all(edir.join("overlays"))?;
        eval::detections::write_csv(&edir.join("detections.csv"), &dets)?;
        std::fs::write(edir.join("metrics.json"), serde_json::to_string_pretty(&m)?)?;
        let (_, kept) =
            infer::detect_dataset(&gpu, &net, &ds, ds.indices(Split::Test).into_iter().take(6).collect(), 6, |_| {})?;
        for (img, d) in &kept {
            report::overlay(&edir.join("overlays").join(&img.file_name), img, d, 0.5)?;
        }
        println!("[5/6] {name}: test mean sensitivity (0.5-4 FPs/image) {:.3}", m.iou.overall.mean_0_5_to_4);
        times.push((if name == "binary" { "eval binary" } else { "eval pseudo" }, t.elapsed().as_secs_f64()));
        metrics.push((name.to_string(), m));
    }

    // 6. Report.
    write_report(
        &args.out,
        &metrics,
        &rep_json(&cdir),
        &cluster_summary,
        &adapter_line,
        &times,
        t_all.elapsed().as_secs_f64(),
    )
}

fn rep_json(cdir: &Path) -> serde_json::Value {
    std::fs::read_to_string(cdir.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn write_report(
    out: &Path,
    metrics: &[(String, Metrics)],
    cluster_json: &serde_json::Value,
    cluster_summary: &str,
    adapter: &str,
    times: &[(&str, f64)],
    total: f64,
) -> anyhow::Result<()> {
    let curves: Vec<(String, Vec<(f64, f64)>)> =
        metrics.iter().map(|(n, m)| (format!("{n} classes, IoU>=0.5"), m.iou.curve.clone())).collect();
    eval::plot::froc_chart(&out.join("froc.png"), "FROC on the synthetic test split", &curves)?;
    let mut loss_series = Vec::new();
    for (n, _) in metrics {
        let s = report::read_log(&out.join(format!("detector-{n}")).join("log.csv"))?;
        if let Some(total) = s.into_iter().find(|x| x.0 == "total") {
            loss_series.push((format!("{n} total loss"), total.1));
        }
    }
    eval::plot::line_chart(&out.join("loss.png"), "training loss", "step", "loss", &loss_series)?;
    let mut table = format!("{:<10}", "FPs/img");
    for f in eval::metrics::FP_LEVELS {
        table += &format!("{f:>7}");
    }
    table += "  mean(0.5-4)\n";
    for (n, m) in metrics {
        table += &format!("{n:<10}");
        for s in &m.iou.overall.sensitivity {
            table += &format!("{s:>7.3}");
        }
        table += &format!("  {:.3}\n", m.iou.overall.mean_0_5_to_4);
    }
    let (b, p) = (metrics[0].1.iou.overall.mean_0_5_to_4, metrics[1].1.iou.overall.mean_0_5_to_4);
    // Kernel changes that only reorder floating-point sums moved each detector's figure by up to
    // 0.086 between demo runs (README, "make demo"): smaller gaps are noise.
    const SPREAD: f64 = 0.09;
    let verdict = if (p - b).abs() < SPREAD {
        format!("pseudo-label classes {p:.3} vs a single class {b:.3} mean sensitivity: within the run-to-run spread of about {SPREAD} (float summation order alone moves each figure that much), so this run cannot tell them apart")
    } else if p > b {
        format!("pseudo-label classes beat a single class by {:.3} mean sensitivity ({p:.3} vs {b:.3}) on this synthetic test split (one seed)", p - b)
    } else {
        format!("a single class beat pseudo-label classes by {:.3} mean sensitivity ({b:.3} vs {p:.3}) on this synthetic test split (one seed): the paper's gain is not reproduced here", b - p)
    };
    let mut text = format!("adapter: {adapter}\ntotal time: {total:.1} s\n\n");
    text += "sensitivity on the test split (IoU >= 0.5, pixel-inclusive; held past the last FROC point)\n";
    text += &table;
    text += &format!("\n{verdict}\n\nclusters:\n{cluster_summary}\n\ntimes (s):\n");
    for (n, s) in times {
        text += &format!("  {n:<14} {s:>7.1}\n");
    }
    std::fs::write(out.join("summary.txt"), &text)?;
    let json = serde_json::json!({
        "adapter": adapter,
        "total_seconds": total,
        "times_seconds": times.iter().map(|(n, s)| (n.to_string(), *s)).collect::<std::collections::BTreeMap<_, _>>(),
        "metrics": metrics.iter().map(|(n, m)| (n.clone(), m)).collect::<std::collections::BTreeMap<_, _>>(),
        "cluster": cluster_json,
        "verdict": verdict,
    });
    std::fs::write(out.join("metrics.json"), serde_json::to_string_pretty(&json)?).context("writing metrics.json")?;
    println!("[6/6] report in {}\n\n{text}", out.display());
    Ok(())
}
