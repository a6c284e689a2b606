//! Axis permutation of tensors of rank <= 4 (e.g. NCHW -> NHWC for per-anchor heads): launcher and CPU reference.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("permute");

/// Mirrors `Params` in shaders/permute.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PermuteParams {
    pub n: u32,
    pub _pad: [u32; 3],
    pub oshape: [u32; 4],
    pub istride: [u32; 4],
}

/// Checks that `perm` is a permutation of `0..rank`.
fn check_perm(op: &str, rank: usize, perm: &[usize]) -> Result<()> {
    let mut seen = vec![false; rank];
    if perm.len() != rank || rank > 4 || perm.iter().any(|&a| a >= rank || std::mem::replace(&mut seen[a], true)) {
        return Err(Error::invalid(op, format!("{perm:?} is not a permutation of the {rank} axes (rank <= 4)")));
    }
    Ok(())
}

/// `out` with axis k of the output being axis `perm[k]` of `x` (as `torch.permute`).
pub fn permute(gpu: &Gpu, x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    let op = "permute";
    let s = x.shape();
    check_perm(op, s.len(), perm)?;
    if x.dtype() != DType::F32 {
        return Err(Error::invalid(op, "x must be F32"));
    }
    let rank = s.len();
    let mut in_stride = vec![1usize; rank];
    for a in (0..rank.saturating_sub(1)).rev() {
        in_stride[a] = in_stride[a + 1] * s[a + 1];
    }
    let oshape_v: Vec<usize> = perm.iter().map(|&a| s[a]).collect();
    // Pad to rank 4 with leading axes of size 1 (stride irrelevant).
    let mut oshape = [1u32; 4];
    let mut istride = [0u32; 4];
    for k in 0..rank {
        oshape[4 - rank + k] = oshape_v[k] as u32;
        istride[4 - rank + k] = in_stride[perm[k]] as u32;
    }
    let out = gpu.empty(op, &oshape_v, DType::F32)?;
    let params = PermuteParams { n: x.numel() as u32, _pad: [0; 3], oshape, istride };
    gpu.dispatch(op, &SHADER, "permute", &params, &[Arg::R(x), Arg::W(&out)], grid_1d(x.numel(), 256))?;
    Ok(out)
}

/// The permutation that undoes `perm`.
pub fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (k, &a) in perm.iter().enumerate() {
        inv[a] = k;
    }
    inv
}

/// CPU reference.
pub mod cpu {
    pub fn permute(x: &[f32], shape: &[usize], perm: &[usize]) -> Vec<f32> {
        let rank = shape.len();
        let mut stride = vec![1usize; rank];
        for a in (0..rank.saturating_sub(1)).rev() {
            stride[a] = stride[a + 1] * shape[a + 1];
        }
        let oshape: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
        let n: usize = shape.iter().product();
        (0..n)
            .map(|i| {
                let mut rem = i;
                let mut src = 0;
                for k in (0..rank).rev() {
                    src += (rem % oshape[k]) * stride[perm[k]];
                    rem /= oshape[k];
                }
                x[src]
            })
            .collect()
    }
}
