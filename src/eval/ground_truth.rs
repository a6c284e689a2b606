//! The evaluated split's ground truth (images and lesions) taken from DL_info.csv.

use std::collections::BTreeSet;
use std::path::Path;

use super::metrics::GtLesion;
use crate::error::{Error, Result};

/// Train_Val_Test code of a split name.
pub fn split_code(name: &str) -> Result<u8> {
    match name {
        "train" | "1" => Ok(1),
        "val" | "2" => Ok(2),
        "test" | "3" => Ok(3),
        other => Err(Error::invalid("split", format!("'{other}' is not train, val or test"))),
    }
}

fn floats(loc: &str, field: &str, want: usize) -> Result<Vec<f32>> {
    let v: Vec<f32> = field
        .split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::data(loc, format!("'{field}' is not a list of numbers: {e}")))?;
    if v.len() != want || v.iter().any(|x| !x.is_finite()) {
        return Err(Error::data(loc, format!("'{field}' should hold {want} finite numbers")));
    }
    Ok(v)
}

/// The images (sorted File_names) and lesions of one split, read from `DL_info.csv` at `csv_path`.
/// Boxes convert from the file's 1-based coordinates to 0-based (minus 1), as the public loaders do.
/// Images whose only lesions are noisy are left out (the public code drops noisy rows).
pub fn load(csv_path: &Path, split: u8) -> Result<(Vec<String>, Vec<GtLesion>)> {
    let mut r =
        csv::Reader::from_path(csv_path).map_err(|e| Error::data(csv_path.display().to_string(), e.to_string()))?;
    let headers = r.headers().map_err(|e| Error::data(csv_path.display().to_string(), e.to_string()))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::data(csv_path.display().to_string(), format!("missing column {name}")))
    };
    let (c_file, c_box, c_diam, c_type, c_noisy, c_space, c_split) = (
        col("File_name")?,
        col("Bounding_boxes")?,
        col("Lesion_diameters_Pixel_")?,
        col("Coarse_lesion_type")?,
        col("Possibly_noisy")?,
        col("Spacing_mm_px_")?,
        col("Train_Val_Test")?,
    );
    let mut gts = Vec::new();
    let mut images = BTreeSet::new();
    for (i, rec) in r.records().enumerate() {
        let loc = format!("{}:{}", csv_path.display(), i + 2);
        let rec = rec.map_err(|e| Error::data(&loc, e.to_string()))?;
        let get = |c: usize| rec.get(c).unwrap_or("").trim();
        let s: u8 = get(c_split).parse().map_err(|_| Error::data(&loc, "bad Train_Val_Test"))?;
        if s != split {
            continue;
        }
        let b = floats(&loc, get(c_box), 4)?;
        let d = floats(&loc, get(c_diam), 2)?;
        let sp = floats(&loc, get(c_space), 3)?;
        let coarse_type: i32 = get(c_type).parse().map_err(|_| Error::data(&loc, "bad Coarse_lesion_type"))?;
        let noisy = get(c_noisy) == "1";
        let file = get(c_file).to_string();
        if !noisy {
            images.insert(file.clone());
        }
        gts.push(GtLesion {
            file,
            bbox: [b[0] - 1.0, b[1] - 1.0, b[2] - 1.0, b[3] - 1.0],
            coarse_type,
            long_diameter_mm: d[0] * sp[0],
            noisy,
        });
    }
    Ok((images.into_iter().collect(), gts))
}
