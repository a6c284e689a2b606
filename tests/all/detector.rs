//! Detector: the BCE-on-logits kernel against its CPU reference and a finite-difference gradient check.

use deeplesion::detector::bce;
use deeplesion::testing::{assert_close, gpu, grad_rel_err, randn, rng};
use rand::Rng;

#[test]
fn bce_forward_and_backward_match_cpu_on_awkward_sizes() {
    let g = gpu();
    let mut r = rng(7);
    for n in [1usize, 255, 257, 3 * 15 * 17 * 5] {
        let x: Vec<f32> = randn(&mut r, n).iter().map(|v| v * 12.0).collect(); // large |x| exercises stability
        let y: Vec<f32> = (0..n).map(|_| if r.gen_bool(0.3) { 1.0 } else { 0.0 }).collect();
        let w: Vec<f32> = (0..n).map(|_| if r.gen_bool(0.2) { 0.0 } else { r.gen_range(0.5..2.0) }).collect();
        let dy = randn(&mut r, n);
        let (tx, ty, tw, tdy) = (
            g.upload(&[n], &x).unwrap(),
            g.upload(&[n], &y).unwrap(),
            g.upload(&[n], &w).unwrap(),
            g.upload(&[n], &dy).unwrap(),
        );
        let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
        let want: Vec<f32> = bce::cpu::forward(&f64s(&x), &f64s(&y), &f64s(&w)).iter().map(|&v| v as f32).collect();
        let got = bce::forward(&g, &tx, &ty, &tw).unwrap().to_vec(&g).unwrap();
        assert_close(&format!("bce forward n={n}"), &got, &want, 1e-5);
        let want: Vec<f32> =
            bce::cpu::backward(&f64s(&x), &f64s(&y), &f64s(&w), &f64s(&dy)).iter().map(|&v| v as f32).collect();
        let got = bce::backward(&g, &tx, &ty, &tw, &tdy).unwrap().to_vec(&g).unwrap();
        assert_close(&format!("bce backward n={n}"), &got, &want, 1e-5);
    }
}

#[test]
fn bce_gradient_matches_finite_differences() {
    let g = gpu();
    let mut r = rng(11);
    let n = 37;
    let x: Vec<f64> = randn(&mut r, n).iter().map(|&v| v as f64 * 3.0).collect();
    let y: Vec<f64> = (0..n).map(|i| (i % 3 == 0) as u8 as f64).collect();
    let w: Vec<f64> = (0..n).map(|i| 0.5 + (i % 4) as f64 * 0.25).collect();
    let dy: Vec<f64> = randn(&mut r, n).iter().map(|&v| v as f64).collect();
    // L = sum_i dy_i * loss_i(x); dL/dx_i by central differences on the f64 forward.
    let l = |x: &[f64]| bce::cpu::forward(x, &y, &w).iter().zip(&dy).map(|(a, b)| a * b).sum::<f64>();
    let h = 1e-5;
    let numeric: Vec<f64> = (0..n)
        .map(|i| {
            let (mut p, mut m) = (x.clone(), x.clone());
            p[i] += h;
            m[i] -= h;
            (l(&p) - l(&m)) / (2.0 * h)
        })
        .collect();
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let up = |v: &[f64]| g.upload(&[n], &f32s(v)).unwrap();
    let got = bce::backward(&g, &up(&x), &up(&y), &up(&w), &up(&dy)).unwrap().to_vec(&g).unwrap();
    let analytic: Vec<f64> = got.iter().map(|&v| v as f64).collect();
    let e = grad_rel_err(&analytic, &numeric);
    assert!(e < 1e-4, "bce gradient relative error {e}");
}
