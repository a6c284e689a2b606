//! The evaluated split's ground truth (images and lesions), built from the data layer's DL_info.csv records.

use std::collections::BTreeMap;
use std::path::Path;

use super::metrics::GtLesion;
use crate::data::dl_info::{self, LesionRecord, Split};
use crate::error::Result;

/// Evaluation ground truth of some lesion records: the image names (sorted) and every lesion.
/// Images whose lesions are all noisy are left out of the image list (the public code drops
/// noisy rows, so such a slice is not evaluated at all); their lesions stay in the list marked
/// noisy, and [`super::evaluate`] ignores them.
pub fn from_records<'a>(records: impl IntoIterator<Item = &'a LesionRecord>) -> (Vec<String>, Vec<GtLesion>) {
    let mut has_clean: BTreeMap<&str, bool> = BTreeMap::new();
    let mut gts = Vec::new();
    for r in records {
        *has_clean.entry(r.file_name.as_str()).or_default() |= !r.noisy;
        gts.push(GtLesion {
            file: r.file_name.clone(),
            bbox: r.bbox,
            coarse_type: r.coarse_type,
            long_diameter_mm: r.long_diameter_mm(),
            noisy: r.noisy,
        });
    }
    let images = has_clean.into_iter().filter(|&(_, clean)| clean).map(|(f, _)| f.to_string()).collect();
    (images, gts)
}

/// The ground truth of one split read from `DL_info.csv` at `csv_path` by the data layer's
/// parser (boxes 0-based). A malformed row is an error naming the file and line: silently
/// skipping ground truth would change the metrics.
pub fn load(csv_path: &Path, split: Split) -> Result<(Vec<String>, Vec<GtLesion>)> {
    let (records, _) = dl_info::read_csv(csv_path, true)?;
    Ok(from_records(records.iter().filter(|r| r.split == split)))
}
