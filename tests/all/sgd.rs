//! SGD with momentum and weight decay against the CPU reference over several steps.

use deeplesion::ops::sgd;
use deeplesion::testing::{assert_close, gpu, randn, rng};

#[test]
fn sgd_matches_cpu_over_steps() {
    let g = gpu();
    let mut r = rng(30);
    for n in [1usize, 255, 1001] {
        let mut w = randn(&mut r, n);
        let mut v = vec![0.0f32; n];
        let tw = g.upload(&[n], &w).unwrap();
        let tv = g.zeros(&[n], deeplesion::DType::F32).unwrap();
        for step in 0..4 {
            let grad = randn(&mut r, n);
            let tg = g.upload(&[n], &grad).unwrap();
            let lr = 0.1 / (step + 1) as f32;
            sgd::step(&g, &tw, &tv, &tg, lr, 0.9, 5e-4, 1.0).unwrap();
            sgd::cpu::step(&mut w, &mut v, &grad, lr, 0.9, 5e-4, 1.0);
        }
        assert_close(&format!("param n={n}"), &tw.to_vec(&g).unwrap(), &w, 1e-6);
        assert_close(&format!("velocity n={n}"), &tv.to_vec(&g).unwrap(), &v, 1e-6);
    }
}

#[test]
fn sgd_rejects_mismatched_or_aliased_buffers() {
    let g = gpu();
    let a = g.upload(&[3], &[0.0; 3]).unwrap();
    let b = g.upload(&[3], &[0.0; 3]).unwrap();
    let c = g.upload(&[2], &[0.0; 2]).unwrap();
    assert!(sgd::step(&g, &a, &b, &c, 0.1, 0.9, 0.0, 1.0).is_err());
    assert!(sgd::step(&g, &a, &a, &b, 0.1, 0.9, 0.0, 1.0).is_err());
}

#[test]
fn a_gradient_scale_equals_scaling_the_gradient_first() {
    // Global-norm clipping runs inside the update: grad_scale s on g is the update with s g.
    let g = gpu();
    let mut r = rng(31);
    let n = 1001;
    let (mut w, grad) = (randn(&mut r, n), randn(&mut r, n));
    let mut v = randn(&mut r, n);
    let (tw, tv, tg) = (g.upload(&[n], &w).unwrap(), g.upload(&[n], &v).unwrap(), g.upload(&[n], &grad).unwrap());
    sgd::step(&g, &tw, &tv, &tg, 0.05, 0.9, 5e-4, 0.25).unwrap();
    let scaled: Vec<f32> = grad.iter().map(|x| 0.25 * x).collect();
    sgd::cpu::step(&mut w, &mut v, &scaled, 0.05, 0.9, 5e-4, 1.0);
    assert_close("param, scaled gradient", &tw.to_vec(&g).unwrap(), &w, 1e-6);
    assert_close("velocity, scaled gradient", &tv.to_vec(&g).unwrap(), &v, 1e-6);
}
