//! From the data layer to the network: preprocessing settings, class labels (single, pseudo, coarse), batches.

use std::collections::HashMap;
use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::config::{ClassMode, Config};
use super::step::ImageTargets;
use crate::data::{Dataset, ImageRecord, PreparedImage, PreprocessConfig};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::Tensor;

/// How lesions map to foreground classes (1-based in targets).
#[derive(Debug, Clone)]
pub struct ClassMap {
    pub mode: ClassMode,
    pub num_classes: usize,
    /// Pseudo mode: (File_name, lesion index in the image) -> cluster (0-based).
    pseudo: HashMap<(String, usize), u32>,
}

impl ClassMap {
    /// One lesion class (also used at inference, where targets are not needed).
    pub fn single() -> ClassMap {
        ClassMap { mode: ClassMode::Single, num_classes: 1, pseudo: HashMap::new() }
    }

    /// Builds the map for the config (reads pseudo_labels.csv in pseudo mode).
    pub fn new(cfg: &Config) -> Result<ClassMap> {
        match cfg.data.classes {
            ClassMode::Single => Ok(ClassMap::single()),
            ClassMode::Coarse => Ok(ClassMap { mode: ClassMode::Coarse, num_classes: 9, pseudo: HashMap::new() }),
            ClassMode::Pseudo => {
                let path = cfg.data.pseudo_labels.as_deref().ok_or_else(|| {
                    Error::invalid("classes", "data.classes = \"pseudo\" needs data.pseudo_labels (pseudo_labels.csv)")
                })?;
                let pseudo = read_pseudo_labels(Path::new(path))?;
                let k = pseudo.values().map(|&c| c as usize + 1).max().unwrap_or(1);
                Ok(ClassMap { mode: ClassMode::Pseudo, num_classes: k.max(cfg.data.num_pseudo), pseudo })
            }
        }
    }

    /// Class (1-based) of lesion `j` of `image`: single -> 1; coarse -> type 1..8, 9 = unlabelled;
    /// pseudo -> cluster + 1 (lesions missing from the file: an error naming them).
    pub fn class_of(&self, image: &ImageRecord, j: usize) -> Result<u32> {
        Ok(match self.mode {
            ClassMode::Single => 1,
            ClassMode::Coarse => match image.lesions.get(j).map(|l| l.coarse_type) {
                Some(t @ 1..=8) => t as u32,
                _ => 9,
            },
            ClassMode::Pseudo => {
                *self.pseudo.get(&(image.file_name.clone(), j)).ok_or_else(|| {
                    Error::data("pseudo_labels.csv", format!("no cluster for {} lesion {j}", image.file_name))
                })? + 1
            }
        })
    }
}

/// Reads `File_name,lesion_index,cluster`.
pub fn read_pseudo_labels(path: &Path) -> Result<HashMap<(String, usize), u32>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| Error::data(path.display().to_string(), e.to_string()))?;
    let mut out = HashMap::new();
    for (i, rec) in r.records().enumerate() {
        let loc = format!("{}:{}", path.display(), i + 2);
        let rec = rec.map_err(|e| Error::data(&loc, e.to_string()))?;
        let (Some(f), Some(j), Some(c)) = (rec.get(0), rec.get(1), rec.get(2)) else {
            return Err(Error::data(&loc, "expected File_name,lesion_index,cluster"));
        };
        let j: usize = j.trim().parse().map_err(|_| Error::data(&loc, "bad lesion_index"))?;
        let c: u32 = c.trim().parse().map_err(|_| Error::data(&loc, "bad cluster"))?;
        out.insert((f.trim().to_string(), j), c);
    }
    Ok(out)
}

/// Preprocessing for the detector: the data layer's defaults with the config's image size
/// (and no spacing resample when `data.spacing_mm` is 0).
pub fn preprocess_config(cfg: &Config) -> PreprocessConfig {
    PreprocessConfig {
        target_spacing_mm: (cfg.data.spacing_mm > 0.0).then_some(cfg.data.spacing_mm),
        max_size: Some(cfg.data.image_size as u32),
        ..PreprocessConfig::default()
    }
}

/// Stacks prepared images into `[N, 3, S, S]` (top-left aligned, zero padded), each channel
/// normalised as `(255 v - mean) / std` with the config's `data.pixel_mean` / `data.pixel_std`
/// (torchvision's ImageNet statistics by default, which converted VGG-16 weights expect),
/// flipping image `i` horizontally when `flips[i]`.
pub fn stack(gpu: &Gpu, cfg: &Config, images: &[PreparedImage], flips: &[bool]) -> Result<Tensor> {
    let size = cfg.data.image_size;
    let (mean, std) = (cfg.data.pixel_mean, cfg.data.pixel_std);
    let n = images.len();
    let mut data = vec![0f32; n * 3 * size * size];
    for (i, img) in images.iter().enumerate() {
        if img.height > size || img.width > size || img.channels != 3 {
            return Err(Error::shape(
                "detector_batch",
                format!("{}: {}x{}x{} does not fit {size}", img.file_name, img.channels, img.height, img.width),
            ));
        }
        let flip = flips.get(i).copied().unwrap_or(false);
        for c in 0..3 {
            let (m, inv) = (mean[c], 1.0 / std[c]);
            for y in 0..img.height {
                let src = &img.chw[(c * img.height + y) * img.width..(c * img.height + y + 1) * img.width];
                let dst = &mut data[((i * 3 + c) * size + y) * size..((i * 3 + c) * size + y) * size + img.width];
                for x in 0..img.width {
                    dst[x] = (src[if flip { img.width - 1 - x } else { x }] * 255.0 - m) * inv;
                }
            }
        }
    }
    gpu.upload(&[n, 3, size, size], &data)
}

/// Training targets of prepared images (boxes flipped with the image; noisy lesions left out).
pub fn targets(
    ds: &Dataset,
    images: &[PreparedImage],
    classes: &ClassMap,
    flips: &[bool],
) -> Result<Vec<ImageTargets>> {
    let mut out = Vec::with_capacity(images.len());
    for (i, img) in images.iter().enumerate() {
        let rec = ds.image(&img.file_name).ok_or_else(|| Error::data(&img.file_name, "image not in the dataset"))?;
        let flip = flips.get(i).copied().unwrap_or(false);
        let mut t = ImageTargets::default();
        for (j, b) in img.boxes.iter().enumerate() {
            if img.noisy.get(j).copied().unwrap_or(false) {
                continue; // noisy annotations are left out of training as well as evaluation
            }
            let w = img.width as f32;
            t.boxes.push(if flip { [w - b[2], b[1], w - b[0], b[3]] } else { *b });
            t.classes.push(classes.class_of(rec, j)?);
        }
        out.push(t);
    }
    Ok(out)
}

/// Draws the flip decisions of a batch (false everywhere when flips are off).
pub fn flips(rng: &mut ChaCha8Rng, n: usize, on: bool) -> Vec<bool> {
    (0..n).map(|_| on && rng.gen_bool(0.5)).collect()
}

/// Maps a box from a prepared image's frame back to the original slice's 0-based pixels.
pub fn to_original(b: [f32; 4], img: &PreparedImage) -> [f32; 4] {
    let (sx, sy) = (img.scale[0], img.scale[1]);
    [(b[0] + 0.5) / sx - 0.5, (b[1] + 0.5) / sy - 0.5, (b[2] + 0.5) / sx - 0.5, (b[3] + 0.5) / sy - 0.5]
}
