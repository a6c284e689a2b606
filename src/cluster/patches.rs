//! Lesion patches: each lesion's box plus a context margin, cut from the windowed 3-channel key slice
//! and resampled to a fixed square patch (CHW, values in [0, 1]).

/// One lesion behind a patch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LesionRef {
    pub file_name: String,
    /// Index of the lesion among its key slice's lesions (file order, 0-based).
    pub lesion_index: usize,
    /// Coarse_lesion_type (1..=8, -1 unlabelled).
    pub coarse_type: i32,
    /// Train_Val_Test code (1 train, 2 val, 3 test).
    pub split: u8,
    pub noisy: bool,
}

/// Patches of all lesions: `pixels` holds `len() x channels x size x size` values.
#[derive(Debug, Clone, Default)]
pub struct Patches {
    pub size: usize,
    pub channels: usize,
    pub lesions: Vec<LesionRef>,
    pub pixels: Vec<f32>,
    /// Images that could not be read (file name and error), their lesions left out.
    pub skipped: Vec<(String, String)>,
}

impl Patches {
    pub fn len(&self) -> usize {
        self.lesions.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lesions.is_empty()
    }
    /// Values per patch.
    pub fn dim(&self) -> usize {
        self.channels * self.size * self.size
    }
    /// Patch `i`.
    pub fn patch(&self, i: usize) -> &[f32] {
        &self.pixels[i * self.dim()..(i + 1) * self.dim()]
    }
}

/// Cuts one patch from a CHW image (`c x h x w`, pixel `i` centred at coordinate `i`). The crop is the
/// square of side `max(box w, box h) * (1 + 2 margin)` (at least 1 px) centred on the box, so the
/// lesion's shape is kept; each output pixel averages up to 4x4 bilinear samples (less aliasing when
/// shrinking); samples outside the image read 0.
pub fn cut(chw: &[f32], c: usize, h: usize, w: usize, bbox: [f32; 4], size: usize, margin: f32) -> Vec<f32> {
    let (cx, cy) = ((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0);
    let side = ((bbox[2] - bbox[0]).max(bbox[3] - bbox[1]) * (1.0 + 2.0 * margin)).max(1.0);
    let step = side / size as f32;
    let sub = (step.ceil() as usize).clamp(1, 4);
    let (left, top) = (cx - side / 2.0, cy - side / 2.0);
    let sample = |plane: &[f32], x: f32, y: f32| -> f32 {
        // Continuous coordinate to pixel-centre frame: pixel i covers [i - 0.5, i + 0.5].
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let at = |xi: f32, yi: f32| -> f32 {
            if xi < 0.0 || yi < 0.0 || xi >= w as f32 || yi >= h as f32 {
                0.0
            } else {
                plane[yi as usize * w + xi as usize]
            }
        };
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
        let bot = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
        top * (1.0 - fy) + bot * fy
    };
    let mut out = vec![0.0f32; c * size * size];
    for ch in 0..c {
        let plane = &chw[ch * h * w..(ch + 1) * h * w];
        for v in 0..size {
            for u in 0..size {
                let mut acc = 0.0;
                for sy in 0..sub {
                    for sx in 0..sub {
                        let x = left + (u as f32 + (sx as f32 + 0.5) / sub as f32) * step - 0.5;
                        let y = top + (v as f32 + (sy as f32 + 0.5) / sub as f32) * step - 0.5;
                        acc += sample(plane, x, y);
                    }
                }
                out[ch * size * size + v * size + u] = acc / (sub * sub) as f32;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_a_centred_square_and_pads_with_zero() {
        // 1 channel 8x8 image with value = x coordinate.
        let (h, w) = (8, 8);
        let img: Vec<f32> = (0..h * w).map(|i| (i % w) as f32).collect();
        // Box 2..6 in x and y, no margin, 4x4 output: one source pixel per output pixel.
        let p = cut(&img, 1, h, w, [2.0, 2.0, 6.0, 6.0], 4, 0.0);
        // Crop covers [2, 6) in continuous coords starting at pixel-centre 2 - 0.5 + 0.5 = 2.0 .. so
        // the first output samples x = 2 + 0.5 - 0.5 = 2.
        assert_eq!(&p[..4], &[2.0, 3.0, 4.0, 5.0]);
        // A box at the left edge with margin reads zeros outside.
        let p = cut(&img, 1, h, w, [0.0, 0.0, 2.0, 2.0], 4, 0.5);
        assert_eq!(p[0], 0.0);
        assert!(p.iter().all(|v| v.is_finite()));
    }
}
