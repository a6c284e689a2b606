//! The library entry point: patches from a dataset, the LDPO pipeline, and every output written.

use std::path::Path;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::ldpo::{self, LdpoConfig, LdpoReport};
use super::patches::{cut, LesionRef, Patches};
use super::report;
use crate::data::dataset::Dataset;
use crate::data::preprocess::{self, PreprocessConfig, Window};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// How patches are cut.
#[derive(Debug, Clone)]
pub struct PatchConfig {
    /// Output side in pixels.
    pub size: usize,
    /// Context added on each side, as a fraction of the box's longer side (0.5 = 50%).
    pub margin: f32,
    /// Intensity window (the soft-tissue window shows lesion contrast; `paper` is the detector's).
    pub window: Window,
    /// Channels 0 and 2 from the neighbouring slices (as the detector's input) or the key slice again.
    pub neighbours: bool,
}

impl Default for PatchConfig {
    fn default() -> Self {
        PatchConfig { size: 64, margin: 0.5, window: Window::Hu { lo: -160.0, hi: 240.0 }, neighbours: true }
    }
}

/// Patch cutting plus pipeline settings.
#[derive(Debug, Clone, Default)]
pub struct ClusterConfig {
    pub patches: PatchConfig,
    pub ldpo: LdpoConfig,
}

/// Cuts the patches of every lesion of `ds`, runs baselines and refinement, and writes the outputs
/// (see `report::write_all`) into `out`. `log` receives progress lines (the CLI prints them).
pub fn run(
    gpu: &Gpu,
    ds: &Dataset,
    cfg: &ClusterConfig,
    out: &Path,
    mp: Option<&MultiProgress>,
    log: &mut dyn FnMut(&str),
) -> Result<LdpoReport> {
    let pb = match mp {
        Some(mp) => mp.add(ProgressBar::new(ds.images.len() as u64)),
        None => ProgressBar::hidden(),
    };
    pb.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message("lesion patches (images)");
    let patches = extract(ds, &cfg.patches, &|i| pb.set_position(i as u64))?;
    pb.finish();
    if !patches.skipped.is_empty() {
        log(&format!(
            "{} images could not be read, their lesions left out (first: {}: {})",
            patches.skipped.len(),
            patches.skipped[0].0,
            patches.skipped[0].1
        ));
    }
    let rep = ldpo::run(gpu, &patches, &cfg.ldpo, mp, log)?;
    report::write_all(&rep, &patches, out)?;
    Ok(rep)
}

/// Patches of every lesion of `ds` (all splits, file order). Images that fail to load are skipped and
/// listed; `progress(images_done)` is called after each image.
pub fn extract(ds: &Dataset, cfg: &PatchConfig, progress: &dyn Fn(usize)) -> Result<Patches> {
    if cfg.size == 0 || !cfg.margin.is_finite() || cfg.margin < 0.0 {
        return Err(Error::invalid("patches", format!("size {} / margin {} invalid", cfg.size, cfg.margin)));
    }
    // No resampling: the crop is scaled to the patch anyway, so the slice's own grid is enough.
    let pre = PreprocessConfig {
        window: cfg.window,
        target_spacing_mm: None,
        max_size: None,
        neighbours: cfg.neighbours,
        ..PreprocessConfig::default()
    };
    let mut out = Patches { size: cfg.size, channels: 3, ..Default::default() };
    for (done, image) in ds.images.iter().enumerate() {
        match preprocess::load_image(ds, image, &pre) {
            Ok(img) => {
                for (j, lesion) in image.lesions.iter().enumerate() {
                    let bbox = img.boxes.get(j).copied().unwrap_or(lesion.bbox);
                    out.pixels.extend(cut(&img.chw, img.channels, img.height, img.width, bbox, cfg.size, cfg.margin));
                    out.lesions.push(LesionRef {
                        file_name: image.file_name.clone(),
                        lesion_index: j,
                        coarse_type: lesion.coarse_type,
                        split: image.split.code(),
                        noisy: lesion.noisy,
                    });
                }
                out.channels = img.channels;
            }
            Err(e) => out.skipped.push((image.file_name.clone(), e.to_string())),
        }
        progress(done + 1);
    }
    Ok(out)
}
