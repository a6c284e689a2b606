//! A tiny CNN trained on generated bright-square vs dark-square images: the engine's end-to-end smoke test (demo, bench, tests).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Conv2d, Flatten, Linear, MaxPool2d, Module, ParamStore, ReLU, Sequential, Sgd};
use crate::autograd::Tape;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::init::Init;
use crate::tensor::Tensor;

/// Images are `SIDE` x `SIDE`, one channel.
pub const SIDE: usize = 16;
/// Images per step.
pub const BATCH: usize = 16;

/// A batch of `BATCH` images `[BATCH, 1, SIDE, SIDE]` and labels: noise in [-0.3, 0.3) with a 5x5
/// square at a random place, +1 bright (label 1) or -1 dark (label 0).
pub fn batch(rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<u32>) {
    let mut img = vec![0.0f32; BATCH * SIDE * SIDE];
    let mut labels = Vec::with_capacity(BATCH);
    for b in 0..BATCH {
        let im = &mut img[b * SIDE * SIDE..(b + 1) * SIDE * SIDE];
        for v in im.iter_mut() {
            *v = rng.gen_range(-0.3f32..0.3);
        }
        let label: u32 = rng.gen_range(0..2);
        let (y0, x0) = (rng.gen_range(0..SIDE - 5), rng.gen_range(0..SIDE - 5));
        for y in y0..y0 + 5 {
            for x in x0..x0 + 5 {
                im[y * SIDE + x] = if label == 1 { 1.0 } else { -1.0 };
            }
        }
        labels.push(label);
    }
    (img, labels)
}

/// conv(1->8, 3x3) relu pool2, conv(8->16, 3x3) relu pool2, flatten, linear(256->2), with SGD.
pub struct TinyCnn {
    pub store: ParamStore,
    pub model: Sequential,
    pub opt: Sgd,
}

impl TinyCnn {
    /// The network with parameters seeded by `seed`; SGD lr 0.05, momentum 0.9, weight decay 5e-4.
    pub fn new(gpu: &Gpu, seed: u64) -> Result<TinyCnn> {
        let mut store = ParamStore::new(seed);
        let model = Sequential::new()
            .add(Conv2d::new(gpu, &mut store, "conv1", 1, 8, 3, 1, 1)?)
            .add(ReLU)
            .add(MaxPool2d::new(2, 2))
            .add(Conv2d::new(gpu, &mut store, "conv2", 8, 16, 3, 1, 1)?)
            .add(ReLU)
            .add(MaxPool2d::new(2, 2))
            .add(Flatten)
            .add(Linear::with_init(gpu, &mut store, "fc", 16 * (SIDE / 4) * (SIDE / 4), 2, Init::XavierUniform)?);
        Ok(TinyCnn { store, model, opt: Sgd::new(0.05, 0.9, 5e-4) })
    }

    /// One training step recorded into the pending encoder (forward, backward, update); returns
    /// the loss tensor `[1]` unread. Every other buffer of the step is dropped before returning,
    /// so the caller's readback submits the step and returns them to the pool.
    pub fn step(&mut self, gpu: &Gpu, images: &Tensor, labels: &Tensor) -> Result<Tensor> {
        let tape = Tape::new(gpu);
        let x = tape.input(images);
        let logits = self.model.forward(&tape, &self.store, &x)?;
        let loss = tape.softmax_ce(&logits, labels, None, None)?;
        let grads = tape.backward(&loss)?;
        self.opt.step(gpu, &self.store, &grads)?;
        Ok(loss.value().clone())
    }
}

/// Trains [`TinyCnn`] for `steps` steps on fresh generated batches (data and weights seeded by
/// `seed`) and returns the loss of every step; `progress(step, loss)` is called after each. One
/// submit and one readback (the loss) per step.
pub fn train_tiny_cnn(gpu: &Gpu, steps: usize, seed: u64, progress: &mut dyn FnMut(usize, f32)) -> Result<Vec<f32>> {
    let mut net = TinyCnn::new(gpu, seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_da7a);
    let mut losses = Vec::with_capacity(steps);
    for s in 0..steps {
        let (img, lab) = batch(&mut rng);
        let loss = {
            let images = gpu.upload(&[BATCH, 1, SIDE, SIDE], &img)?;
            let labels = gpu.upload_u32(&[BATCH], &lab)?;
            net.step(gpu, &images, &labels)?
        };
        let l = loss.to_vec(gpu)?[0];
        if !l.is_finite() {
            return Err(Error::Training(format!("loss became {l} at step {s}")));
        }
        progress(s, l);
        losses.push(l);
    }
    Ok(losses)
}
