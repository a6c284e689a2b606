//! A DeepLesion folder (DL_info.csv + Images_png/): rows checked, grouped into key-slice images, with a load summary.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::dl_info::{self, LesionRecord, SkipKind, Skipped, Split};
use super::slice::{self, SliceProblem};
use crate::{Error, Result};

/// How strictly to load.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Turn the first bad row into an error instead of skipping it.
    pub strict: bool,
    /// Check every key slice PNG (exists, 16-bit grayscale, size = Image_size) by reading its
    /// header; rows whose PNG fails are skipped. Off for CSV-only work (`mine`).
    pub check_images: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { strict: false, check_images: true }
    }
}

/// One key slice with all its annotated lesions (several rows of the CSV can share it).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImageRecord {
    /// Key slice File_name, e.g. `000089_01_01_037.png`.
    pub file_name: String,
    pub patient: u32,
    pub study: u32,
    pub series: u32,
    pub key_slice: u32,
    pub split: Split,
    pub slice_range: [u32; 2],
    pub spacing_mm: [f32; 3],
    /// Width, height.
    pub image_size: [u32; 2],
    pub dicom_window: [f32; 2],
    /// The lesions annotated on this slice, in file order.
    pub lesions: Vec<LesionRecord>,
}

impl ImageRecord {
    /// Boxes of the lesions (0-based x1,y1,x2,y2).
    pub fn boxes(&self) -> Vec<[f32; 4]> {
        self.lesions.iter().map(|l| l.bbox).collect()
    }
}

/// What loading did: counts and every skipped row with its message.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LoadSummary {
    pub csv: PathBuf,
    /// Data rows read.
    pub rows: usize,
    /// Lesions kept.
    pub lesions: usize,
    /// Images (key slices) kept.
    pub images: usize,
    pub skipped: Vec<Skipped>,
}

impl LoadSummary {
    /// Skipped rows counted by kind.
    pub fn skipped_by_kind(&self) -> BTreeMap<SkipKind, usize> {
        let mut m = BTreeMap::new();
        for s in &self.skipped {
            *m.entry(s.kind).or_insert(0) += 1;
        }
        m
    }

    /// One-paragraph report: totals, then a count per skip reason.
    pub fn report(&self) -> String {
        let mut s = format!(
            "{}: {} rows read, {} lesions kept on {} images, {} rows skipped",
            self.csv.display(),
            self.rows,
            self.lesions,
            self.images,
            self.skipped.len()
        );
        for (k, n) in self.skipped_by_kind() {
            s += &format!("\n  {n:>6} {}", k.label());
        }
        s
    }
}

/// A loaded DeepLesion folder.
#[derive(Debug)]
pub struct Dataset {
    /// The folder holding DL_info.csv.
    pub root: PathBuf,
    /// The Images_png folder.
    pub images_dir: PathBuf,
    /// All images in first-appearance order of the CSV.
    pub images: Vec<ImageRecord>,
    index: HashMap<String, usize>,
    /// Set once the "neighbour slices missing" note has been printed.
    pub(crate) warned_missing_neighbours: AtomicBool,
}

/// The CSV file name inside a dataset folder.
pub const CSV_NAME: &str = "DL_info.csv";
/// The slice folder name inside a dataset folder.
pub const IMAGES_DIR: &str = "Images_png";

impl Dataset {
    /// Open `dir/DL_info.csv` with slices under `dir/Images_png`.
    pub fn open(dir: &Path, opts: &LoadOptions) -> Result<(Dataset, LoadSummary)> {
        Self::open_parts(&dir.join(CSV_NAME), &dir.join(IMAGES_DIR), opts)
    }

    /// Open a CSV and an image folder given separately.
    pub fn open_parts(csv: &Path, images_dir: &Path, opts: &LoadOptions) -> Result<(Dataset, LoadSummary)> {
        let (records, mut skipped) = dl_info::read_csv(csv, opts.strict)?;
        let rows = records.len() + skipped.len();
        let source = csv.display().to_string();
        let mut kept = Vec::with_capacity(records.len());
        // PNG header checks are cached per file: several lesions share one key slice.
        let mut probed: HashMap<String, std::result::Result<(), (SkipKind, String, String)>> = HashMap::new();
        for r in records {
            let loc = format!("{source}:{}", r.line);
            match check_record(&r, images_dir, opts, &mut probed) {
                Ok(()) => kept.push(r),
                Err((kind, location, message)) => {
                    let location = if location.is_empty() { loc } else { format!("{loc} ({location})") };
                    if opts.strict {
                        return Err(Error::data(location, message));
                    }
                    skipped.push(Skipped { location, kind, message });
                }
            }
        }
        let lesions = kept.len();
        let images = group(kept);
        let index = images.iter().enumerate().map(|(i, im)| (im.file_name.clone(), i)).collect();
        let summary = LoadSummary { csv: csv.to_path_buf(), rows, lesions, images: images.len(), skipped };
        let root = csv.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok((
            Dataset {
                root,
                images_dir: images_dir.to_path_buf(),
                images,
                index,
                warned_missing_neighbours: AtomicBool::new(false),
            },
            summary,
        ))
    }

    /// Images of one split, in file order.
    pub fn images(&self, split: Split) -> Vec<&ImageRecord> {
        self.images.iter().filter(|i| i.split == split).collect()
    }

    /// The image whose key slice File_name is `file_name`.
    pub fn image(&self, file_name: &str) -> Option<&ImageRecord> {
        self.index.get(file_name).map(|&i| &self.images[i])
    }

    /// Path of slice `slice` of the image's series (the key slice when `slice == key_slice`).
    pub fn slice_path(&self, image: &ImageRecord, slice: u32) -> Result<PathBuf> {
        let name = if slice == image.key_slice {
            image.file_name.clone()
        } else {
            slice::sibling_file_name(&image.file_name, slice)
                .ok_or_else(|| Error::data(&image.file_name, "File_name has no '_'"))?
        };
        let rel = slice::relative_path(&name).map_err(|m| Error::data(&image.file_name, m))?;
        Ok(self.images_dir.join(rel))
    }
}

type Probe = std::result::Result<(), (SkipKind, String, String)>;

fn check_record(
    r: &LesionRecord,
    images_dir: &Path,
    opts: &LoadOptions,
    probed: &mut HashMap<String, Probe>,
) -> std::result::Result<(), (SkipKind, String, String)> {
    let rel = slice::relative_path(&r.file_name).map_err(|m| (SkipKind::BadPath, String::new(), m))?;
    let [w, h] = r.image_size;
    let [x1, y1, x2, y2] = r.bbox;
    if x2 <= x1 || y2 <= y1 {
        return Err((SkipKind::BadBox, String::new(), format!("Bounding_boxes has zero area: {:?} (0-based)", r.bbox)));
    }
    // 0-based pixel centres run 0..=w-1; allow the box to reach the outer pixel edge (w).
    if x1 < 0.0 || y1 < 0.0 || x2 > w as f32 || y2 > h as f32 {
        return Err((
            SkipKind::BadBox,
            String::new(),
            format!("Bounding_boxes {:?} (0-based) lies outside the {w}x{h} image", r.bbox),
        ));
    }
    if opts.check_images {
        let res = probed
            .entry(r.file_name.clone())
            .or_insert_with(|| {
                let path = images_dir.join(&rel);
                slice::probe_slice(&path, Some(r.image_size)).map_err(|e| {
                    let kind = match e.kind {
                        SliceProblem::Missing | SliceProblem::Unreadable => SkipKind::MissingImage,
                        SliceProblem::NotGray16 => SkipKind::BadImage,
                        SliceProblem::SizeMismatch => SkipKind::SizeMismatch,
                    };
                    (kind, e.location, e.message)
                })
            })
            .clone();
        res?;
    }
    Ok(())
}

/// Group lesions by key slice File_name, keeping first-appearance order.
pub fn group(records: Vec<LesionRecord>) -> Vec<ImageRecord> {
    let mut out: Vec<ImageRecord> = Vec::new();
    let mut pos: HashMap<String, usize> = HashMap::new();
    for r in records {
        if let Some(&i) = pos.get(&r.file_name) {
            out[i].lesions.push(r);
            continue;
        }
        pos.insert(r.file_name.clone(), out.len());
        out.push(ImageRecord {
            file_name: r.file_name.clone(),
            patient: r.patient,
            study: r.study,
            series: r.series,
            key_slice: r.key_slice,
            split: r.split,
            slice_range: r.slice_range,
            spacing_mm: r.spacing_mm,
            image_size: r.image_size,
            dicom_window: r.dicom_window,
            lesions: vec![r],
        });
    }
    out
}

impl Dataset {
    /// Indices into `images` of one split (for [`super::Loader`]).
    pub fn indices(&self, split: Split) -> Vec<usize> {
        self.images.iter().enumerate().filter(|(_, i)| i.split == split).map(|(k, _)| k).collect()
    }
}
