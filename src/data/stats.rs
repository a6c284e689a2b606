//! Dataset figures for `deeplesion stats`: images, lesions and patients per split, coarse types, lesion sizes in mm, multi-lesion slices, noisy rows.

use std::collections::{BTreeMap, BTreeSet};

use super::dataset::Dataset;
use super::dl_info::{type_name, Split};

/// Size bins of the long diameter, mm (upper bounds; the last is open).
pub const SIZE_BINS_MM: [f32; 6] = [10.0, 20.0, 30.0, 50.0, 80.0, f32::INFINITY];

/// Counts of one split.
#[derive(Clone, Debug, Default, serde::Serialize, PartialEq)]
pub struct SplitCounts {
    pub images: usize,
    pub lesions: usize,
    pub patients: usize,
    pub studies: usize,
    pub multi_lesion_images: usize,
    pub noisy: usize,
}

/// Long-diameter distribution in mm.
#[derive(Clone, Debug, Default, serde::Serialize, PartialEq)]
pub struct SizeStats {
    pub min: f32,
    pub p25: f32,
    pub median: f32,
    pub p75: f32,
    pub max: f32,
    /// Lesions per bin: <10, 10-20, 20-30, 30-50, 50-80, >=80 mm.
    pub bins: Vec<usize>,
}

/// All figures of a dataset.
#[derive(Clone, Debug, Default, serde::Serialize, PartialEq)]
pub struct Stats {
    pub splits: BTreeMap<String, SplitCounts>,
    pub total: SplitCounts,
    /// Lesions per coarse type name, per split ("unlabelled" for -1).
    pub types: BTreeMap<String, BTreeMap<String, usize>>,
    pub size_mm: SizeStats,
}

fn quantile(sorted: &[f32], q: f32) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f32;
    let (i, f) = (pos.floor() as usize, pos.fract());
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + (sorted[j] - sorted[i]) * f
}

fn counts<'a>(images: impl Iterator<Item = &'a super::ImageRecord>) -> SplitCounts {
    let mut c = SplitCounts::default();
    let mut patients = BTreeSet::new();
    let mut studies = BTreeSet::new();
    for im in images {
        c.images += 1;
        c.lesions += im.lesions.len();
        c.multi_lesion_images += (im.lesions.len() > 1) as usize;
        c.noisy += im.lesions.iter().filter(|l| l.noisy).count();
        patients.insert(im.patient);
        studies.insert((im.patient, im.study));
    }
    c.patients = patients.len();
    c.studies = studies.len();
    c
}

/// Compute the figures of a loaded dataset.
pub fn compute(ds: &Dataset) -> Stats {
    let mut s = Stats::default();
    for split in Split::ALL {
        s.splits.insert(split.name().into(), counts(ds.images.iter().filter(|i| i.split == split)));
    }
    s.total = counts(ds.images.iter());
    let mut sizes = Vec::new();
    let mut bins = vec![0usize; SIZE_BINS_MM.len()];
    for im in &ds.images {
        for l in &im.lesions {
            *s.types.entry(type_name(l.coarse_type).into()).or_default().entry(l.split.name().into()).or_default() += 1;
            let mm = l.long_diameter_mm();
            sizes.push(mm);
            let b = SIZE_BINS_MM.iter().position(|&ub| mm < ub).unwrap_or(SIZE_BINS_MM.len() - 1);
            bins[b] += 1;
        }
    }
    sizes.sort_by(f32::total_cmp);
    s.size_mm = SizeStats {
        min: sizes.first().copied().unwrap_or(0.0),
        p25: quantile(&sizes, 0.25),
        median: quantile(&sizes, 0.5),
        p75: quantile(&sizes, 0.75),
        max: sizes.last().copied().unwrap_or(0.0),
        bins,
    };
    s
}

/// The figures as a plain-text table.
pub fn table(s: &Stats) -> String {
    let mut out = String::new();
    out += &format!(
        "{:<8} {:>8} {:>8} {:>9} {:>8} {:>12} {:>6}\n",
        "split", "images", "lesions", "patients", "studies", "multi-lesion", "noisy"
    );
    let row = |name: &str, c: &SplitCounts| {
        format!(
            "{:<8} {:>8} {:>8} {:>9} {:>8} {:>12} {:>6}\n",
            name, c.images, c.lesions, c.patients, c.studies, c.multi_lesion_images, c.noisy
        )
    };
    for split in Split::ALL {
        out += &row(split.name(), &s.splits[split.name()]);
    }
    out += &row("total", &s.total);
    out += &format!("\n{:<12} {:>7} {:>7} {:>7}\n", "coarse type", "train", "val", "test");
    let mut names: Vec<&str> = super::dl_info::TYPE_NAMES.to_vec();
    names.push("unlabelled");
    for n in names {
        let Some(m) = s.types.get(n) else { continue };
        let g = |k: &str| m.get(k).copied().unwrap_or(0);
        out += &format!("{:<12} {:>7} {:>7} {:>7}\n", n, g("train"), g("val"), g("test"));
    }
    let z = &s.size_mm;
    out += &format!(
        "\nlong diameter (mm): min {:.1}, p25 {:.1}, median {:.1}, p75 {:.1}, max {:.1}\n",
        z.min, z.p25, z.median, z.p75, z.max
    );
    out += "  <10 mm: {0}, 10-20: {1}, 20-30: {2}, 30-50: {3}, 50-80: {4}, >=80: {5}\n";
    for (i, b) in z.bins.iter().enumerate() {
        out = out.replace(&format!("{{{i}}}"), &b.to_string());
    }
    out
}
