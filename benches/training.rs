//! Criterion bench of one training step of the tiny CNN (forward, backward, SGD, loss readback),
//! then a 10-step loop reporting steps/s and submits, readbacks, dispatches and new buffers per step.
//! There is no CPU reference of a whole training step; the kernels it is made of are compared with
//! their CPU references in the `kernels` bench.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use deeplesion::nn::smoke::{self, TinyCnn};
use deeplesion::{Gpu, GpuOptions};
use rand::SeedableRng;

fn step(gpu: &Gpu, net: &mut TinyCnn, rng: &mut rand_chacha::ChaCha8Rng) -> f32 {
    let (img, lab) = smoke::batch(rng);
    let loss = {
        let images = gpu.upload(&[smoke::BATCH, 1, smoke::SIDE, smoke::SIDE], &img).expect("upload");
        let labels = gpu.upload_u32(&[smoke::BATCH], &lab).expect("upload");
        net.step(gpu, &images, &labels).expect("step")
    };
    loss.to_vec(gpu).expect("readback")[0]
}

fn training(c: &mut Criterion) {
    let gpu =
        Gpu::new(GpuOptions::default()).expect("benches need an adapter (run `make test` once to install lavapipe)");
    let mut net = TinyCnn::new(&gpu, 1).expect("net");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut group =
        c.benchmark_group(format!("train_step tiny_cnn batch {} {}x{}", smoke::BATCH, smoke::SIDE, smoke::SIDE));
    group.measurement_time(Duration::from_secs(3)).sample_size(10).warm_up_time(Duration::from_secs(1));
    group.bench_function("gpu", |b| b.iter(|| step(&gpu, &mut net, &mut rng)));
    group.finish();

    let s0 = gpu.stats();
    let t0 = Instant::now();
    for _ in 0..10 {
        step(&gpu, &mut net, &mut rng);
    }
    let secs = t0.elapsed().as_secs_f64();
    let s1 = gpu.stats();
    println!(
        "10-step loop on {}: {:.1} steps/s; per step: {} submits, {} readbacks, {} dispatches, {} new buffers",
        gpu.info.name,
        10.0 / secs,
        (s1.submits - s0.submits) as f64 / 10.0,
        (s1.readbacks - s0.readbacks) as f64 / 10.0,
        (s1.dispatches - s0.dispatches) as f64 / 10.0,
        (s1.buffers_created - s0.buffers_created) as f64 / 10.0,
    );
}

criterion_group!(benches, training);
criterion_main!(benches);
