//! Seeded random initialisers (uniform, normal, Kaiming, Xavier) generated on the GPU: launcher and CPU reference.
//!
//! Why on the GPU with a counter-based hash rather than ChaCha8 on the host and an upload: element
//! i's value depends only on (seed, i), so a tensor of any size is made by one dispatch with no
//! host-to-device copy, and the CPU reference reproduces it exactly. Uniform values are
//! bit-identical on every adapter (integer hash, 24-bit mantissa, one multiply-add); normal values
//! go through `log`/`cos` (Box-Muller), whose last bits may differ between adapters, so they agree
//! with the CPU reference to within a few ulps, not bit for bit.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

static SHADER: Shader = shader!("init");

/// Mirrors `Params` in shaders/init.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct InitParams {
    pub n: u32,
    pub key: u32,
    pub kind: u32,
    pub scale: f32,
}

/// A distribution to fill a tensor with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Uniform in [-bound, bound).
    Uniform { bound: f32 },
    /// Normal with mean 0.
    Normal { std: f32 },
    /// He et al.: normal with std sqrt(2 / fan_in) (for layers followed by ReLU).
    KaimingNormal,
    /// Glorot & Bengio: uniform with bound sqrt(6 / (fan_in + fan_out)).
    XavierUniform,
}

/// (fan_in, fan_out) of a weight: `[out, in]` for linear layers, `[out, in, kh, kw]` for convolutions.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (*n, *n),
        [o, i, rest @ ..] => {
            let k: usize = rest.iter().product();
            (i * k, o * k)
        }
    }
}

/// The PCG hash shared with shaders/init.wgsl.
pub fn pcg(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// The 32-bit key of a 64-bit seed.
pub fn key(seed: u64) -> u32 {
    pcg(seed as u32 ^ pcg((seed >> 32) as u32))
}

/// (kind, scale) for the shader.
fn kind_scale(op: &str, init: Init, shape: &[usize]) -> Result<(u32, f32)> {
    let (fan_in, fan_out) = fans(shape);
    let (kind, scale) = match init {
        Init::Uniform { bound } => (0, bound),
        Init::Normal { std } => (1, std),
        Init::KaimingNormal => (1, (2.0 / fan_in.max(1) as f64).sqrt() as f32),
        Init::XavierUniform => (0, (6.0 / (fan_in + fan_out).max(1) as f64).sqrt() as f32),
    };
    if !(scale.is_finite() && scale >= 0.0) {
        return Err(Error::invalid(op, format!("{init:?} gives scale {scale}")));
    }
    Ok((kind, scale))
}

/// Fills `t` (F32) in stream order with values drawn from `init`, keyed by `seed`.
pub fn fill(gpu: &Gpu, t: &Tensor, init: Init, seed: u64) -> Result<()> {
    let op = "init";
    if t.dtype() != DType::F32 {
        return Err(Error::invalid(op, "only F32 tensors can be initialised"));
    }
    if t.numel() >= (1 << 31) {
        return Err(Error::invalid(op, "tensor too large for the 32-bit counter"));
    }
    let (kind, scale) = kind_scale(op, init, t.shape())?;
    let params = InitParams { n: t.numel() as u32, key: key(seed), kind, scale };
    gpu.dispatch(op, &SHADER, "init", &params, &[Arg::W(t)], grid_1d(t.numel(), 256))
}

/// A new tensor of `shape` drawn from `init`.
pub fn random(gpu: &Gpu, shape: &[usize], init: Init, seed: u64) -> Result<Tensor> {
    let t = gpu.empty("init", shape, DType::F32)?;
    fill(gpu, &t, init, seed)?;
    Ok(t)
}

/// CPU reference: the same values as the shader.
pub mod cpu {
    use super::{key, kind_scale, pcg, Init};

    fn uniform01(counter: u32, key: u32) -> f32 {
        (pcg(pcg(counter) ^ key) >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    pub fn random(shape: &[usize], init: Init, seed: u64) -> Vec<f32> {
        let n: usize = shape.iter().product();
        let (kind, scale) = kind_scale("init", init, shape).expect("valid init");
        let k = key(seed);
        (0..n as u32)
            .map(|i| {
                let u1 = uniform01(2 * i, k);
                if kind == 0 {
                    return scale * (2.0 * u1 - 1.0);
                }
                let u2 = uniform01(2 * i + 1, k);
                let r = (-2.0 * (1.0 - u1).ln()).sqrt();
                scale * r * (std::f32::consts::TAU * u2).cos()
            })
            .collect()
    }
}
