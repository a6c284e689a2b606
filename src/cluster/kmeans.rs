//! k-means on the GPU (distance + argmin kernel, deterministic per-cluster update) and its CPU reference.

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

pub use super::lloyd::{kmeans_pp, lloyd, validate, Groups, KMeansConfig, KMeansResult, LloydStep, Stop};

static NORMS: Shader = shader!("kmeans_norms");
static ASSIGN: Shader = shader!("kmeans_assign");
static UPDATE: Shader = shader!("kmeans_update");

/// Mirrors `Params` in shaders/kmeans_*.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    k: u32,
    d4: u32,
    _pad: u32,
}

/// Rows padded with zeros to a multiple of 4 columns (so kernels load vec4s; zeros change no distance).
fn pad_rows(data: &[f32], n: usize, d: usize) -> (Vec<f32>, usize) {
    let d4 = d.div_ceil(4);
    if d4 * 4 == d {
        return (data.to_vec(), d4);
    }
    let mut out = vec![0.0f32; n * d4 * 4];
    for i in 0..n {
        out[i * d4 * 4..i * d4 * 4 + d].copy_from_slice(&data[i * d..(i + 1) * d]);
    }
    (out, d4)
}

/// Points uploaded once (padded) with their squared norms; shared by restarts and rounds.
pub struct GpuPoints {
    pub x: Tensor,
    pub xn: Tensor,
    pub n: usize,
    pub d: usize,
    d4: usize,
}

impl GpuPoints {
    /// Checks (finite values, shape) and uploads `n x d` row-major points.
    pub fn upload(gpu: &Gpu, data: &[f32], n: usize, d: usize) -> Result<GpuPoints> {
        validate(data, n, d, 1)?;
        let (padded, d4) = pad_rows(data, n, d);
        let x = gpu.upload(&[n, d4 * 4], &padded)?;
        let xn = sq_norms(gpu, &x, n, d4)?;
        Ok(GpuPoints { x, xn, n, d, d4 })
    }
}

fn params(n: usize, k: usize, d4: usize) -> Params {
    Params { n: n as u32, k: k as u32, d4: d4 as u32, _pad: 0 }
}

fn sq_norms(gpu: &Gpu, rows: &Tensor, n: usize, d4: usize) -> Result<Tensor> {
    let out = gpu.empty("kmeans_norms", &[n], DType::F32)?;
    gpu.dispatch("kmeans_norms", &NORMS, "sq_norms", &params(n, 0, d4), &[Arg::R(rows), Arg::W(&out)], grid_1d(n, 64))?;
    Ok(out)
}

/// The GPU engine: centroids live on the device; each assignment is one submit and one readback of
/// labels and distances together.
pub struct GpuLloyd<'a> {
    gpu: &'a Gpu,
    pts: &'a GpuPoints,
    k: usize,
    cen: Tensor,
}

impl<'a> GpuLloyd<'a> {
    /// Starts from `init` (k x d).
    pub fn new(gpu: &'a Gpu, pts: &'a GpuPoints, init: &[f32], k: usize) -> Result<GpuLloyd<'a>> {
        if k == 0 || init.len() != k * pts.d {
            return Err(Error::shape("kmeans", format!("{} initial values for k = {k}, d = {}", init.len(), pts.d)));
        }
        validate(init, k, pts.d, 1)?;
        if k > pts.n {
            return Err(Error::invalid("kmeans", format!("k = {k} is larger than the number of points ({})", pts.n)));
        }
        let (padded, _) = pad_rows(init, k, pts.d);
        let cen = gpu.upload(&[k, pts.d4 * 4], &padded)?;
        Ok(GpuLloyd { gpu, pts, k, cen })
    }

    /// Records the assignment without reading it back: `[2n]` u32, label then distance bits per point.
    pub fn record_assign(&self) -> Result<Tensor> {
        let (n, k, d4) = (self.pts.n, self.k, self.pts.d4);
        let cn = sq_norms(self.gpu, &self.cen, k, d4)?;
        let out = self.gpu.empty("kmeans_assign", &[2 * n], DType::U32)?;
        self.gpu.dispatch(
            "kmeans_assign",
            &ASSIGN,
            "assign",
            &params(n, k, d4),
            &[Arg::R(&self.pts.x), Arg::R(&self.pts.xn), Arg::R(&self.cen), Arg::R(&cn), Arg::W(&out)],
            grid_1d(n.div_ceil(4), 64),
        )?;
        Ok(out)
    }
}

impl LloydStep for GpuLloyd<'_> {
    fn assign(&mut self) -> Result<(Vec<u32>, Vec<f32>)> {
        let raw = self.record_assign()?.to_vec_u32(self.gpu)?;
        let labels = raw.iter().step_by(2).copied().collect();
        let dists = raw.iter().skip(1).step_by(2).map(|&b| f32::from_bits(b)).collect();
        Ok((labels, dists))
    }

    fn update(&mut self, g: &Groups) -> Result<()> {
        let (n, k, d4) = (self.pts.n, self.k, self.pts.d4);
        if g.order.len() != n || g.offsets.len() != k + 1 || g.reseed.len() != k {
            return Err(Error::shape("kmeans_update", "groups do not match the points and k"));
        }
        let order = self.gpu.upload_u32(&[n], &g.order)?;
        let offsets = self.gpu.upload_u32(&[k + 1], &g.offsets)?;
        let reseed = self.gpu.upload_u32(&[k], &g.reseed)?;
        self.gpu.dispatch(
            "kmeans_update",
            &UPDATE,
            "update",
            &params(n, k, d4),
            &[Arg::R(&self.pts.x), Arg::R(&order), Arg::R(&offsets), Arg::R(&reseed), Arg::W(&self.cen)],
            [d4.div_ceil(64) as u32, k as u32, 1],
        )
    }

    fn centroids(&self) -> Result<Vec<f32>> {
        let raw = self.cen.to_vec(self.gpu)?;
        let (d, w) = (self.pts.d, self.pts.d4 * 4);
        Ok((0..self.k).flat_map(|c| raw[c * w..c * w + d].to_vec()).collect())
    }
}

/// k-means on the GPU with `cfg.restarts` k-means++ starts; the lowest inertia wins.
pub fn fit(gpu: &Gpu, data: &[f32], n: usize, d: usize, cfg: &KMeansConfig) -> Result<KMeansResult> {
    validate(data, n, d, cfg.k)?;
    let pts = GpuPoints::upload(gpu, data, n, d)?;
    fit_points(gpu, &pts, data, cfg)
}

/// As `fit`, on points already uploaded (`data` is their host copy, used for seeding).
pub fn fit_points<'a>(gpu: &'a Gpu, pts: &'a GpuPoints, data: &[f32], cfg: &KMeansConfig) -> Result<KMeansResult> {
    super::lloyd::restarts(data, pts.n, pts.d, cfg, &mut |init| Ok(Box::new(GpuLloyd::new(gpu, pts, init, cfg.k)?)))
}

/// One Lloyd run on the GPU from given centroids (k x d).
pub fn fit_from(gpu: &Gpu, data: &[f32], n: usize, d: usize, init: &[f32], cfg: &KMeansConfig) -> Result<KMeansResult> {
    validate(data, n, d, cfg.k)?;
    let pts = GpuPoints::upload(gpu, data, n, d)?;
    let mut step = GpuLloyd::new(gpu, &pts, init, cfg.k)?;
    lloyd(&mut step, n, cfg.k, cfg)
}

/// CPU reference: exact f64 distances, the same control loop.
pub mod cpu {
    use super::*;

    /// Nearest centroid (ties: lowest index) and squared distance, computed in f64.
    pub fn assign(data: &[f32], d: usize, centroids: &[f32]) -> (Vec<u32>, Vec<f32>) {
        let k = centroids.len() / d;
        let mut labels = Vec::with_capacity(data.len() / d);
        let mut dists = Vec::with_capacity(data.len() / d);
        for x in data.chunks_exact(d) {
            let (mut best, mut arg) = (f64::INFINITY, 0u32);
            for c in 0..k {
                let dist: f64 =
                    x.iter().zip(&centroids[c * d..(c + 1) * d]).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum();
                if dist < best {
                    best = dist;
                    arg = c as u32;
                }
            }
            labels.push(arg);
            dists.push(best as f32);
        }
        (labels, dists)
    }

    /// Means of each group in f64 (empty clusters: the re-seed row or unchanged).
    pub fn update(data: &[f32], d: usize, centroids: &mut [f32], g: &Groups) {
        let k = centroids.len() / d;
        for c in 0..k {
            let (s, e) = (g.offsets[c] as usize, g.offsets[c + 1] as usize);
            if s == e {
                if g.reseed[c] != super::super::lloyd::NONE {
                    let r = g.reseed[c] as usize;
                    centroids[c * d..(c + 1) * d].copy_from_slice(&data[r * d..(r + 1) * d]);
                }
                continue;
            }
            let mut acc = vec![0.0f64; d];
            for &i in &g.order[s..e] {
                for (a, v) in acc.iter_mut().zip(&data[i as usize * d..(i as usize + 1) * d]) {
                    *a += *v as f64;
                }
            }
            for (j, a) in acc.iter().enumerate() {
                centroids[c * d + j] = (a / (e - s) as f64) as f32;
            }
        }
    }

    /// The CPU engine.
    pub struct CpuLloyd<'a> {
        pub data: &'a [f32],
        pub d: usize,
        pub centroids: Vec<f32>,
    }

    impl LloydStep for CpuLloyd<'_> {
        fn assign(&mut self) -> Result<(Vec<u32>, Vec<f32>)> {
            Ok(assign(self.data, self.d, &self.centroids))
        }
        fn update(&mut self, g: &Groups) -> Result<()> {
            update(self.data, self.d, &mut self.centroids, g);
            Ok(())
        }
        fn centroids(&self) -> Result<Vec<f32>> {
            Ok(self.centroids.clone())
        }
    }

    /// k-means on the CPU, same seeding and restarts as the GPU `fit`.
    pub fn fit(data: &[f32], n: usize, d: usize, cfg: &KMeansConfig) -> Result<KMeansResult> {
        super::super::lloyd::restarts(data, n, d, cfg, &mut |init| {
            Ok(Box::new(CpuLloyd { data, d, centroids: init.to_vec() }))
        })
    }

    /// One Lloyd run on the CPU from given centroids.
    pub fn fit_from(data: &[f32], n: usize, d: usize, init: &[f32], cfg: &KMeansConfig) -> Result<KMeansResult> {
        validate(data, n, d, cfg.k)?;
        let mut step = CpuLloyd { data, d, centroids: init.to_vec() };
        lloyd(&mut step, n, cfg.k, cfg)
    }
}
