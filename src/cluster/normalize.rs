//! Feature normalisation on the GPU (row-wise L2, per-column standardisation), with CPU references.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("cluster_features");

/// Norms below this count as zero: such rows stay (near) zero instead of blowing up.
pub const EPS: f32 = 1e-12;

/// A column whose standard deviation is at most this fraction of its |mean| (plus `EPS`) counts as
/// constant: that spread is only the rounding of the mean (mirrors `SD_REL` in the shader).
pub const SD_REL: f32 = 1e-5;

/// Mirrors `Params` in shaders/cluster_features.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    _pad: u32,
}

/// Each row of a `[rows, cols]` tensor divided by its L2 norm (zero rows stay zero).
pub fn l2_rows(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let [rows, cols] = x.shape() else {
        return Err(Error::shape("l2_rows", format!("need [rows, cols], got {:?}", x.shape())));
    };
    let out = gpu.empty("l2_rows", x.shape(), DType::F32)?;
    let p = Params { rows: *rows as u32, cols: *cols as u32, eps: EPS, _pad: 0 };
    gpu.dispatch("l2_rows", &SHADER, "l2_rows", &p, &[Arg::R(x), Arg::W(&out)], grid_1d(*rows, 64))?;
    Ok(out)
}

/// Each column of a `[rows, cols]` tensor standardised over the rows: minus its mean, divided by its
/// population standard deviation; constant columns (sd <= `SD_REL` |mean| + `EPS`) become 0.
pub fn standardize_cols(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    let [rows, cols] = x.shape() else {
        return Err(Error::shape("standardize_cols", format!("need [rows, cols], got {:?}", x.shape())));
    };
    if *rows == 0 {
        return Err(Error::invalid("standardize_cols", "no rows to standardise"));
    }
    let out = gpu.empty("standardize_cols", x.shape(), DType::F32)?;
    let p = Params { rows: *rows as u32, cols: *cols as u32, eps: EPS, _pad: 0 };
    gpu.dispatch("standardize_cols", &SHADER, "standardize_cols", &p, &[Arg::R(x), Arg::W(&out)], grid_1d(*cols, 64))?;
    Ok(out)
}

/// CPU reference.
pub fn cpu_l2_rows(x: &[f32], cols: usize) -> Vec<f32> {
    x.chunks_exact(cols)
        .flat_map(|r| {
            let n = r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt().max(EPS as f64);
            r.iter().map(move |v| (*v as f64 / n) as f32)
        })
        .collect()
}

/// CPU reference of `standardize_cols` of an `[rows, cols]` matrix: each column minus its
/// mean, divided by its standard deviation (population, f64); constant columns become 0.
pub fn cpu_standardize(x: &[f32], cols: usize) -> Vec<f32> {
    let rows = x.len() / cols.max(1);
    let mut mean = vec![0.0f64; cols];
    for r in x.chunks_exact(cols) {
        r.iter().zip(mean.iter_mut()).for_each(|(v, m)| *m += *v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= rows.max(1) as f64);
    let mut var = vec![0.0f64; cols];
    for r in x.chunks_exact(cols) {
        r.iter().zip(&mean).zip(var.iter_mut()).for_each(|((v, m), s)| *s += (*v as f64 - m).powi(2));
    }
    let inv: Vec<f64> = var
        .iter()
        .zip(&mean)
        .map(|(s, m)| {
            let sd = (s / rows.max(1) as f64).sqrt();
            if sd > SD_REL as f64 * m.abs() + EPS as f64 {
                1.0 / sd
            } else {
                0.0
            }
        })
        .collect();
    x.chunks_exact(cols)
        .flat_map(|r| r.iter().zip(&mean).zip(&inv).map(|((v, m), i)| ((*v as f64 - m) * i) as f32).collect::<Vec<_>>())
        .collect()
}
