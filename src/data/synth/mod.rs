//! The synthetic DeepLesion-format generator: patients, studies and key slices planned from a seed, rendered and written in the release's exact layout.
//!
//! `generate` writes `DIR/DL_info.csv` (18 columns, 1-based coordinates), `DIR/Images_png/...`
//! (16-bit PNGs, HU + 32768; the key slice and the neighbour slices listed in Slice_range) and
//! `DIR/truth.csv` (every lesion drawn, annotated or not, with its true type). Everything is a
//! function of the seed: per-patient and per-slice random streams are derived from it, so the
//! output is byte-identical from run to run on one platform.

pub mod anatomy;
pub mod lesions;
pub mod recist;
pub mod writer;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dl_info::Split;
use anatomy::{Anatomy, BODY_LENGTH_MM};
use lesions::Lesion;

/// What to generate.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub patients: usize,
    /// Square slice side in pixels (512 = the release); spacing grows as the size shrinks.
    pub size: u32,
    pub seed: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig { patients: 10, size: 512, seed: 0 }
    }
}

/// Derive an independent stream from the seed and a path of indices (splitmix64 mixing).
pub fn stream(seed: u64, path: &[u64]) -> ChaCha8Rng {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for &p in path {
        h = h.wrapping_add(p.wrapping_mul(0xBF58_476D_1CE4_E5B9)).wrapping_add(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
        h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 29;
    }
    ChaCha8Rng::seed_from_u64(h)
}

/// A key slice: the lesions annotated on it and those drawn but left unannotated.
#[derive(Clone, Debug)]
pub struct KeyPlan {
    pub key_slice: u32,
    pub annotated: Vec<usize>,
    pub unannotated: Vec<usize>,
    /// Noisy flag per annotated lesion.
    pub noisy: Vec<bool>,
}

/// One CT series: its geometry and all lesions drawn in it.
#[derive(Clone, Debug)]
pub struct SeriesPlan {
    pub patient: u32,
    pub study: u32,
    pub series: u32,
    pub size: u32,
    /// In-plane spacing (mm/px) and slice interval (mm).
    pub spacing: f32,
    pub dz: f32,
    pub noise_sd: f32,
    pub dicom_window: [f32; 2],
    pub lesions: Vec<Lesion>,
    pub keys: Vec<KeyPlan>,
}

impl SeriesPlan {
    /// z (mm) of a 1-based slice index.
    pub fn z_of(&self, slice: u32) -> f32 {
        (slice as f32 - 1.0) * self.dz
    }
    /// Slices each side of a key slice written so that 2 mm neighbours can be interpolated.
    pub fn neighbour_count(&self) -> u32 {
        (2.0 / self.dz).ceil().max(1.0) as u32
    }
    /// Slice_range of a key slice.
    pub fn slice_range(&self, key: u32) -> [u32; 2] {
        let n = self.neighbour_count();
        [key.saturating_sub(n).max(1), key + n]
    }
}

/// One patient: demographics, split, anatomy and series.
#[derive(Clone, Debug)]
pub struct PatientPlan {
    pub index: u32,
    pub gender: &'static str,
    pub age: Option<f32>,
    pub split: Split,
    pub anatomy: Anatomy,
    pub series: Vec<SeriesPlan>,
}

/// Patient splits by patient, about 70/15/15, at least one val and one test patient from 3.
pub fn assign_splits(n: usize, seed: u64) -> Vec<Split> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = stream(seed, &[0xC0FFEE]);
    for i in (1..n).rev() {
        let j = rng.gen_range(0..=i);
        order.swap(i, j);
    }
    let mut n_val = (n as f32 * 0.15).round() as usize;
    let mut n_test = (n as f32 * 0.15).round() as usize;
    if n >= 3 {
        n_val = n_val.max(1);
        n_test = n_test.max(1);
    }
    let mut out = vec![Split::Train; n];
    for (rank, &p) in order.iter().enumerate() {
        if rank < n_val {
            out[p] = Split::Val;
        } else if rank < n_val + n_test {
            out[p] = Split::Test;
        }
    }
    out
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, f32)]) -> T {
    let total: f32 = items.iter().map(|i| i.1).sum();
    let mut u = rng.gen_range(0.0..total);
    for &(v, w) in items {
        if u < w {
            return v;
        }
        u -= w;
    }
    items[items.len() - 1].0
}

fn overlaps(l: &Lesion, others: &[Lesion]) -> bool {
    others.iter().any(|o| {
        let d = ((l.cx - o.cx).powi(2) + (l.cy - o.cy).powi(2) + (l.cz - o.cz).powi(2)).sqrt();
        d < (l.ra + o.ra) * 1.15 + 3.0
    })
}

/// Place one lesion of a random type that can live at `z`, not overlapping the others.
fn extra_lesion(rng: &mut ChaCha8Rng, anat: &Anatomy, z: f32, others: &[Lesion]) -> Option<Lesion> {
    for _ in 0..12 {
        let t = lesions::draw_type(rng);
        let (_, z0, z1) = lesions::habitat(t);
        if z < z0 || z > z1 {
            continue;
        }
        if let Some(l) = lesions::place(rng, anat, t, z) {
            if !overlaps(&l, others) {
                return Some(l);
            }
        }
    }
    None
}

/// Plan one patient (deterministic in `seed` and `index`).
pub fn plan_patient(cfg: &SynthConfig, index: u32, split: Split) -> PatientPlan {
    let mut rng = stream(cfg.seed, &[index as u64]);
    let anatomy = Anatomy::random(&mut rng, 512.0 * 0.6);
    let gender = if rng.gen_bool(0.5) { "F" } else { "M" };
    let age = if rng.gen_bool(0.03) { None } else { Some(rng.gen_range(18..90) as f32) };
    let n_studies = pick(&mut rng, &[(1u32, 0.45), (2, 0.3), (3, 0.25)]);
    let mut series = Vec::new();
    for study in 1..=n_studies {
        let series_id = pick(&mut rng, &[(1u32, 0.7), (2, 0.2), (3, 0.1)]);
        let dz = pick(&mut rng, &[(1.0f32, 0.2), (2.5, 0.1), (5.0, 0.7)]);
        // The field of view is set to the body (it fills 78-95% of the width), giving the
        // release's 0.6-0.9 mm at 512 px; smaller images get proportionally coarser pixels.
        let fill = rng.gen_range(0.78..0.95f32);
        let spacing = (2.0 * anatomy.body_a / (512.0 * fill)).clamp(0.6, 0.95) * 512.0 / cfg.size as f32;
        // CT-like noise (10-20 HU at 512 px); a coarser pixel averages (512/size)^2 of them.
        let noise_sd = rng.gen_range(10.0..20.0f32) * (cfg.size as f32 / 512.0).min(1.0);
        let n_keys = pick(&mut rng, &[(1usize, 0.4), (2, 0.3), (3, 0.2), (4, 0.1)]);
        let mut plan = SeriesPlan {
            patient: index,
            study,
            series: series_id,
            size: cfg.size,
            spacing,
            dz,
            noise_sd,
            dicom_window: [-175.0, 275.0],
            lesions: Vec::new(),
            keys: Vec::new(),
        };
        let max_slice = (BODY_LENGTH_MM / dz) as u32;
        for _ in 0..n_keys {
            // A type, a key slice in its z range, and a lesion centred (almost) on that slice.
            let mut placed = None;
            for _ in 0..8 {
                let t = lesions::draw_type(&mut rng);
                let (_, z0, z1) = lesions::habitat(t);
                let key = ((rng.gen_range(z0..z1) / dz).round() as u32 + 1).clamp(3, max_slice);
                let z_key = plan.z_of(key);
                if let Some(mut l) = lesions::place(&mut rng, &anatomy, t, z_key) {
                    l.cz = z_key + rng.gen_range(-0.15..0.15) * l.rc;
                    if !overlaps(&l, &plan.lesions) {
                        placed = Some((key, l));
                        break;
                    }
                }
            }
            let Some((key, lesion)) = placed else { continue };
            if plan.keys.iter().any(|k| k.key_slice == key) {
                continue;
            }
            if lesion.coarse_type == 5 {
                plan.dicom_window = [-1350.0, 150.0];
            } else if lesion.coarse_type == 1 {
                plan.dicom_window = [-450.0, 1050.0];
            }
            plan.lesions.push(lesion);
            let mut kp =
                KeyPlan { key_slice: key, annotated: vec![plan.lesions.len() - 1], unannotated: vec![], noisy: vec![] };
            let z_key = plan.z_of(key);
            // A few slices carry two annotated lesions (the release: 32,735 lesions on 32,120 slices).
            if rng.gen_bool(0.05) {
                if let Some(l) = extra_lesion(&mut rng, &anatomy, z_key, &plan.lesions) {
                    plan.lesions.push(l);
                    kp.annotated.push(plan.lesions.len() - 1);
                }
            }
            // About one image in four shows a lesion nobody annotated.
            if rng.gen_bool(0.25) {
                if let Some(l) = extra_lesion(&mut rng, &anatomy, z_key, &plan.lesions) {
                    plan.lesions.push(l);
                    kp.unannotated.push(plan.lesions.len() - 1);
                }
            }
            kp.noisy = kp.annotated.iter().map(|_| rng.gen_bool(0.015)).collect();
            plan.keys.push(kp);
        }
        if !plan.keys.is_empty() {
            series.push(plan);
        }
    }
    PatientPlan { index, gender, age, split, anatomy, series }
}

/// Figures of a generated set.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SynthSummary {
    pub patients: usize,
    pub series: usize,
    pub images: usize,
    pub annotated_lesions: usize,
    pub unannotated_lesions: usize,
    pub slices_written: usize,
    pub bytes_written: u64,
}

/// Annotated lesions per (split, coarse type 1..=8) that `generate` would write, from the plans
/// alone (no rendering): used to choose a fixture seed that covers every type in every split.
pub fn planned_type_counts(cfg: &SynthConfig) -> [[usize; 8]; 3] {
    let mut out = [[0usize; 8]; 3];
    for (i, split) in assign_splits(cfg.patients, cfg.seed).into_iter().enumerate() {
        let p = plan_patient(cfg, i as u32 + 1, split);
        for s in &p.series {
            for k in &s.keys {
                for &l in &k.annotated {
                    out[split.code() as usize - 1][s.lesions[l].coarse_type as usize - 1] += 1;
                }
            }
        }
    }
    out
}
