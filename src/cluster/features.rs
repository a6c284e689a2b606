//! Deep lesion features: a small VGG-like CNN (the detector's backbone family) whose last conv block is
//! average-pooled (globally or on a grid) and normalised (per-dimension standardisation by default, or L2),
//! trainable as a classifier on pseudo labels.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::normalize;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::{Conv2d, Linear, MaxPool2d, Module, ParamStore, ReLU, Sequential, Sgd, Tape, Var};
use crate::ops::init::Init;

/// Network shape and training settings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FeatureConfig {
    /// Channels of the first block; block b has `width * 2^min(b, 2)` (VGG doubling, capped at 4x).
    pub width: usize,
    /// Conv blocks; every block but the last ends with a 2x2 max-pool.
    pub blocks: usize,
    /// 3x3 convs per block (VGG-16 uses 2-3; 1 keeps CPU runs short).
    pub convs_per_block: usize,
    /// Patches per forward pass.
    pub batch: usize,
    /// SGD settings for the pseudo-label classifier.
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    /// Weight seed (round 0 uses these random weights unless ImageNet-style weights are loaded).
    pub seed: u64,
    /// Spatial pooling of the last block: `cells x cells` average-pooled regions (1 = global average
    /// pooling, the layout; 2 keeps where in the patch a response is: lesion vs context).
    pub pool_cells: usize,
    /// How feature vectors are normalised before k-means. Default `Standardize`: L2 discards the
    /// response magnitude, which for a ReLU network with zero biases (round 0) is the patch's
    /// brightness level, the main cue separating coarse types (see README "Why deep features").
    pub norm: FeatureNorm,
}

/// Normalisation of the pooled features before clustering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FeatureNorm {
    /// Each vector divided by its L2 norm (cosine geometry; drops the response magnitude).
    L2,
    /// Each dimension shifted and scaled to zero mean and unit variance over the lesions (keeps
    /// magnitude; no dimension dominates by its scale).
    Standardize,
    /// Pooled values as they are.
    None,
}

impl std::str::FromStr for FeatureNorm {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "l2" => Ok(FeatureNorm::L2),
            "standardize" | "zscore" => Ok(FeatureNorm::Standardize),
            "none" => Ok(FeatureNorm::None),
            _ => Err(format!("feature norm '{s}': expected l2, standardize or none")),
        }
    }
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            width: 8,
            blocks: 4,
            convs_per_block: 1,
            batch: 32,
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 5e-4,
            seed: 0,
            pool_cells: 1,
            norm: FeatureNorm::Standardize,
        }
    }
}

/// The feature CNN with its parameter store, optimiser and the current classifier head.
pub struct FeatureNet {
    pub store: ParamStore,
    body: Sequential,
    pub feat_dim: usize,
    /// Side of the last block's maps for the input size.
    pub last_side: usize,
    pub channels: usize,
    pub size: usize,
    cfg: FeatureConfig,
    opt: Sgd,
    head: Option<Linear>,
    heads: usize,
}

impl FeatureNet {
    /// A randomly initialised network for `channels x size x size` patches.
    pub fn new(gpu: &Gpu, cfg: &FeatureConfig, channels: usize, size: usize) -> Result<FeatureNet> {
        if cfg.width == 0 || cfg.blocks == 0 || cfg.convs_per_block == 0 || cfg.batch == 0 || cfg.pool_cells == 0 {
            return Err(Error::invalid(
                "features",
                "width, blocks, convs_per_block, batch and pool_cells must be positive",
            ));
        }
        let pools = cfg.blocks - 1;
        if size >> pools == 0 || !size.is_multiple_of(1 << pools) {
            return Err(Error::invalid(
                "features",
                format!("patch size {size} is not divisible by 2^{pools} ({} blocks)", cfg.blocks),
            ));
        }
        let mut store = ParamStore::new(cfg.seed);
        let mut body = Sequential::new();
        let mut cin = channels;
        for b in 0..cfg.blocks {
            let cout = cfg.width << b.min(2);
            for c in 0..cfg.convs_per_block {
                body = body.add(Conv2d::new(gpu, &mut store, &format!("conv{}_{}", b + 1, c + 1), cin, cout, 3, 1, 1)?);
                body = body.add(ReLU);
                cin = cout;
            }
            if b + 1 < cfg.blocks {
                body = body.add(MaxPool2d { kernel: 2, stride: 2, pad: 0 });
            }
        }
        let last_side = size >> pools;
        if cfg.pool_cells > last_side || !last_side.is_multiple_of(cfg.pool_cells) {
            return Err(Error::invalid(
                "features",
                format!("pool_cells {} does not divide the last block's {last_side}x{last_side} maps", cfg.pool_cells),
            ));
        }
        Ok(FeatureNet {
            store,
            body,
            feat_dim: cin * cfg.pool_cells * cfg.pool_cells,
            last_side: size >> pools,
            channels,
            size,
            opt: Sgd::new(cfg.lr, cfg.momentum, cfg.weight_decay),
            cfg: cfg.clone(),
            head: None,
            heads: 0,
        })
    }

    /// Loads weights by parameter name from a safetensors file (f32, same shapes; e.g. converted
    /// ImageNet VGG weights renamed to `conv1_1.weight` ...). Returns how many tensors were loaded.
    pub fn load_safetensors(&mut self, gpu: &Gpu, path: &std::path::Path) -> Result<usize> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::Format { path: path.into(), message: e.to_string() })?;
        let mut loaded = 0;
        for (name, view) in st.tensors() {
            if self.store.id(&name).is_none() || name.starts_with("head") {
                continue;
            }
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(Error::Format { path: path.into(), message: format!("{name}: only f32 is supported") });
            }
            let data: Vec<f32> =
                view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            self.store.load(gpu, &name, Some(view.shape()), &data)?;
            loaded += 1;
        }
        Ok(loaded)
    }

    /// Average pooling of `[N, C, H, W]` over `cells x cells` regions to `[N, C * cells^2]` (channel
    /// major), as a matmul with a constant `[HW, cells^2]` matrix of 1/(region area) entries;
    /// `cells = 1` is global average pooling (differentiable through the tape's matmul).
    fn pool(&self, tape: &Tape, x: &Var) -> Result<Var> {
        let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let g = self.cfg.pool_cells;
        let flat = tape.reshape(x, &[n * c, h * w])?;
        let m = pool_matrix(h, w, g);
        let pm = tape.gpu().upload(&[h * w, g * g], &m)?;
        let pooled = tape.matmul(&flat, &tape.input(&pm), false, false)?;
        tape.reshape(&pooled, &[n, c * g * g])
    }

    fn batch_input(&self, gpu: &Gpu, patches: &[f32], idx: &[usize]) -> Result<crate::tensor::Tensor> {
        let per = self.channels * self.size * self.size;
        let mut host = Vec::with_capacity(idx.len() * per);
        for &i in idx {
            // Centre [0, 1] intensities on 0 so the first ReLU layer sees both signs.
            host.extend(patches[i * per..(i + 1) * per].iter().map(|v| 2.0 * v - 1.0));
        }
        gpu.upload(&[idx.len(), self.channels, self.size, self.size], &host)
    }

    /// Pooled features of every patch, L2-normalised per row when `norm` is L2 (standardisation needs
    /// all rows: `normalize::standardize` after this) (`n x feat_dim`, row-major).
    pub fn extract(&self, gpu: &Gpu, patches: &[f32], progress: &dyn Fn(usize)) -> Result<Vec<f32>> {
        let per = self.channels * self.size * self.size;
        let n = patches.len() / per;
        let mut out = Vec::with_capacity(n * self.feat_dim);
        let all: Vec<usize> = (0..n).collect();
        for chunk in all.chunks(self.cfg.batch) {
            let feats = {
                // Inference only: a no-grad tape keeps no backward closures or saved activations.
                let tape = Tape::no_grad(gpu);
                let x = tape.input(&self.batch_input(gpu, patches, chunk)?);
                let h = self.body.forward(&tape, &self.store, &x)?;
                let f = self.pool(&tape, &h)?;
                match self.cfg.norm {
                    FeatureNorm::L2 => normalize::l2_rows(gpu, f.value())?,
                    _ => f.value().clone(),
                }
            };
            out.extend(feats.to_vec(gpu)?);
            progress(chunk.len());
        }
        Ok(out)
    }

    /// CPU reference of `extract` (f64, weights read back from the GPU): the same convs, ReLUs,
    /// max-pools, region pooling and (for `FeatureNorm::L2`) row normalisation.
    pub fn cpu_extract(&self, gpu: &Gpu, patches: &[f32]) -> Result<Vec<f32>> {
        use crate::ops::conv2d::{cpu as conv, Conv2dParams};
        use crate::ops::maxpool::{cpu as pool, MaxPool2dParams};
        let per = self.channels * self.size * self.size;
        let n = patches.len() / per;
        let mut x: Vec<f64> = patches.iter().map(|&v| 2.0 * v as f64 - 1.0).collect();
        let (mut c, mut side) = (self.channels, self.size);
        for b in 0..self.cfg.blocks {
            for j in 0..self.cfg.convs_per_block {
                let get = |what: &str| -> Result<Vec<f64>> {
                    let name = format!("conv{}_{}.{what}", b + 1, j + 1);
                    let id = self.store.id(&name).ok_or_else(|| Error::invalid("features", format!("no {name}")))?;
                    Ok(self.store.get(id).value.to_vec(gpu)?.iter().map(|&v| v as f64).collect())
                };
                let (w, bias) = (get("weight")?, get("bias")?);
                let cout = bias.len();
                x = conv::forward(
                    &x,
                    [n, c, side, side],
                    &w,
                    [cout, c, 3, 3],
                    Some(&bias),
                    Conv2dParams { stride: 1, pad: 1 },
                );
                x.iter_mut().for_each(|v| *v = v.max(0.0));
                c = cout;
            }
            if b + 1 < self.cfg.blocks {
                x = pool::forward(&x, [n, c, side, side], MaxPool2dParams { kernel: 2, stride: 2, pad: 0 }).0;
                side /= 2;
            }
        }
        let g = self.cfg.pool_cells;
        let m = pool_matrix(side, side, g);
        let mut out = Vec::with_capacity(n * self.feat_dim);
        for i in 0..n {
            let mut row = vec![0.0f64; c * g * g];
            for ch in 0..c {
                let plane = &x[(i * c + ch) * side * side..(i * c + ch + 1) * side * side];
                for (p, v) in plane.iter().enumerate() {
                    for r in 0..g * g {
                        row[ch * g * g + r] += v * m[p * g * g + r] as f64;
                    }
                }
            }
            if self.cfg.norm == FeatureNorm::L2 {
                let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt().max(normalize::EPS as f64);
                row.iter_mut().for_each(|v| *v /= norm);
            }
            out.extend(row.iter().map(|&v| v as f32));
        }
        Ok(out)
    }

    /// Trains body + a fresh linear head (`feat_dim -> k`) on `labels` for `epochs` epochs of
    /// shuffled mini-batches (seeded); returns the mean loss of each epoch.
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        &mut self,
        gpu: &Gpu,
        patches: &[f32],
        labels: &[u32],
        k: usize,
        epochs: usize,
        seed: u64,
        progress: &dyn Fn(usize),
    ) -> Result<Vec<f32>> {
        let per = self.channels * self.size * self.size;
        let n = patches.len() / per;
        if labels.len() != n || labels.iter().any(|&l| l as usize >= k) {
            return Err(Error::invalid("features_train", format!("{} labels in 0..{k} for {n} patches", labels.len())));
        }
        self.heads += 1;
        let name = format!("head{}", self.heads);
        self.head = Some(Linear::with_init(gpu, &mut self.store, &name, self.feat_dim, k, Init::Normal { std: 0.01 })?);
        let head = self.head.clone().expect("just set");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..n).collect();
        let mut epoch_losses = Vec::with_capacity(epochs);
        for _ in 0..epochs {
            order.shuffle(&mut rng);
            let (mut sum, mut count) = (0.0f64, 0usize);
            for chunk in order.chunks(self.cfg.batch) {
                let loss = {
                    let tape = Tape::new(gpu);
                    let x = tape.input(&self.batch_input(gpu, patches, chunk)?);
                    let y: Vec<u32> = chunk.iter().map(|&i| labels[i]).collect();
                    let yt = gpu.upload_u32(&[chunk.len()], &y)?;
                    let h = self.body.forward(&tape, &self.store, &x)?;
                    let f = self.pool(&tape, &h)?;
                    let logits = head.forward(&tape, &self.store, &f)?;
                    let loss = tape.softmax_ce(&logits, &yt, None, None)?;
                    let grads = tape.backward(&loss)?;
                    self.opt.step(gpu, &self.store, &grads)?;
                    loss.value().clone()
                };
                let l = loss.to_vec(gpu)?[0];
                if !l.is_finite() {
                    return Err(Error::Training(format!("pseudo-label classifier loss became {l}")));
                }
                sum += l as f64 * chunk.len() as f64;
                count += chunk.len();
                progress(chunk.len());
            }
            epoch_losses.push((sum / count.max(1) as f64) as f32);
        }
        Ok(epoch_losses)
    }
}

/// `[h*w, cells^2]` pooling weights: pixel (y, x) belongs to region (y / (h/cells), x / (w/cells)).
pub fn pool_matrix(h: usize, w: usize, cells: usize) -> Vec<f32> {
    let (rh, rw) = (h / cells, w / cells);
    let inv = 1.0 / (rh * rw) as f32;
    let mut m = vec![0.0f32; h * w * cells * cells];
    for y in 0..h {
        for x in 0..w {
            let r = (y / rh).min(cells - 1) * cells + (x / rw).min(cells - 1);
            m[(y * w + x) * cells * cells + r] = inv;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_matrix_averages_each_region_once() {
        // 4x4 map, 2x2 cells: each pixel feeds exactly one region with weight 1/4.
        let m = pool_matrix(4, 4, 2);
        for p in 0..16 {
            let row = &m[p * 4..(p + 1) * 4];
            assert_eq!(row.iter().filter(|&&v| v == 0.25).count(), 1, "pixel {p}: {row:?}");
            let (y, x) = (p / 4, p % 4);
            assert_eq!(row[(y / 2) * 2 + x / 2], 0.25);
        }
        assert_eq!(pool_matrix(3, 3, 1), vec![1.0 / 9.0; 9]);
    }

    #[test]
    fn feature_norm_parses_its_names() {
        assert_eq!("standardize".parse::<FeatureNorm>(), Ok(FeatureNorm::Standardize));
        assert_eq!("l2".parse::<FeatureNorm>(), Ok(FeatureNorm::L2));
        assert_eq!("none".parse::<FeatureNorm>(), Ok(FeatureNorm::None));
        assert!("cosine".parse::<FeatureNorm>().unwrap_err().contains("standardize"));
    }
}
