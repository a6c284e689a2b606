//! RECIST mining: a lesion box from the four measurement endpoints (5 px padding), diameters recomputed.

use super::dl_info::LesionRecord;

/// Padding on every side of the RECIST extent, pixels (the paper's and the release's value).
pub const BOX_PADDING: f32 = 5.0;

/// Box x1,y1,x2,y2 covering the four endpoints (x11,y11,x12,y12,x21,y21,x22,y22), padded.
pub fn mine_box(recist: &[f32; 8], padding: f32) -> [f32; 4] {
    let xs = [recist[0], recist[2], recist[4], recist[6]];
    let ys = [recist[1], recist[3], recist[5], recist[7]];
    let min = |a: [f32; 4]| a.iter().copied().fold(f32::INFINITY, f32::min);
    let max = |a: [f32; 4]| a.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    [min(xs) - padding, min(ys) - padding, max(xs) + padding, max(ys) + padding]
}

/// Long and short diameters (pixels) from the endpoints.
pub fn diameters(recist: &[f32; 8]) -> [f32; 2] {
    let d = |a: usize| (recist[a + 2] - recist[a]).hypot(recist[a + 3] - recist[a + 1]);
    [d(0), d(4)]
}

/// One mined row: the stored and mined figures and their largest disagreement.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Mined {
    pub file_name: String,
    pub line: u64,
    pub stored_box: [f32; 4],
    pub mined_box: [f32; 4],
    pub stored_diameters: [f32; 2],
    pub mined_diameters: [f32; 2],
    /// Largest absolute coordinate difference between the boxes, pixels.
    pub box_diff: f32,
    /// Largest absolute diameter difference, pixels.
    pub diameter_diff: f32,
}

/// Mine one record.
pub fn mine(r: &LesionRecord) -> Mined {
    let mined_box = mine_box(&r.recist, BOX_PADDING);
    let mined_diameters = diameters(&r.recist);
    let box_diff = r.bbox.iter().zip(&mined_box).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    let diameter_diff = r.diameters_px.iter().zip(&mined_diameters).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    Mined {
        file_name: r.file_name.clone(),
        line: r.line,
        stored_box: r.bbox,
        mined_box,
        stored_diameters: r.diameters_px,
        mined_diameters,
        box_diff,
        diameter_diff,
    }
}
