//! The detections file shared by `detect` and `eval`: one row per box (file, box, score, class), as CSV or JSON.
//!
//! Boxes are in the ORIGINAL slice's 0-based pixel coordinates (x1, y1, x2, y2), i.e. the same
//! frame as DL_info.csv's Bounding_boxes minus 1, whatever resizing the detector did internally.
//! `file` is DL_info.csv's File_name (`000089_01_01_037.png`). `score` is the merged lesion score
//! (max over classes); `class` is the argmax class (0 = the single lesion class or pseudo class 0).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One detected box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// DL_info.csv File_name of the key slice.
    pub file: String,
    /// x1, y1, x2, y2 in 0-based pixels of the original slice.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Lesion score in [0, 1].
    pub score: f32,
    /// Predicted class index (foreground classes, 0-based).
    pub class: u32,
}

/// The CSV row layout: `file,x1,y1,x2,y2,score,class`.
#[derive(Serialize, Deserialize)]
struct CsvRow {
    file: String,
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
    score: f32,
    class: u32,
}

/// Writes detections as CSV (header `file,x1,y1,x2,y2,score,class`).
pub fn write_csv(path: &Path, dets: &[Detection]) -> Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(|e| csv_err(path, e))?;
    for d in dets {
        let [x1, y1, x2, y2] = d.bbox;
        w.serialize(CsvRow { file: d.file.clone(), x1, y1, x2, y2, score: d.score, class: d.class })
            .map_err(|e| csv_err(path, e))?;
    }
    w.flush().map_err(|e| Error::io(path, e))
}

/// Writes detections as a JSON array of `{file, box: [x1, y1, x2, y2], score, class}`.
pub fn write_json(path: &Path, dets: &[Detection]) -> Result<()> {
    let text =
        serde_json::to_string_pretty(dets).map_err(|e| Error::Format { path: path.into(), message: e.to_string() })?;
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Reads a detections file; `.json` is read as JSON, anything else as CSV. Every score and
/// coordinate must be finite and boxes must have x2 >= x1, y2 >= y1.
pub fn read(path: &Path) -> Result<Vec<Detection>> {
    let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let dets = if is_json {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str::<Vec<Detection>>(&text)
            .map_err(|e| Error::data(path.display().to_string(), format!("not a detections JSON array: {e}")))?
    } else {
        let mut r = csv::Reader::from_path(path).map_err(|e| csv_err(path, e))?;
        let mut out = Vec::new();
        for (i, row) in r.deserialize::<CsvRow>().enumerate() {
            // Line i + 2: the header is line 1.
            let row = row.map_err(|e| Error::data(format!("{}:{}", path.display(), i + 2), e.to_string()))?;
            out.push(Detection {
                file: row.file,
                bbox: [row.x1, row.y1, row.x2, row.y2],
                score: row.score,
                class: row.class,
            });
        }
        out
    };
    for (i, d) in dets.iter().enumerate() {
        let ok = d.score.is_finite()
            && d.bbox.iter().all(|v| v.is_finite())
            && d.bbox[2] >= d.bbox[0]
            && d.bbox[3] >= d.bbox[1];
        if !ok {
            return Err(Error::data(
                format!("{} detection {}", path.display(), i + 1),
                format!("non-finite score/box or inverted box: {d:?}"),
            ));
        }
    }
    Ok(dets)
}

fn csv_err(path: &Path, e: csv::Error) -> Error {
    Error::data(path.display().to_string(), e.to_string())
}
