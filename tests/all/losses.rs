//! Softmax cross-entropy and smooth-L1: GPU forward and backward against f64 CPU references, plus
//! finite-difference checks of the references' gradients.

use deeplesion::ops::{elementwise, smooth_l1, softmax_ce};
use deeplesion::testing::{gpu, grad_rel_err, randn, rng};
use rand::Rng;

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn rel(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::INFINITY;
    }
    (a - b).abs() / b.abs().max(1e-6)
}

/// Central differences of `f` at `x` in f64.
pub fn numeric_grad(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-6;
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let x0 = xp[i];
            xp[i] = x0 + h;
            let fp = f(&xp);
            xp[i] = x0 - h;
            let fm = f(&xp);
            xp[i] = x0;
            (fp - fm) / (2.0 * h)
        })
        .collect()
}

#[test]
fn softmax_ce_matches_f64_reference_and_finite_differences() {
    let g = gpu();
    let mut r = rng(20);
    // (N, C, weighted, ignore)
    for (n, c, weighted, ignore) in
        [(1, 2, false, None), (7, 3, true, Some(-1)), (300, 67, true, Some(2)), (5, 1, false, None)]
    {
        let x: Vec<f32> = randn(&mut r, n * c).iter().map(|v| v * 4.0).collect();
        let labels: Vec<i32> = (0..n)
            .map(|i| match ignore {
                Some(ig) if i % 4 == 1 => ig,
                _ => r.gen_range(0..c as i32),
            })
            .collect();
        let w: Vec<f32> = (0..n).map(|_| r.gen_range(0.1f32..2.0)).collect();
        let tx = g.upload(&[n, c], &x).unwrap();
        let tl = g.upload_i32(&[n], &labels).unwrap();
        let tw = g.upload(&[n], &w).unwrap();
        let wopt = weighted.then_some(&tw);
        let out = softmax_ce::forward(&g, &tx, &tl, wopt, ignore).unwrap();
        let dy = g.upload(&[1], &[1.5]).unwrap();
        let dx = softmax_ce::backward(&g, &tx, &tl, wopt, ignore, &out, &dy).unwrap();
        let loss = out.loss.to_vec(&g).unwrap()[0] as f64;
        let dx = f64s(&dx.to_vec(&g).unwrap());

        let l64: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        let w64 = f64s(&w);
        let wref = weighted.then_some(&w64[..]);
        let ig = ignore.map(|i| i as i64);
        let x64 = f64s(&x);
        let want = softmax_ce::cpu::forward(&x64, c, &l64, wref, ig);
        assert!(rel(loss, want) < 1e-5, "N={n} C={c}: loss {loss} vs {want}");
        let want_dx: Vec<f64> = softmax_ce::cpu::backward(&x64, c, &l64, wref, ig).iter().map(|v| 1.5 * v).collect();
        let e = grad_rel_err(&dx, &want_dx);
        assert!(e < 1e-5, "N={n} C={c}: backward rel err {e:e}");
        if n * c <= 64 {
            let num: Vec<f64> = numeric_grad(&x64, |x| softmax_ce::cpu::forward(x, c, &l64, wref, ig))
                .iter()
                .map(|v| 1.5 * v)
                .collect();
            let e = grad_rel_err(&dx, &num);
            assert!(e < 1e-4, "N={n} C={c}: finite-difference rel err {e:e}");
        }
    }
}

#[test]
fn softmax_ce_u32_labels_all_ignored_and_bad_labels() {
    let g = gpu();
    let x = g.upload(&[2, 3], &[1.0, 2.0, 3.0, -1.0, 0.0, 1.0]).unwrap();
    let lu = g.upload_u32(&[2], &[2, 0]).unwrap();
    let out = softmax_ce::forward(&g, &x, &lu, None, None).unwrap();
    let want = softmax_ce::cpu::forward(&[1.0, 2.0, 3.0, -1.0, 0.0, 1.0], 3, &[2, 0], None, None);
    assert!(rel(out.loss.to_vec(&g).unwrap()[0] as f64, want) < 1e-6);
    // Every label ignored: loss 0 and zero gradient, not NaN.
    let li = g.upload_i32(&[2], &[-1, -1]).unwrap();
    let out = softmax_ce::forward(&g, &x, &li, None, Some(-1)).unwrap();
    assert_eq!(out.loss.to_vec(&g).unwrap(), vec![0.0]);
    let dy = g.upload(&[1], &[1.0]).unwrap();
    let dx = softmax_ce::backward(&g, &x, &li, None, Some(-1), &out, &dy).unwrap();
    assert!(dx.to_vec(&g).unwrap().iter().all(|&v| v == 0.0));
    // A label out of range that is not ignored: NaN, loudly.
    let lb = g.upload_i32(&[2], &[3, 0]).unwrap();
    let out = softmax_ce::forward(&g, &x, &lb, None, Some(-1)).unwrap();
    assert!(out.loss.to_vec(&g).unwrap()[0].is_nan());
    // Shape errors name the op.
    let l3 = g.upload_i32(&[3], &[0, 0, 0]).unwrap();
    assert!(softmax_ce::forward(&g, &x, &l3, None, None).unwrap_err().to_string().contains("softmax_ce"));
}

#[test]
fn smooth_l1_matches_f64_reference_and_finite_differences() {
    let g = gpu();
    let mut r = rng(21);
    for (n, sigma, weighted, norm) in
        [(1, 1.0, false, 1.0), (37, 3.0, true, 7.0), (4 * 257, 1.0, true, 128.0), (100_003, 3.0, false, 1000.0)]
    {
        let p: Vec<f32> = randn(&mut r, n).iter().map(|v| v * 2.0).collect();
        let t: Vec<f32> = randn(&mut r, n);
        let w: Vec<f32> = (0..n).map(|i| if i % 3 == 0 { 0.0 } else { r.gen_range(0.5f32..1.5) }).collect();
        let (tp, tt, tw) = (g.upload(&[n], &p).unwrap(), g.upload(&[n], &t).unwrap(), g.upload(&[n], &w).unwrap());
        let wopt = weighted.then_some(&tw);
        let loss = smooth_l1::forward(&g, &tp, &tt, wopt, sigma, norm).unwrap().to_vec(&g).unwrap()[0] as f64;
        let dy = elementwise::full(&g, &[1], 0.5).unwrap();
        let dx = f64s(&smooth_l1::backward(&g, &tp, &tt, wopt, sigma, norm, &dy).unwrap().to_vec(&g).unwrap());
        let (p64, t64, w64) = (f64s(&p), f64s(&t), f64s(&w));
        let wref = weighted.then_some(&w64[..]);
        let want = smooth_l1::cpu::forward(&p64, &t64, wref, sigma as f64, norm as f64);
        // The one-workgroup f32 sum of 100k terms: a documented looser bound than 1e-5.
        assert!(rel(loss, want) < 1e-4, "n={n}: loss {loss} vs {want}");
        let want_dx: Vec<f64> =
            smooth_l1::cpu::backward(&p64, &t64, wref, sigma as f64, norm as f64).iter().map(|v| 0.5 * v).collect();
        let e = grad_rel_err(&dx, &want_dx);
        assert!(e < 1e-5, "n={n}: backward rel err {e:e}");
        if n <= 64 {
            let num: Vec<f64> =
                numeric_grad(&p64, |x| smooth_l1::cpu::forward(x, &t64, wref, sigma as f64, norm as f64))
                    .iter()
                    .map(|v| 0.5 * v)
                    .collect();
            let e = grad_rel_err(&dx, &num);
            assert!(e < 1e-4, "n={n}: finite-difference rel err {e:e}");
        }
    }
}

#[test]
fn smooth_l1_rejects_bad_arguments() {
    let g = gpu();
    let a = g.upload(&[3], &[0.0; 3]).unwrap();
    let b = g.upload(&[2], &[0.0; 2]).unwrap();
    assert!(smooth_l1::forward(&g, &a, &b, None, 1.0, 1.0).is_err());
    assert!(smooth_l1::forward(&g, &a, &a, None, 0.0, 1.0).is_err());
    assert!(smooth_l1::forward(&g, &a, &a, None, 1.0, 0.0).is_err());
}
