//! Criterion benches of the speed-critical kernels (matmul 1024^3, conv2d passes, max-pool) in both
//! variants, with the CPU references timed in the same run. Throughput is in elements = FLOP
//! (bytes for max-pool), so criterion's "elem/s" reads as FLOP/s.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use deeplesion::bench::{cases, Kind, Prepared};
use deeplesion::gpu::Variant;
use deeplesion::{Gpu, GpuOptions};

fn kernels(c: &mut Criterion) {
    let gpu =
        Gpu::new(GpuOptions::default()).expect("benches need an adapter (run `make test` once to install lavapipe)");
    // The CPU references of the big conv cases take seconds a run; DEEPLESION_BENCH_NO_CPU=1 skips them.
    let with_cpu = std::env::var("DEEPLESION_BENCH_NO_CPU").map_or(true, |v| v != "1");
    for kind in cases(false) {
        let (work, _) = kind.work();
        let mut group = c.benchmark_group(format!("{} {}", kind.kernel(), kind.shape()));
        group.measurement_time(Duration::from_secs(3)).sample_size(10).warm_up_time(Duration::from_secs(1));
        group.throughput(Throughput::Elements(work as u64));
        let prep = Prepared::new(&gpu, kind).expect("inputs");
        let variants: &[Variant] = if matches!(kind, Kind::MaxPool { .. }) {
            &[Variant::RegisterBlocked]
        } else {
            &[Variant::RegisterBlocked, Variant::WorkgroupTiled]
        };
        for &v in variants {
            gpu.force_variant(Some(v));
            let name = if matches!(kind, Kind::MaxPool { .. }) { "gpu".to_string() } else { format!("gpu {v:?}") };
            group.bench_function(name, |b| {
                b.iter(|| {
                    prep.run_gpu(&gpu).expect("kernel");
                    gpu.sync().expect("sync");
                })
            });
            // The register-blocked kernels again without subgroup broadcasts (where the adapter has them).
            if v == Variant::RegisterBlocked && gpu.subgroups8() && !matches!(kind, Kind::MaxPool { .. }) {
                gpu.disable_subgroups(true);
                group.bench_function("gpu RegisterBlocked no-subgroups", |b| {
                    b.iter(|| {
                        prep.run_gpu(&gpu).expect("kernel");
                        gpu.sync().expect("sync");
                    })
                });
                gpu.disable_subgroups(false);
            }
        }
        gpu.force_variant(None);
        if with_cpu {
            group.bench_function("cpu reference", |b| b.iter(|| prep.run_cpu()));
        }
        group.finish();
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
