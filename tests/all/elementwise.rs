//! Elementwise kernels against their CPU references on awkward sizes.

use deeplesion::ops::elementwise::{self as ew, cpu};
use deeplesion::testing::{assert_close, gpu, randn, rng};

const SIZES: [usize; 5] = [1, 7, 255, 257, 100_003];

#[test]
fn binary_ops_match_cpu() {
    let g = gpu();
    let mut r = rng(1);
    for &n in &SIZES {
        let (a, b) = (randn(&mut r, n), randn(&mut r, n));
        let ta = g.upload(&[n], &a).unwrap();
        let tb = g.upload(&[n], &b).unwrap();
        assert_close("add", &ew::add(&g, &ta, &tb).unwrap().to_vec(&g).unwrap(), &cpu::add(&a, &b), 1e-6);
        assert_close("mul", &ew::mul(&g, &ta, &tb).unwrap().to_vec(&g).unwrap(), &cpu::mul(&a, &b), 1e-6);
        assert_close(
            "axpy",
            &ew::axpy(&g, &ta, -0.7, &tb).unwrap().to_vec(&g).unwrap(),
            &cpu::axpy(&a, -0.7, &b),
            1e-6,
        );
        assert_close(
            "relu_backward",
            &ew::relu_backward(&g, &ta, &tb).unwrap().to_vec(&g).unwrap(),
            &cpu::relu_backward(&a, &b),
            1e-6,
        );
    }
}

#[test]
fn unary_ops_match_cpu() {
    let g = gpu();
    let mut r = rng(2);
    for &n in &SIZES {
        let x = randn(&mut r, n);
        let tx = g.upload(&[n], &x).unwrap();
        assert_close("scale", &ew::scale(&g, &tx, 3.5).unwrap().to_vec(&g).unwrap(), &cpu::scale(&x, 3.5), 1e-6);
        assert_close("relu", &ew::relu(&g, &tx).unwrap().to_vec(&g).unwrap(), &cpu::relu(&x), 1e-6);
        let f = ew::full(&g, &[n], 2.25).unwrap().to_vec(&g).unwrap();
        assert!(f.iter().all(|&v| v == 2.25), "fill n={n}");
    }
}

#[test]
fn shape_mismatch_is_an_error_naming_the_op() {
    let g = gpu();
    let a = g.upload(&[3], &[1.0, 2.0, 3.0]).unwrap();
    let b = g.upload(&[2], &[1.0, 2.0]).unwrap();
    let e = ew::add(&g, &a, &b).unwrap_err().to_string();
    assert!(e.contains("'add'"), "{e}");
}
