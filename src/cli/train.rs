//! `deeplesion train`: trains the lesion detector (paper defaults or a preset, overridden by a TOML config).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Args as ClapArgs;
use deeplesion::detector::train::{train, TrainOptions};
use deeplesion::detector::Config;
use deeplesion::{Gpu, GpuOptions};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Dataset folder (DL_info.csv + Images_png/).
    #[arg(long)]
    pub data: PathBuf,
    /// Run folder for the config, logs, charts and checkpoints.
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// TOML config; keys it leaves out take the preset's values.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Starting values: `paper` (the journal version's set-up) or `small-cpu` (minutes on a CPU adapter).
    #[arg(long, default_value = "paper")]
    pub preset: String,
    /// Continue the run in this folder from its last checkpoint (its own config is used).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Override train.epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// No progress bar (logs still written).
    #[arg(long)]
    pub quiet: bool,
}

/// Builds the config: preset, then the TOML file's keys over it, then flags.
pub fn config(preset: &str, file: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let mut cfg = Config::preset(preset)?;
    if let Some(p) = file {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        // Merge: the file's tables over the preset's.
        let mut base = toml::Value::try_from(&cfg)?;
        let over: toml::Value = toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
        merge(&mut base, over);
        cfg = base.try_into().with_context(|| format!("{}: invalid config", p.display()))?;
    }
    cfg.validate().map_err(anyhow::Error::msg)?;
    Ok(cfg)
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

pub fn run(args: Args, adapter: Option<&str>) -> anyhow::Result<()> {
    let mut cfg = config(&args.preset, args.config.as_deref())?;
    if let Some(e) = args.epochs {
        cfg.train.epochs = e;
    }
    let gpu = Gpu::new(GpuOptions { adapter: adapter.map(String::from), poison: false })?;
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    ctrlc::set_handler(move || {
        eprintln!("\ninterrupt: saving a checkpoint after this step (Ctrl-C again to abort)");
        if s2.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .context("installing the Ctrl-C handler")?;
    let (out, resume) = match &args.resume {
        Some(r) => (r.clone(), true),
        None => (args.out.clone().context("--out is required")?, false),
    };
    println!("adapter: {} ({:?})", gpu.info.name, gpu.info.device_type);
    let s = train(
        &gpu,
        &TrainOptions {
            data: args.data,
            out: out.clone(),
            cfg,
            resume,
            progress: !args.quiet,
            stop: Some(stop),
            max_epochs_this_run: None,
        },
    )?;
    if let Some(r) = gpu.profile_report() {
        eprint!("{r}");
    }
    if s.interrupted {
        println!(
            "interrupted at step {}; resume with: deeplesion train --data ... --resume {}",
            s.steps,
            out.display()
        );
        std::process::exit(130);
    }
    let best = match s.best_epoch {
        Some(e) => format!("best validation mean sensitivity {:.3} (epoch {e})", s.best_val_mean_sensitivity),
        None => "no validation (train.validate = false)".to_string(),
    };
    println!(
        "trained {} epochs ({} steps) in {:.1} s, {:.2} images/s; loss {:.4} -> {:.4}; {best}",
        s.epochs_done, s.steps, s.seconds, s.images_per_s, s.first_loss, s.last_loss,
    );
    println!("run folder: {}", out.display());
    Ok(())
}
