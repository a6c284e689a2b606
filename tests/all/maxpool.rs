//! Max-pool 2d forward (values and argmax) and gather backward against CPU references, plus a
//! finite-difference gradient check.

use deeplesion::ops::maxpool::{self, cpu, maxpool2d_backward, maxpool2d_forward, MaxPool2dParams};
use deeplesion::testing::{assert_close, gpu, grad_rel_err, randn, rng};

const fn mp(kernel: usize, stride: usize, pad: usize) -> MaxPool2dParams {
    MaxPool2dParams { kernel, stride, pad }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn maxpool_matches_cpu_on_awkward_shapes() {
    let g = gpu();
    let mut r = rng(30);
    // Overlapping windows (3/2), padding, odd sizes, batch > 1, a bigger one.
    let cases = [
        ([2, 3, 7, 9], mp(2, 2, 0)),
        ([1, 67, 5, 6], mp(3, 2, 1)),
        ([3, 2, 8, 5], mp(3, 1, 1)),
        ([1, 1, 1, 1], mp(1, 1, 0)),
        ([2, 4, 11, 10], mp(5, 3, 2)),
        ([2, 16, 64, 61], mp(2, 2, 0)),
        ([1, 5, 9, 10], mp(3, 3, 0)),
        ([4, 4, 128, 128], mp(2, 2, 0)),
    ];
    for (xs, p) in cases {
        let n: usize = xs.iter().product();
        let x = randn(&mut r, n);
        let (want_y, want_arg) = cpu::forward(&f64s(&x), xs, p);
        let xt = g.upload(&xs, &x).unwrap();
        let (y, arg) = maxpool2d_forward(&g, &xt, p).unwrap();
        let name = format!("{xs:?} {p:?}");
        let want_y32: Vec<f32> = want_y.iter().map(|&v| v as f32).collect();
        assert_close(&format!("forward {name}"), &y.to_vec(&g).unwrap(), &want_y32, 0.0);
        assert_eq!(arg.to_vec_u32(&g).unwrap(), want_arg, "argmax {name}");
        let dy = randn(&mut r, y.numel());
        let want_dx: Vec<f32> = cpu::backward(&f64s(&dy), &want_arg, xs, p).iter().map(|&v| v as f32).collect();
        let dyt = g.upload(y.shape(), &dy).unwrap();
        // Disjoint windows (k == stride, no pad) take the one-thread-a-window path unless forced.
        for gather in [false, true] {
            let dx = if gather {
                maxpool::maxpool2d_backward_gather(&g, &dyt, &arg, &xs, p)
            } else {
                maxpool2d_backward(&g, &dyt, &arg, &xs, p)
            };
            let path = if gather || !maxpool::disjoint_windows(p) { "gather" } else { "disjoint" };
            assert_close(&format!("backward ({path}) {name}"), &dx.unwrap().to_vec(&g).unwrap(), &want_dx, 1e-6);
        }
    }
}

#[test]
fn maxpool_gradient_matches_finite_differences() {
    let g = gpu();
    let mut r = rng(31);
    for (xs, p) in [([2, 2, 6, 7], mp(3, 2, 1)), ([1, 3, 5, 5], mp(2, 2, 0))] {
        let n: usize = xs.iter().product();
        let x = randn(&mut r, n);
        let xt = g.upload(&xs, &x).unwrap();
        let (y, arg) = maxpool2d_forward(&g, &xt, p).unwrap();
        let rv = randn(&mut r, y.numel());
        let dx = maxpool2d_backward(&g, &g.upload(y.shape(), &rv).unwrap(), &arg, &xs, p).unwrap();
        let got = f64s(&dx.to_vec(&g).unwrap());
        let (x64, r64) = (f64s(&x), f64s(&rv));
        let loss = |x: &[f64]| -> f64 { cpu::forward(x, xs, p).0.iter().zip(&r64).map(|(a, b)| a * b).sum() };
        let eps = 1e-6;
        let numeric: Vec<f64> = (0..n)
            .map(|j| {
                let (mut xp, mut xm) = (x64.clone(), x64.clone());
                xp[j] += eps;
                xm[j] -= eps;
                (loss(&xp) - loss(&xm)) / (2.0 * eps)
            })
            .collect();
        let err = grad_rel_err(&got, &numeric);
        assert!(err < 1e-5, "{xs:?} {p:?}: gradient relative error {err:e}");
    }
}

#[test]
fn bad_windows_are_errors() {
    let g = gpu();
    let x = g.upload(&[1, 1, 2, 2], &[0.0; 4]).unwrap();
    assert!(maxpool2d_forward(&g, &x, mp(3, 1, 0)).unwrap_err().to_string().contains("does not fit"));
    assert!(maxpool2d_forward(&g, &x, mp(2, 1, 2)).unwrap_err().to_string().contains("half"));
}
