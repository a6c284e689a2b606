//! Data pipeline speed: decoding one 512x512 16-bit slice, and decode + preprocess with 2 mm neighbours (3 PNGs), paper defaults.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use deeplesion::data::synth::{writer, SynthConfig};
use deeplesion::data::{preprocess, slice, Dataset, LoadOptions, PreprocessConfig};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    writer::generate(&SynthConfig { patients: 2, size: 512, seed: 5 }, dir.path(), |_| {}).expect("synth");
    let (ds, _) = Dataset::open(dir.path(), &LoadOptions::default()).expect("open");
    // A 5 mm series: the 2 mm neighbours interpolate 3 slices.
    let im = ds.images.iter().find(|i| i.spacing_mm[2] >= 2.5).unwrap_or(&ds.images[0]).clone();
    let key = ds.slice_path(&im, im.key_slice).expect("path");
    let bytes = std::fs::read(&key).expect("png");
    let mut g = c.benchmark_group("data");
    g.measurement_time(Duration::from_secs(3)).sample_size(10);
    g.bench_function("decode_512_png", |b| b.iter(|| slice::decode_slice(&bytes, "bench", None).expect("decode")));
    let cfg = PreprocessConfig::default();
    g.bench_function("load_image_512_neighbours_paper_defaults", |b| {
        b.iter(|| preprocess::load_image(&ds, &im, &cfg).expect("load"))
    });
    let s = slice::decode_slice(&bytes, "bench", None).expect("decode");
    g.bench_function("resize_bilinear_512_to_384", |b| {
        b.iter(|| preprocess::resize_bilinear(&s.hu, 512, 512, 384, 384))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
