//! Criterion bench of detector inference: ms per 512x512 image (backbone, RPN, proposals, RoI head,
//! NMS; one image a batch) for the paper's full-width VGG-16 and the small-CPU preset. There is no
//! CPU reference of a whole detector; the per-kernel CPU comparisons are in the kernels bench.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use deeplesion::detector::{Config, Network};
use deeplesion::{Gpu, GpuOptions};

fn detector(c: &mut Criterion) {
    let gpu =
        Gpu::new(GpuOptions::default()).expect("benches need an adapter (run `make test` once to install lavapipe)");
    // Under `cargo test` criterion runs each bench once as a smoke test (no `--bench` argument):
    // skip the full-width preset there, a 512x512 VGG-16 pass takes seconds on lavapipe.
    let smoke_test = !std::env::args().any(|a| a == "--bench");
    let only_small = smoke_test || std::env::var("DEEPLESION_BENCH_SMALL_ONLY").is_ok_and(|v| v == "1");
    let mut presets = vec![("small-cpu", Config::small_cpu())];
    if !only_small {
        presets.push(("paper", Config::paper()));
    }
    for (name, mut cfg) in presets {
        cfg.data.image_size = 512;
        let net = Network::new(&gpu, &cfg, 1).expect("network");
        let data: Vec<f32> = (0..3 * 512 * 512usize).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let images = gpu.upload(&[1, 3, 512, 512], &data).expect("upload");
        let mut group = c.benchmark_group(format!("detect 512x512 {name}"));
        group.measurement_time(Duration::from_secs(3)).sample_size(10).warm_up_time(Duration::from_secs(1));
        group.bench_function("gpu", |b| b.iter(|| net.detect(&gpu, &images).expect("detect")));
        group.finish();
    }
}

criterion_group!(benches, detector);
criterion_main!(benches);
