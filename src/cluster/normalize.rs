//! Row-wise L2 normalisation of feature matrices on the GPU, with its CPU reference.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("cluster_features");

/// Norms below this count as zero: such rows stay (near) zero instead of blowing up.
pub const EPS: f32 = 1e-12;

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

/// CPU reference.
pub fn cpu_l2_rows(x: &[f32], cols: usize) -> Vec<f32> {
    x.chunks_exact(cols)
        .flat_map(|r| {
            let n = r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt().max(EPS as f64);
            r.iter().map(move |v| (*v as f64 / n) as f32)
        })
        .collect()
}
