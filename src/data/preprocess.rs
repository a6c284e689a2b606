//! Slice preprocessing with the paper's defaults: HU window to [0, 1], resampling to a pixel spacing / maximum size, three channels from the key slice and its 2 mm neighbours.
//!
//! Coordinate convention (everything this module returns): 0-based pixel-centre coordinates,
//! pixel `i` of a row has its centre at `x = i`. Boxes are `[x1, y1, x2, y2]` in that frame,
//! treated as continuous values (the detector's convention: width = x2 - x1). Resampling by a
//! factor `s` maps `x` to `(x + 0.5) * s - 0.5`, the same mapping the bilinear resampler uses,
//! so boxes and RECIST points stay on the anatomy they mark.

use std::sync::atomic::Ordering;

use super::dataset::{Dataset, ImageRecord};
use super::dl_info::Split;
use super::slice::{self, Slice};
use crate::{Error, Result};

/// Intensity window in HU mapped linearly to [0, 1] (values outside are clamped).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Window {
    /// A fixed window `lo..hi` HU.
    Hu { lo: f32, hi: f32 },
    /// The row's DICOM_windows.
    Dicom,
}

impl Window {
    /// The paper's single wide window, -1024..3071 HU.
    pub const PAPER: Window = Window::Hu { lo: -1024.0, hi: 3071.0 };

    /// Named windows: `paper` (default), `soft-tissue` (-160..240), `lung` (-1400..200),
    /// `bone` (-450..1050), `dicom` (the row's own).
    pub fn named(name: &str) -> Option<Window> {
        Some(match name.to_ascii_lowercase().as_str() {
            "paper" | "default" | "wide" => Window::PAPER,
            "soft-tissue" | "soft_tissue" | "soft" => Window::Hu { lo: -160.0, hi: 240.0 },
            "lung" => Window::Hu { lo: -1400.0, hi: 200.0 },
            "bone" => Window::Hu { lo: -450.0, hi: 1050.0 },
            "dicom" => Window::Dicom,
            _ => return None,
        })
    }

    /// The HU bounds for one image.
    pub fn bounds(&self, image: &ImageRecord) -> (f32, f32) {
        match *self {
            Window::Hu { lo, hi } => (lo, hi),
            Window::Dicom => (image.dicom_window[0], image.dicom_window[1]),
        }
    }
}

impl std::str::FromStr for Window {
    type Err = String;
    /// A name (see [`Window::named`]) or `LO,HI` in HU.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if let Some(w) = Window::named(s) {
            return Ok(w);
        }
        let parts: Vec<&str> = s.split([',', ':']).map(str::trim).collect();
        if parts.len() == 2 {
            if let (Ok(lo), Ok(hi)) = (parts[0].parse::<f32>(), parts[1].parse::<f32>()) {
                if lo.is_finite() && hi.is_finite() && hi > lo {
                    return Ok(Window::Hu { lo, hi });
                }
            }
        }
        Err(format!("unknown window '{s}': use paper, soft-tissue, lung, bone, dicom or LO,HI"))
    }
}

/// Preprocessing settings; `Default` gives the paper's / 3DCE's.
#[derive(Clone, Debug, PartialEq)]
pub struct PreprocessConfig {
    pub window: Window,
    /// Resample to this pixel spacing in mm (default 0.8); `None` keeps the spacing.
    pub target_spacing_mm: Option<f32>,
    /// Cap on the longer side after resampling (default 512); `None` for no cap.
    pub max_size: Option<u32>,
    /// Use neighbour slices for channels 0 and 2 (default true); false repeats the key slice.
    pub neighbours: bool,
    /// Distance of the neighbour channels from the key slice (default 2 mm).
    pub neighbour_mm: f32,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        PreprocessConfig {
            window: Window::PAPER,
            target_spacing_mm: Some(0.8),
            max_size: Some(512),
            neighbours: true,
            neighbour_mm: 2.0,
        }
    }
}

/// One image ready for the network: CHW floats in [0, 1] and the lesions in its frame.
#[derive(Clone, Debug)]
pub struct PreparedImage {
    pub file_name: String,
    pub split: Split,
    /// `channels * height * width` values, channel-major: [key - 2 mm, key, key + 2 mm].
    pub chw: Vec<f32>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Lesion boxes x1,y1,x2,y2 in this image's pixel-centre frame (see the module doc).
    pub boxes: Vec<[f32; 4]>,
    /// RECIST endpoints in this image's frame.
    pub recist: Vec<[f32; 8]>,
    /// Coarse type per lesion (1..=8, -1 unlabelled).
    pub lesion_types: Vec<i32>,
    pub noisy: Vec<bool>,
    /// Pixel spacing after resampling, mm (x).
    pub spacing_mm: f32,
    /// Resampling factors (x, y) from the original slice.
    pub scale: [f32; 2],
    /// False when a neighbour slice was missing and the key slice was repeated.
    pub neighbours_found: bool,
}

/// Map a 0-based pixel-centre coordinate through a resampling by `s`.
#[inline]
pub fn scale_coord(x: f32, s: f32) -> f32 {
    (x + 0.5) * s - 0.5
}

/// Output size and factors for a `w x h` slice at `spacing` mm.
pub fn output_size(w: usize, h: usize, spacing: f32, cfg: &PreprocessConfig) -> (usize, usize) {
    let mut s = match cfg.target_spacing_mm {
        Some(t) if t > 0.0 && spacing > 0.0 => spacing / t,
        _ => 1.0,
    };
    if let Some(m) = cfg.max_size {
        let longest = w.max(h) as f32;
        if longest * s > m as f32 {
            s = m as f32 / longest;
        }
    }
    let nw = ((w as f32 * s).round() as usize).max(1);
    let nh = ((h as f32 * s).round() as usize).max(1);
    (nw, nh)
}

/// Bilinear resampling of one plane (`w x h` to `nw x nh`) with pixel-centre alignment.
pub fn resize_bilinear(src: &[f32], w: usize, h: usize, nw: usize, nh: usize) -> Vec<f32> {
    if (w, h) == (nw, nh) {
        return src.to_vec();
    }
    let sx = w as f32 / nw as f32;
    let sy = h as f32 / nh as f32;
    // Precompute the x taps once per row.
    let xs: Vec<(usize, usize, f32)> = (0..nw)
        .map(|x| {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (w - 1) as f32);
            let x0 = fx.floor() as usize;
            (x0, (x0 + 1).min(w - 1), fx - x0 as f32)
        })
        .collect();
    let mut out = vec![0.0f32; nw * nh];
    for y in 0..nh {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (h - 1) as f32);
        let y0 = fy.floor() as usize;
        let y1 = (y0 + 1).min(h - 1);
        let wy = fy - y0 as f32;
        let r0 = &src[y0 * w..(y0 + 1) * w];
        let r1 = &src[y1 * w..(y1 + 1) * w];
        let row = &mut out[y * nw..(y + 1) * nw];
        for (o, &(x0, x1, wx)) in row.iter_mut().zip(&xs) {
            let a = r0[x0] + (r0[x1] - r0[x0]) * wx;
            let b = r1[x0] + (r1[x1] - r1[x0]) * wx;
            *o = a + (b - a) * wy;
        }
    }
    out
}

/// Apply a window in place: `lo..hi` HU to [0, 1], clamped.
pub fn apply_window(hu: &mut [f32], lo: f32, hi: f32) {
    let inv = 1.0 / (hi - lo).max(1e-6);
    for v in hu {
        *v = ((*v - lo) * inv).clamp(0.0, 1.0);
    }
}

/// Where a neighbour channel comes from: two slice indices and the weight of the second.
pub fn neighbour_taps(key: u32, dz_mm: f32, offset_mm: f32) -> (i64, i64, f32) {
    let p = key as f64 + (offset_mm / dz_mm.max(1e-3)) as f64;
    let lo = p.floor();
    let f = (p - lo) as f32;
    if f < 1e-4 {
        (lo as i64, lo as i64, 0.0)
    } else {
        (lo as i64, lo as i64 + 1, f)
    }
}

/// Load, window, resample and stack the three channels of one image.
pub fn load_image(ds: &Dataset, image: &ImageRecord, cfg: &PreprocessConfig) -> Result<PreparedImage> {
    let key_path = ds.slice_path(image, image.key_slice)?;
    let key = slice::load_slice(&key_path, Some(image.image_size)).map_err(Error::from)?;
    let mut found = true;
    let mut chans: Vec<Vec<f32>> = Vec::with_capacity(3);
    for offset in [-cfg.neighbour_mm, 0.0, cfg.neighbour_mm] {
        if offset == 0.0 || !cfg.neighbours {
            chans.push(key.hu.clone());
            continue;
        }
        match neighbour(ds, image, &key, offset)? {
            Some(v) => chans.push(v),
            None => {
                found = false;
                chans.push(key.hu.clone());
            }
        }
    }
    if !found && cfg.neighbours && !ds.warned_missing_neighbours.swap(true, Ordering::Relaxed) {
        eprintln!(
            "note: neighbour slices missing for some images (first: {}); their key slice is repeated \
             in all 3 channels (said once)",
            image.file_name
        );
    }
    let (lo, hi) = cfg.window.bounds(image);
    Ok(prepare_planes(image, chans, key.width, key.height, lo, hi, cfg, found))
}

/// The HU plane at `offset_mm` from the key slice, interpolated between the two nearest slices;
/// `None` when a needed slice is outside Slice_range or its file is missing.
fn neighbour(ds: &Dataset, image: &ImageRecord, key: &Slice, offset_mm: f32) -> Result<Option<Vec<f32>>> {
    let (a, b, f) = neighbour_taps(image.key_slice, image.spacing_mm[2], offset_mm);
    let [first, last] = image.slice_range;
    let load = |idx: i64| -> Result<Option<Vec<f32>>> {
        if idx < first as i64 || idx > last as i64 {
            return Ok(None);
        }
        if idx == image.key_slice as i64 {
            return Ok(Some(key.hu.clone()));
        }
        let path = ds.slice_path(image, idx as u32)?;
        if !path.exists() {
            return Ok(None);
        }
        let s = slice::load_slice(&path, Some(image.image_size)).map_err(Error::from)?;
        Ok(Some(s.hu))
    };
    let Some(pa) = load(a)? else { return Ok(None) };
    if f == 0.0 {
        return Ok(Some(pa));
    }
    let Some(pb) = load(b)? else { return Ok(None) };
    Ok(Some(pa.iter().zip(&pb).map(|(x, y)| x + (y - x) * f).collect()))
}

/// Window, resample and stack HU planes (all `w x h`) into a [`PreparedImage`]. Pure CPU.
#[allow(clippy::too_many_arguments)]
pub fn prepare_planes(
    image: &ImageRecord,
    planes: Vec<Vec<f32>>,
    w: usize,
    h: usize,
    lo: f32,
    hi: f32,
    cfg: &PreprocessConfig,
    neighbours_found: bool,
) -> PreparedImage {
    let (nw, nh) = output_size(w, h, image.spacing_mm[0], cfg);
    let sx = nw as f32 / w as f32;
    let sy = nh as f32 / h as f32;
    let channels = planes.len();
    let mut chw = Vec::with_capacity(channels * nw * nh);
    for mut p in planes {
        apply_window(&mut p, lo, hi);
        chw.extend(resize_bilinear(&p, w, h, nw, nh));
    }
    let boxes = image
        .lesions
        .iter()
        .map(|l| {
            let b = l.bbox;
            [scale_coord(b[0], sx), scale_coord(b[1], sy), scale_coord(b[2], sx), scale_coord(b[3], sy)]
        })
        .collect();
    let recist = image
        .lesions
        .iter()
        .map(|l| {
            let mut r = l.recist;
            for (i, v) in r.iter_mut().enumerate() {
                *v = scale_coord(*v, if i % 2 == 0 { sx } else { sy });
            }
            r
        })
        .collect();
    PreparedImage {
        file_name: image.file_name.clone(),
        split: image.split,
        chw,
        channels,
        height: nh,
        width: nw,
        boxes,
        recist,
        lesion_types: image.lesions.iter().map(|l| l.coarse_type).collect(),
        noisy: image.lesions.iter().map(|l| l.noisy).collect(),
        spacing_mm: image.spacing_mm[0] / sx,
        scale: [sx, sy],
        neighbours_found,
    }
}
