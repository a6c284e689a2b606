//! Anchor boxes: every (scale, ratio) box centred on every cell of a feature map (generated on the CPU, uploaded once).

use super::boxes::BoxF;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::Tensor;

/// Anchor shapes at a feature stride. The paper's: scales 16, 24, 32, 48, 96 px, ratios
/// (height / width) 1:2, 1:1, 2:1, stride 8.
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorConfig {
    /// Square root of the anchor area, in pixels.
    pub scales: Vec<f32>,
    /// Height / width.
    pub ratios: Vec<f32>,
    /// Pixels per feature cell.
    pub stride: f32,
}

impl Default for AnchorConfig {
    fn default() -> Self {
        AnchorConfig { scales: vec![16.0, 24.0, 32.0, 48.0, 96.0], ratios: vec![0.5, 1.0, 2.0], stride: 8.0 }
    }
}

impl AnchorConfig {
    /// Anchors per feature cell (A = ratios x scales).
    pub fn per_cell(&self) -> usize {
        self.scales.len() * self.ratios.len()
    }

    /// The A anchors of one cell centred at the origin, index `a = ratio_index * scales + scale_index`.
    /// Width `s / sqrt(r)`, height `s * sqrt(r)`: area `s^2`, no rounding.
    pub fn cell_anchors(&self) -> Vec<BoxF> {
        let mut out = Vec::with_capacity(self.per_cell());
        for &r in &self.ratios {
            for &s in &self.scales {
                let w = s / r.sqrt();
                let h = s * r.sqrt();
                out.push([-0.5 * w, -0.5 * h, 0.5 * w, 0.5 * h]);
            }
        }
        out
    }

    /// All anchors of an `h x w` feature map, index `(y * w + x) * A + a`, centred on the cell
    /// centre `((x + 0.5) * stride, (y + 0.5) * stride)` in image pixels (continuous convention).
    /// That index order matches RPN outputs read as `[N, H, W, A]`; the proposal layer maps
    /// NCHW `[N, A, H, W]` outputs onto it.
    pub fn grid(&self, feat_h: usize, feat_w: usize) -> Vec<BoxF> {
        let base = self.cell_anchors();
        let mut out = Vec::with_capacity(feat_h * feat_w * base.len());
        for y in 0..feat_h {
            for x in 0..feat_w {
                let cx = (x as f32 + 0.5) * self.stride;
                let cy = (y as f32 + 0.5) * self.stride;
                for b in &base {
                    out.push([cx + b[0], cy + b[1], cx + b[2], cy + b[3]]);
                }
            }
        }
        out
    }

    /// [`grid`](Self::grid) uploaded as an `[H * W * A, 4]` tensor (do it once per feature-map size).
    pub fn upload(&self, gpu: &Gpu, feat_h: usize, feat_w: usize) -> Result<Tensor> {
        if self.per_cell() == 0 || self.stride <= 0.0 {
            return Err(Error::invalid("anchors", "need at least one scale and ratio and a positive stride"));
        }
        super::boxes::upload(gpu, &self.grid(feat_h, feat_w))
    }
}
