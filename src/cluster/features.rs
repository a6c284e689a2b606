//! Deep lesion features: a small VGG-like CNN (the detector's backbone family) whose last conv block is
//! globally average-pooled and L2-normalised, trainable as a classifier on pseudo labels.

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
        if cfg.width == 0 || cfg.blocks == 0 || cfg.convs_per_block == 0 || cfg.batch == 0 {
            return Err(Error::invalid("features", "width, blocks, convs_per_block and batch must be positive"));
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
        Ok(FeatureNet {
            store,
            body,
            feat_dim: cin,
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

    /// Global average pooling `[N, C, H, W]` to `[N, C]` as a matmul with a constant 1/(HW) column
    /// (differentiable through the tape's matmul).
    fn gap(&self, tape: &Tape, x: &Var) -> Result<Var> {
        let (n, c, hw) = (x.shape()[0], x.shape()[1], x.shape()[2] * x.shape()[3]);
        let flat = tape.reshape(x, &[n * c, hw])?;
        let ones = tape.gpu().upload(&[hw, 1], &vec![1.0 / hw as f32; hw])?;
        let pooled = tape.matmul(&flat, &tape.input(&ones), false, false)?;
        tape.reshape(&pooled, &[n, c])
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

    /// L2-normalised GAP features of every patch (`n x feat_dim`, row-major).
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
                let f = self.gap(&tape, &h)?;
                normalize::l2_rows(gpu, f.value())?
            };
            out.extend(feats.to_vec(gpu)?);
            progress(chunk.len());
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
                    let f = self.gap(&tape, &h)?;
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
