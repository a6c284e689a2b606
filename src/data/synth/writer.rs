//! Rendering planned series to 16-bit PNG slices and writing DL_info.csv and truth.csv in the release's format.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use rand::Rng;

use super::anatomy::{Anatomy, Tissue, BODY_LENGTH_MM};
use super::{assign_splits, plan_patient, recist, stream, PatientPlan, SeriesPlan, SynthConfig, SynthSummary};
use crate::data::dataset::{CSV_NAME, IMAGES_DIR};
use crate::data::dl_info::{self, fmt_list, LesionRecord, Split};
use crate::data::recist::{diameters, mine_box, BOX_PADDING};
use crate::data::slice;
use crate::{Error, Result};

/// Name of the ground-truth file written beside DL_info.csv.
pub const TRUTH_NAME: &str = "truth.csv";

/// Header of truth.csv: every lesion drawn, one row per (key slice, lesion) it is visible on as planned.
pub const TRUTH_HEADER: [&str; 10] = [
    "File_name",
    "Patient_index",
    "Study_index",
    "Series_ID",
    "Key_slice_index",
    "Annotated",
    "Coarse_lesion_type",
    "Bounding_boxes",
    "Long_axis_mm",
    "Center_mm",
];

/// Pixel-centre coordinate (0-based) of a point in mm (body centre at the image centre).
#[inline]
pub fn mm_to_px(v: f32, spacing: f32, size: u32) -> f32 {
    v / spacing + size as f32 / 2.0 - 0.5
}

/// Render one slice of a series to HU (anatomy, lesions, CT noise), row-major.
pub fn render_slice(anat: &Anatomy, plan: &SeriesPlan, slice_index: u32, seed: u64) -> Vec<f32> {
    let n = plan.size as usize;
    let sp = plan.spacing;
    let z = plan.z_of(slice_index);
    let mut rng = stream(seed, &[plan.patient as u64, plan.study as u64, plan.series as u64, slice_index as u64, 7]);
    let visible: Vec<_> = plan.lesions.iter().filter(|l| l.section(z) > 0.0).collect();
    let mut out = Vec::with_capacity(n * n);
    for j in 0..n {
        let y = (j as f32 + 0.5 - n as f32 / 2.0) * sp;
        for i in 0..n {
            let x = (i as f32 + 0.5 - n as f32 / 2.0) * sp;
            let (tissue, mut hu) = anat.sample(x, y, z);
            if tissue == Tissue::Outside {
                // Outside the body: flat air, and -1024 beyond the reconstruction circle, as
                // on real scans (also keeps the PNGs small).
                let (dx, dy) = (i as f32 + 0.5 - n as f32 / 2.0, j as f32 + 0.5 - n as f32 / 2.0);
                out.push(if dx * dx + dy * dy > (n * n) as f32 / 4.0 { -1024.0 } else { -1000.0 });
                continue;
            }
            for l in &visible {
                let r = l.ra.max(l.rb) * 1.5 + sp;
                if (x - l.cx).abs() < r && (y - l.cy).abs() < r {
                    hu = l.paint(x, y, z, hu, sp);
                }
            }
            // CT noise (Box-Muller).
            let u1: f32 = rng.gen_range(1e-7..1.0);
            let u2: f32 = rng.gen_range(0.0..1.0);
            let g = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
            out.push((hu + plan.noise_sd * g).clamp(-1024.0, 3071.0));
        }
    }
    out
}

/// RECIST (0-based px) of a lesion on a series' key slice, before measurement noise.
pub fn lesion_recist(plan: &SeriesPlan, lesion_idx: usize, key: u32) -> Option<[f32; 8]> {
    let l = &plan.lesions[lesion_idx];
    let poly: Vec<(f32, f32)> = l
        .outline(plan.z_of(key), 180)
        .into_iter()
        .map(|(x, y)| (mm_to_px(x, plan.spacing, plan.size), mm_to_px(y, plan.spacing, plan.size)))
        .collect();
    (poly.len() >= 3).then(|| recist::recist_of(&poly))
}

fn key_file_name(plan: &SeriesPlan, slice: u32) -> String {
    format!("{:06}_{:02}_{:02}_{:03}.png", plan.patient, plan.study, plan.series, slice)
}

fn clamp_box(b: [f32; 4], size: u32) -> [f32; 4] {
    let m = (size - 1) as f32;
    [b[0].clamp(0.0, m), b[1].clamp(0.0, m), b[2].clamp(0.0, m), b[3].clamp(0.0, m)]
}

/// The CSV rows and truth rows of one patient.
pub fn patient_rows(p: &PatientPlan, seed: u64) -> (Vec<LesionRecord>, Vec<[String; 10]>) {
    let mut rows = Vec::new();
    let mut truth = Vec::new();
    for plan in &p.series {
        let mut rng = stream(seed, &[p.index as u64, plan.study as u64, plan.series as u64, 11]);
        let mut keys: Vec<_> = plan.keys.iter().collect();
        keys.sort_by_key(|k| k.key_slice);
        for kp in keys {
            let file_name = key_file_name(plan, kp.key_slice);
            let (a, b) = p.anatomy.body_at(plan.z_of(kp.key_slice));
            for (pos, &li) in kp.annotated.iter().chain(&kp.unannotated).enumerate() {
                let annotated = pos < kp.annotated.len();
                let l = &plan.lesions[li];
                let Some(clean) = lesion_recist(plan, li, kp.key_slice) else { continue };
                let noisy = annotated && kp.noisy[pos];
                // Measurement noise of about a pixel at 512 px (less in a coarser image); a noisy
                // row is measured carelessly.
                let sd = (if noisy { 3.0 } else { 0.7 }) * (plan.size as f32 / 512.0).min(1.0);
                let m = (plan.size - 1) as f32;
                let measured = clean.map(|v| {
                    let u1: f32 = rng.gen_range(1e-7..1.0);
                    let u2: f32 = rng.gen_range(0.0..1.0);
                    (v + sd * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()).clamp(0.0, m)
                });
                let recist = if annotated { measured } else { clean };
                let bbox = clamp_box(mine_box(&recist, BOX_PADDING), plan.size);
                let long_mm = diameters(&clean)[0] * plan.spacing;
                truth.push([
                    file_name.clone(),
                    p.index.to_string(),
                    plan.study.to_string(),
                    plan.series.to_string(),
                    kp.key_slice.to_string(),
                    (annotated as u8).to_string(),
                    l.coarse_type.to_string(),
                    fmt_list(&bbox.map(|v| dl_info::zero_based_to_file(v) as f64)),
                    dl_info::fmt_num(long_mm as f64),
                    fmt_list(&[l.cx as f64, l.cy as f64, l.cz as f64]),
                ]);
                if !annotated {
                    continue;
                }
                rows.push(LesionRecord {
                    line: 0,
                    file_name: file_name.clone(),
                    patient: p.index,
                    study: plan.study,
                    series: plan.series,
                    key_slice: kp.key_slice,
                    recist,
                    bbox,
                    diameters_px: diameters(&recist),
                    location: [
                        ((l.cx + a) / (2.0 * a)).clamp(0.0, 1.0),
                        ((l.cy + b) / (2.0 * b)).clamp(0.0, 1.0),
                        (l.cz / BODY_LENGTH_MM).clamp(0.0, 1.0),
                    ],
                    coarse_type: if p.split == Split::Train { -1 } else { l.coarse_type },
                    noisy,
                    slice_range: plan.slice_range(kp.key_slice),
                    spacing_mm: [plan.spacing, plan.spacing, plan.dz],
                    image_size: [plan.size, plan.size],
                    dicom_window: plan.dicom_window,
                    gender: p.gender.to_string(),
                    age: p.age,
                    split: p.split,
                });
            }
        }
    }
    (rows, truth)
}

/// Render and write every slice a patient's key slices need (key and neighbours).
fn write_patient_slices(p: &PatientPlan, images: &Path, seed: u64, summary: &mut SynthSummary) -> Result<()> {
    for plan in &p.series {
        let dir = images.join(format!("{:06}_{:02}_{:02}", plan.patient, plan.study, plan.series));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut needed = BTreeSet::new();
        for kp in &plan.keys {
            let [lo, hi] = plan.slice_range(kp.key_slice);
            needed.extend(lo..=hi);
        }
        for s in needed {
            let hu = render_slice(&p.anatomy, plan, s, seed);
            let png = slice::encode_slice(plan.size, plan.size, &hu)?;
            let path = dir.join(format!("{s:03}.png"));
            std::fs::write(&path, &png).map_err(|e| Error::io(&path, e))?;
            summary.slices_written += 1;
            summary.bytes_written += png.len() as u64;
        }
    }
    Ok(())
}

/// Generate a dataset into `out` (created if needed). `progress` is called after each patient.
pub fn generate(cfg: &SynthConfig, out: &Path, mut progress: impl FnMut(usize)) -> Result<SynthSummary> {
    if cfg.patients == 0 {
        return Err(Error::invalid("synth", "--patients must be at least 1"));
    }
    if !(32..=2048).contains(&cfg.size) {
        return Err(Error::invalid("synth", format!("--size {} outside 32..=2048", cfg.size)));
    }
    let images = out.join(IMAGES_DIR);
    std::fs::create_dir_all(&images).map_err(|e| Error::io(&images, e))?;
    let splits = assign_splits(cfg.patients, cfg.seed);
    let mut summary = SynthSummary { patients: cfg.patients, ..Default::default() };
    let mut rows = Vec::new();
    let mut truth = Vec::new();
    for (i, split) in splits.into_iter().enumerate() {
        let p = plan_patient(cfg, i as u32 + 1, split);
        write_patient_slices(&p, &images, cfg.seed, &mut summary)?;
        let (r, t) = patient_rows(&p, cfg.seed);
        summary.series += p.series.len();
        summary.images += p.series.iter().map(|s| s.keys.len()).sum::<usize>();
        summary.unannotated_lesions += t.iter().filter(|t| t[5] == "0").count();
        rows.extend(r);
        truth.extend(t);
        progress(i + 1);
    }
    summary.annotated_lesions = rows.len();
    let csv_path = out.join(CSV_NAME);
    let f = std::fs::File::create(&csv_path).map_err(|e| Error::io(&csv_path, e))?;
    dl_info::write_csv(std::io::BufWriter::new(f), &rows).map_err(|e| Error::io(&csv_path, e))?;
    let truth_path = out.join(TRUTH_NAME);
    let f = std::fs::File::create(&truth_path).map_err(|e| Error::io(&truth_path, e))?;
    let mut w =
        csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(std::io::BufWriter::new(f));
    let werr = |e: csv::Error| Error::io(&truth_path, std::io::Error::other(e.to_string()));
    w.write_record(TRUTH_HEADER).map_err(werr)?;
    for t in &truth {
        w.write_record(t).map_err(werr)?;
    }
    w.flush().map_err(|e| Error::io(&truth_path, e))?;
    let _ = std::io::stdout().flush();
    Ok(summary)
}
