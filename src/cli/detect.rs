//! `deeplesion detect`: runs a trained detector on a split of a dataset or on one PNG slice; writes detections and overlays.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args as ClapArgs;
use deeplesion::data::{self, Dataset, ImageRecord, LoadOptions, Split};
use deeplesion::detector::{data as ddata, infer, report, train, Network};
use deeplesion::eval::{detections, Detection};
use deeplesion::{Gpu, GpuOptions};
use indicatif::ProgressBar;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Run folder of `deeplesion train` (uses best.safetensors, else checkpoint.safetensors) or a checkpoint file.
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset folder (DL_info.csv + Images_png/).
    #[arg(long, required_unless_present = "image")]
    pub data: Option<PathBuf>,
    /// Split to run on: train, val or test.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// A single 16-bit DeepLesion PNG slice instead of a dataset (key slice repeated as the 3 channels).
    #[arg(long, conflicts_with = "data")]
    pub image: Option<PathBuf>,
    /// Pixel spacing (mm) of --image.
    #[arg(long, default_value_t = 0.8)]
    pub spacing: f32,
    /// Output folder (default: RUN/detect-SPLIT).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overlay PNGs for the first N images.
    #[arg(long, default_value_t = 8)]
    pub overlays: usize,
    /// Overlays show the 3 best detections of each image and every other one scoring at least this.
    #[arg(long, default_value_t = 0.5)]
    pub overlay_min_score: f32,
}

/// The checkpoint file of a run folder (best model first).
pub fn model_file(p: &Path) -> PathBuf {
    if p.is_file() {
        return p.to_path_buf();
    }
    let best = p.join("best.safetensors");
    if best.exists() {
        best
    } else {
        p.join("checkpoint.safetensors")
    }
}

pub fn run(args: Args, adapter: Option<&str>) -> anyhow::Result<()> {
    let gpu = Gpu::new(GpuOptions { adapter: adapter.map(String::from), poison: false })?;
    let file = model_file(&args.model);
    let (net, _) = train::load_network(&gpu, &file).with_context(|| format!("loading {}", file.display()))?;
    let run_dir = if args.model.is_file() {
        args.model.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        args.model.clone()
    };
    let out = args.out.clone().unwrap_or_else(|| {
        run_dir.join(if args.image.is_some() { "detect-image".to_string() } else { format!("detect-{}", args.split) })
    });
    std::fs::create_dir_all(out.join("overlays"))?;
    let (dets, kept) = match &args.image {
        Some(png) => single_image(&gpu, &net, png, args.spacing)?,
        None => {
            let dir = args.data.as_ref().context("--data is required")?;
            let (ds, _summary) = Dataset::open(dir, &LoadOptions::default())?;
            let ds = Arc::new(ds);
            let split: Split = args.split.parse().map_err(anyhow::Error::msg)?;
            let idx = ds.indices(split);
            let bar = ProgressBar::new(idx.len() as u64);
            let r = infer::detect_dataset(&gpu, &net, &ds, idx, args.overlays, |k| bar.inc(k as u64))?;
            bar.finish_and_clear();
            r
        }
    };
    if let Some(r) = gpu.profile_report() {
        eprint!("{r}");
    }
    detections::write_csv(&out.join("detections.csv"), &dets)?;
    detections::write_json(&out.join("detections.json"), &dets)?;
    for (img, d) in &kept {
        let name = img.file_name.replace(['/', '\\'], "_");
        report::overlay(&out.join("overlays").join(name), img, d, args.overlay_min_score)?;
    }
    println!(
        "{} detections on {} images -> {} (+ .json), {} overlays in {}",
        dets.len(),
        dets.iter().map(|d| &d.file).collect::<std::collections::BTreeSet<_>>().len(),
        out.join("detections.csv").display(),
        kept.len(),
        out.join("overlays").display()
    );
    Ok(())
}

type Detected = (Vec<Detection>, Vec<(data::PreparedImage, Vec<Detection>)>);

fn single_image(gpu: &Gpu, net: &Network, png: &Path, spacing: f32) -> anyhow::Result<Detected> {
    let slice = data::slice::load_slice(png, None).map_err(|e| anyhow::anyhow!("{}: {e:?}", png.display()))?;
    let name = png.file_name().and_then(|n| n.to_str()).unwrap_or("image.png").to_string();
    let rec = ImageRecord {
        file_name: name,
        patient: 0,
        study: 0,
        series: 0,
        key_slice: 0,
        split: Split::Test,
        slice_range: [0, 0],
        spacing_mm: [spacing, spacing, 1.0],
        image_size: [slice.width as u32, slice.height as u32],
        dicom_window: [-1024.0, 3071.0],
        lesions: Vec::new(),
    };
    let cfg = ddata::preprocess_config(&net.cfg);
    let (lo, hi) = cfg.window.bounds(&rec);
    let planes = vec![slice.hu.clone(), slice.hu.clone(), slice.hu];
    let img = data::preprocess::prepare_planes(
        &rec,
        planes,
        rec.image_size[0] as usize,
        rec.image_size[1] as usize,
        lo,
        hi,
        &cfg,
        false,
    );
    let raw = net.detect_prepared(gpu, std::slice::from_ref(&img))?;
    let dets: Vec<Detection> = raw
        .into_iter()
        .next()
        .unwrap_or_default()
        .into_iter()
        .map(|d| Detection {
            file: img.file_name.clone(),
            bbox: ddata::to_original(d.bbox, &img),
            score: d.score,
            class: d.class,
        })
        .collect();
    Ok((dets.clone(), vec![(img, dets)]))
}
