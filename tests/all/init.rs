//! Seeded initialisers: the GPU values equal the CPU reference; statistics match the distribution.

use deeplesion::ops::init::{self, cpu, Init};
use deeplesion::testing::{assert_close, gpu};

#[test]
fn uniform_is_bit_identical_to_cpu_and_normal_is_close() {
    let g = gpu();
    for (shape, init) in [
        (&[7usize][..], Init::Uniform { bound: 0.5 }),
        (&[67, 3, 5, 5][..], Init::XavierUniform),
        (&[64, 3, 3, 3][..], Init::KaimingNormal),
        (&[257, 300][..], Init::Normal { std: 0.01 }),
    ] {
        let got = init::random(&g, shape, init, 42).unwrap().to_vec(&g).unwrap();
        let want = cpu::random(shape, init, 42);
        match init {
            Init::Uniform { .. } | Init::XavierUniform => assert_eq!(got, want, "{init:?} {shape:?}"),
            _ => assert_close(&format!("{init:?} {shape:?}"), &got, &want, 1e-5),
        }
    }
}

#[test]
fn seeds_differ_and_statistics_fit() {
    let g = gpu();
    let shape = [128usize, 64, 3, 3];
    let a = init::random(&g, &shape, Init::KaimingNormal, 1).unwrap().to_vec(&g).unwrap();
    let b = init::random(&g, &shape, Init::KaimingNormal, 2).unwrap().to_vec(&g).unwrap();
    assert_ne!(a, b);
    let n = a.len() as f64;
    let mean = a.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let want_std = (2.0 / (64.0 * 9.0f64)).sqrt();
    assert!(mean.abs() < 0.01 * want_std * 10.0, "mean {mean}");
    assert!((var.sqrt() / want_std - 1.0).abs() < 0.02, "std {} vs {want_std}", var.sqrt());
    let u = init::random(&g, &[100_000], Init::Uniform { bound: 2.0 }, 3).unwrap().to_vec(&g).unwrap();
    assert!(u.iter().all(|&v| (-2.0..2.0).contains(&v)));
    let um = u.iter().map(|&v| v as f64).sum::<f64>() / u.len() as f64;
    assert!(um.abs() < 0.02, "uniform mean {um}");
    assert_eq!(init::fans(&[10, 4, 3, 3]), (36, 90));
    assert_eq!(init::fans(&[10, 4]), (4, 10));
}
