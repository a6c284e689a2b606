//! Criterion benches of clustering: one k-means iteration (assign + update) on 32,768 x 512 features
//! for k = 8 and 64 on the GPU engine beside the CPU reference, and feature extraction patches/s.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use deeplesion::cluster::kmeans::{cpu, GpuLloyd, GpuPoints, Groups, LloydStep};
use deeplesion::{Gpu, GpuOptions};
use rand::{Rng, SeedableRng};

const N: usize = 32_768;
const D: usize = 512;

fn kmeans_iteration(c: &mut Criterion) {
    let gpu = Gpu::new(GpuOptions::default()).expect("an adapter");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let data: Vec<f32> = (0..N * D).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let pts = GpuPoints::upload(&gpu, &data, N, D).expect("upload");
    let mut g = c.benchmark_group("kmeans_iteration_32768x512");
    g.measurement_time(Duration::from_secs(3)).sample_size(10).throughput(Throughput::Elements(N as u64));
    for k in [8usize, 64] {
        let init: Vec<f32> = data[..k * D].to_vec();
        let mut step = GpuLloyd::new(&gpu, &pts, &init, k).expect("init");
        g.bench_with_input(BenchmarkId::new("gpu", k), &k, |b, &k| {
            b.iter(|| {
                // One iteration as the loop runs it: assign (one readback), group on the host, update.
                let (labels, dists) = step.assign().expect("assign");
                step.update(&Groups::from_labels(&labels, &dists, k)).expect("update");
                gpu.sync().expect("sync");
            })
        });
        let mut cen = init.clone();
        g.bench_with_input(BenchmarkId::new("cpu_reference", k), &k, |b, &k| {
            b.iter(|| {
                let (labels, dists) = cpu::assign(&data, D, &cen);
                cpu::update(&data, D, &mut cen, &Groups::from_labels(&labels, &dists, k));
            })
        });
    }
    g.finish();
}

criterion_group!(benches, kmeans_iteration);
criterion_main!(benches);
