//! Criterion benches of clustering: one k-means iteration (assign + update) on 32,768 x 512 features
//! for k = 8 and 64 on the GPU engine beside the CPU reference, and feature extraction patches/s beside
//! its f64 CPU reference. `cargo bench --bench cluster --profile dev` (a few minutes on 2 cores).

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
        // The assignment alone (distance + argmin kernel, one submit, labels and distances read back).
        g.bench_with_input(BenchmarkId::new("gpu_assign_only", k), &k, |b, _| {
            b.iter(|| step.assign().expect("assign"))
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

/// Patches per timed extraction.
const PATCHES: usize = 128;

fn feature_extraction(c: &mut Criterion) {
    use deeplesion::cluster::features::{FeatureConfig, FeatureNet};
    let gpu = Gpu::new(GpuOptions::default()).expect("an adapter");
    let cfg = FeatureConfig::default();
    let net = FeatureNet::new(&gpu, &cfg, 3, 64).expect("net");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let px: Vec<f32> = (0..PATCHES * 3 * 64 * 64).map(|_| rng.gen_range(0.0f32..1.0)).collect();
    let mut g = c.benchmark_group(format!("feature_extraction_{PATCHES}x3x64x64_width{}", cfg.width));
    g.measurement_time(Duration::from_secs(3)).sample_size(10).throughput(Throughput::Elements(PATCHES as u64));
    // extract() reads each batch's features back, so every timed call ends synchronised.
    g.bench_function("gpu", |b| b.iter(|| net.extract(&gpu, &px, &|_| {}).expect("extract")));
    g.bench_function("cpu_reference", |b| b.iter(|| net.cpu_extract(&gpu, &px).expect("cpu")));
    g.finish();
}

criterion_group!(benches, kmeans_iteration, feature_extraction);
criterion_main!(benches);
