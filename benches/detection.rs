//! Detection kernels on the GPU beside their CPU references: NMS, RoI pooling, RoIAlign, the proposal layer.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use deeplesion::detection::boxes::{self, BoxF};
use deeplesion::detection::nms::{self, synth, NmsConfig};
use deeplesion::detection::proposals::{cpu_proposals, proposals, ProposalConfig};
use deeplesion::detection::roi_align::{self, RoiAlignConfig};
use deeplesion::detection::{roi_pool, AnchorConfig};
use deeplesion::{Gpu, GpuOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn gpu() -> Gpu {
    let g = Gpu::new(GpuOptions::default()).expect("benches need an adapter");
    eprintln!("adapter: {} ({:?})", g.info.name, g.info.device_type);
    g
}

fn bench_nms(c: &mut Criterion, g: &Gpu) {
    let mut grp = c.benchmark_group("nms");
    grp.measurement_time(Duration::from_secs(3)).sample_size(10);
    let cfg = NmsConfig::iou(0.5);
    for n in [2000usize, 6000, 12000] {
        // Boxes jittered around a few hundred centres in a 512x512 image.
        let (b, s) = synth::clustered(7, n, 300, 512.0);
        let tb = boxes::upload(g, &b).unwrap();
        let ts = g.upload(&[n], &s).unwrap();
        let kept = nms::nms(g, &tb, &ts, &cfg).unwrap();
        assert_eq!(kept, nms::cpu::nms(&b, &s, &cfg).unwrap());
        eprintln!("nms n={n}: {} kept", kept.len());
        grp.bench_with_input(BenchmarkId::new("gpu", n), &n, |bch, _| {
            bch.iter(|| nms::nms(g, &tb, &ts, &cfg).unwrap())
        });
        grp.bench_with_input(BenchmarkId::new("cpu", n), &n, |bch, _| {
            bch.iter(|| nms::cpu::nms(&b, &s, &cfg).unwrap())
        });
    }
    grp.finish();
}

/// 256 RoIs of 16..160 px on a 512x512 image (1x512x64x64 features at stride 8).
fn rois(seed: u64) -> Vec<f32> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for _ in 0..256 {
        let (x, y) = (r.gen_range(0.0..480.0f32), r.gen_range(0.0..480.0f32));
        out.extend([0.0, x, y, x + r.gen_range(16.0..160.0f32), y + r.gen_range(16.0..160.0f32)]);
    }
    out
}

fn bench_roi(c: &mut Criterion, g: &Gpu) {
    let shape = [1usize, 512, 64, 64];
    let mut r = ChaCha8Rng::seed_from_u64(3);
    let x: Vec<f32> = (0..shape.iter().product::<usize>()).map(|_| r.gen_range(-1.0..1.0)).collect();
    let rv = rois(4);
    let tx = g.upload(&shape, &x).unwrap();
    let tr = g.upload(&[256, 5], &rv).unwrap();
    let dy: Vec<f32> = (0..256 * 512 * 49).map(|_| r.gen_range(-1.0..1.0)).collect();
    let tdy = g.upload(&[256, 512, 7, 7], &dy).unwrap();
    let mut grp = c.benchmark_group("roi_256_on_1x512x64x64");
    grp.measurement_time(Duration::from_secs(3)).sample_size(10);
    grp.bench_function("roi_pool_fwd_bwd/gpu", |b| {
        b.iter(|| {
            let (y, a) = roi_pool::roi_pool_forward(g, &tx, &tr, 7, 7, 0.125).unwrap();
            let dx = roi_pool::roi_pool_backward(g, &tdy, &a, &shape, &tr, 0.125).unwrap();
            drop(y);
            g.sync().unwrap();
            dx
        })
    });
    grp.bench_function("roi_pool_fwd_bwd/cpu", |b| {
        b.iter(|| {
            let (_, a) = roi_pool::cpu::forward(&x, shape, &rv, 7, 7, 0.125);
            roi_pool::cpu::backward(&dy, &a, shape, &rv, 7, 7)
        })
    });
    let cfg = RoiAlignConfig::default();
    grp.bench_function("roi_align_fwd_bwd/gpu", |b| {
        b.iter(|| {
            let y = roi_align::roi_align_forward(g, &tx, &tr, &cfg).unwrap();
            let dx = roi_align::roi_align_backward(g, &tdy, &shape, &tr, &cfg).unwrap();
            drop(y);
            g.sync().unwrap();
            dx
        })
    });
    grp.bench_function("roi_align_fwd_bwd/cpu", |b| {
        b.iter(|| {
            let y = roi_align::cpu::forward(&x, shape, &rv, &cfg);
            (y, roi_align::cpu::backward(&dy, shape, &rv, &cfg))
        })
    });
    grp.finish();
}

fn bench_proposals(c: &mut Criterion, g: &Gpu) {
    let acfg = AnchorConfig::default();
    let (a, h, w) = (acfg.per_cell(), 64usize, 64usize);
    let anchors: Vec<BoxF> = acfg.grid(h, w);
    let tanc = acfg.upload(g, h, w).unwrap();
    let mut r = ChaCha8Rng::seed_from_u64(5);
    let k = h * w * a;
    let obj: Vec<f32> = (0..k).map(|_| r.gen_range(-4.0..4.0)).collect();
    let del: Vec<[f32; 4]> = (0..k).map(|_| [0.0; 4].map(|_: f32| r.gen_range(-0.5..0.5))).collect();
    let tobj = g.upload(&[1, k], &obj).unwrap();
    let tdel = g.upload(&[1, k, 4], &del.iter().flatten().copied().collect::<Vec<f32>>()).unwrap();
    let cfg = ProposalConfig { min_size: 2.0, ..Default::default() };
    let img = (512.0, 512.0);
    let mut grp = c.benchmark_group("proposals_64x64x15");
    grp.measurement_time(Duration::from_secs(3)).sample_size(10);
    grp.bench_function("gpu", |b| b.iter(|| proposals(g, &tobj, &tdel, &tanc, img, &cfg).unwrap()));
    grp.bench_function("cpu", |b| b.iter(|| cpu_proposals(&obj, &del, &anchors, img, &cfg).unwrap()));
    grp.finish();
}

fn all(c: &mut Criterion) {
    let g = gpu();
    bench_nms(c, &g);
    bench_proposals(c, &g);
    bench_roi(c, &g);
}

criterion_group!(benches, all);
criterion_main!(benches);
