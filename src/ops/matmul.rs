//! Matrix multiply (2-D and batched, either operand transposed): launcher choosing the kernel variant, and the CPU reference.

use crate::error::{Error, Result};
use crate::gpu::{Arg, Gpu, Shader, Variant};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("matmul");
static VEC4: Shader = shader!("matmul_vec4");
static SG32: Shader = shader!("matmul_32x8_sg");

/// Rows and columns of C one workgroup covers, in both variants.
const BLOCK: usize = 64;

/// Mirrors `Params` in shaders/matmul.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub batch: u32,
    pub a_sm: u32,
    pub a_sk: u32,
    pub b_sk: u32,
    pub b_sn: u32,
    pub a_batch: u32,
    pub b_batch: u32,
    pub c_batch: u32,
    /// Subgroups of a workgroup stacked along M: read by matmul_32x8_sg.wgsl only (see
    /// [`sg_rows_for`]), padding for the other kernels.
    pub sg_rows: u32,
}

/// How matmul_32x8_sg.wgsl stacks its workgroup's 8 subgroups (each 32 rows x 64 columns):
/// `s` along M and 8 / s along N, a (32 s) x (512 / s) tile. Picks the stacking that pads
/// the M x N output least (the most along M on ties: 1024^3 runs 10% faster at s = 8 than 4).
pub fn sg_rows_for(m: usize, n: usize) -> u32 {
    let padded = |s: usize| m.div_ceil(32 * s) * 32 * s * n.div_ceil(512 / s) * (512 / s);
    [8, 4, 2, 1].into_iter().min_by_key(|&s| padded(s)).unwrap_or(8) as u32
}

/// The (rows, cols) of an operand's logical matrix given its stored 2-D shape and transpose flag.
fn logical(shape: &[usize], trans: bool) -> (usize, usize) {
    if trans {
        (shape[1], shape[0])
    } else {
        (shape[0], shape[1])
    }
}

fn check_f32(op: &str, t: &Tensor, rank: usize, name: &str) -> Result<()> {
    if t.dtype() != DType::F32 {
        return Err(Error::invalid(op, format!("{name} is {:?}, expected F32", t.dtype())));
    }
    if t.shape().len() != rank {
        return Err(Error::shape(op, format!("{name} must be {rank}-D, got {:?}", t.shape())));
    }
    Ok(())
}

/// C = op(A) op(B) where op transposes when the flag is set: A is stored [M,K] (or [K,M] when
/// `trans_a`), B is stored [K,N] (or [N,K] when `trans_b`); C is [M,N].
pub fn matmul(gpu: &Gpu, a: &Tensor, b: &Tensor, trans_a: bool, trans_b: bool) -> Result<Tensor> {
    check_f32("matmul", a, 2, "a")?;
    check_f32("matmul", b, 2, "b")?;
    let a3 = a.reshape(&[1, a.shape()[0], a.shape()[1]])?;
    let b3 = b.reshape(&[1, b.shape()[0], b.shape()[1]])?;
    let c = matmul_batched(gpu, &a3, &b3, trans_a, trans_b)?;
    let (m, n) = (c.shape()[1], c.shape()[2]);
    c.reshape(&[m, n])
}

/// Batched C[i] = op(A[i]) op(B[i]) for 3-D operands with the same leading batch size.
pub fn matmul_batched(gpu: &Gpu, a: &Tensor, b: &Tensor, trans_a: bool, trans_b: bool) -> Result<Tensor> {
    const OP: &str = "matmul";
    check_f32(OP, a, 3, "a")?;
    check_f32(OP, b, 3, "b")?;
    let batch = a.shape()[0];
    if b.shape()[0] != batch {
        return Err(Error::shape(OP, format!("batch sizes differ: {:?} and {:?}", a.shape(), b.shape())));
    }
    let (m, k) = logical(&a.shape()[1..], trans_a);
    let (kb, n) = logical(&b.shape()[1..], trans_b);
    if k != kb {
        return Err(Error::shape(
            OP,
            format!(
                "inner dimensions differ: a {:?} (trans {trans_a}), b {:?} (trans {trans_b})",
                a.shape(),
                b.shape()
            ),
        ));
    }
    if k == 0 {
        return gpu.zeros(&[batch, m, n], DType::F32);
    }
    let c = gpu.empty(OP, &[batch, m, n], DType::F32)?;
    if batch * m * n == 0 {
        return Ok(c);
    }
    // Stored row-major: [M,K] has strides (K, 1); its transpose [K,M] has strides (1, M) for (m, k).
    let (a_sm, a_sk) = if trans_a { (1, m) } else { (k, 1) };
    let (b_sk, b_sn) = if trans_b { (1, k) } else { (n, 1) };
    let params = MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        batch: batch as u32,
        a_sm: a_sm as u32,
        a_sk: a_sk as u32,
        b_sk: b_sk as u32,
        b_sn: b_sn as u32,
        a_batch: (m * k) as u32,
        b_batch: (k * n) as u32,
        c_batch: (m * n) as u32,
        sg_rows: sg_rows_for(m, n),
    };
    // The vec4 kernel needs every vec4 it loads aligned: K % 4, and M % 4 (A transposed) or N % 4
    // (B not transposed) along the contiguous axes.
    let aligned = k % 4 == 0 && (!trans_a || m % 4 == 0) && (trans_b || n % 4 == 0);
    let (shader, entry) = match (gpu.variant(), aligned, trans_a, trans_b) {
        (Variant::WorkgroupTiled, ..) => (&SHADER, "matmul_tiled"),
        (Variant::RegisterBlocked, false, ..) => (&SHADER, "matmul_rb"),
        // 32 rows x 8 columns a lane with A shared across 8-lane subgroups: 2.7x the plain vec4
        // kernel on lavapipe (load cost dominates there; see the shader's header).
        (Variant::RegisterBlocked, true, false, false) if gpu.subgroups8() => (&SG32, "mm32_nn"),
        (Variant::RegisterBlocked, true, true, false) if gpu.subgroups8() => (&SG32, "mm32_tn"),
        (Variant::RegisterBlocked, true, false, true) if gpu.subgroups8() => (&SG32, "mm32_nt"),
        (Variant::RegisterBlocked, true, true, true) if gpu.subgroups8() => (&SG32, "mm32_tt"),
        (Variant::RegisterBlocked, true, false, false) => (&VEC4, "mm4_nn"),
        (Variant::RegisterBlocked, true, true, false) => (&VEC4, "mm4_tn"),
        (Variant::RegisterBlocked, true, false, true) => (&VEC4, "mm4_nt"),
        (Variant::RegisterBlocked, true, true, true) => (&VEC4, "mm4_tt"),
    };
    let groups = if std::ptr::eq(shader, &SG32) {
        let s = params.sg_rows as usize;
        [n.div_ceil(512 / s) as u32, m.div_ceil(32 * s) as u32, batch as u32]
    } else {
        [n.div_ceil(BLOCK) as u32, m.div_ceil(BLOCK) as u32, batch as u32]
    };
    gpu.dispatch(OP, shader, entry, &params, &[Arg::R(a), Arg::R(b), Arg::W(&c)], groups)?;
    Ok(c)
}

/// CPU reference (i-k-j loop with f64 row accumulators, so it is both vectorisable and more
/// accurate than the f32 kernels it checks).
pub mod cpu {
    /// C[M,N] = op(A) op(B), operands stored as in [`super::matmul`].
    pub fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, trans_a: bool, trans_b: bool) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        let mut row = vec![0.0f64; n];
        for i in 0..m {
            row.iter_mut().for_each(|v| *v = 0.0);
            for kk in 0..k {
                let av = if trans_a { a[kk * m + i] } else { a[i * k + kk] } as f64;
                if trans_b {
                    for (j, r) in row.iter_mut().enumerate() {
                        *r += av * b[j * k + kk] as f64;
                    }
                } else {
                    let brow = &b[kk * n..(kk + 1) * n];
                    for (r, bv) in row.iter_mut().zip(brow) {
                        *r += av * *bv as f64;
                    }
                }
            }
            for (cv, r) in c[i * n..(i + 1) * n].iter_mut().zip(&row) {
                *cv = *r as f32;
            }
        }
        c
    }
}
