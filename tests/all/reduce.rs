//! Reductions and the bias broadcast against their CPU references on awkward shapes.

use deeplesion::ops::broadcast;
use deeplesion::ops::reduce::{self, cpu};
use deeplesion::testing::{assert_close, gpu, randn, rng};

const SHAPES: [&[usize]; 5] = [&[1], &[7, 3], &[3, 67, 5], &[2, 3, 17, 19], &[257, 300]];

#[test]
fn axis_reductions_match_cpu() {
    let g = gpu();
    let mut r = rng(10);
    for shape in SHAPES {
        let n: usize = shape.iter().product();
        let x = randn(&mut r, n);
        let t = g.upload(shape, &x).unwrap();
        for axis in 0..shape.len() {
            let case = format!("{shape:?} axis {axis}");
            let s = reduce::sum(&g, &t, axis).unwrap();
            let mut want_shape: Vec<usize> = shape.to_vec();
            want_shape.remove(axis);
            if want_shape.is_empty() {
                want_shape.push(1);
            }
            assert_eq!(s.shape(), &want_shape[..], "{case}");
            assert_close(&format!("sum {case}"), &s.to_vec(&g).unwrap(), &cpu::sum(&x, shape, axis), 1e-6);
            let m = reduce::mean(&g, &t, axis).unwrap().to_vec(&g).unwrap();
            assert_close(&format!("mean {case}"), &m, &cpu::mean(&x, shape, axis), 1e-6);
            let mx = reduce::max(&g, &t, axis).unwrap().to_vec(&g).unwrap();
            assert_eq!(mx, cpu::max(&x, shape, axis), "max {case}");
            let cs = reduce::channel_sum(&g, &t, axis).unwrap().to_vec(&g).unwrap();
            assert_close(&format!("channel_sum {case}"), &cs, &cpu::channel_sum(&x, shape, axis), 1e-6);
        }
    }
}

#[test]
fn sum_all_is_deterministic_and_close_to_f64() {
    let g = gpu();
    let mut r = rng(11);
    for n in [1usize, 255, 257, 100_003] {
        let x = randn(&mut r, n);
        let t = g.upload(&[n], &x).unwrap();
        let a = reduce::sum_all(&g, &t, 0.5).unwrap().to_vec(&g).unwrap();
        let b = reduce::sum_all(&g, &t, 0.5).unwrap().to_vec(&g).unwrap();
        assert_eq!(a[0].to_bits(), b[0].to_bits(), "n={n}: two runs differ");
        // f32 partial sums of ~400 values each: error grows like sqrt(n) ulps of the partials.
        let want = cpu::sum_all(&x, 0.5);
        assert!((a[0] - want).abs() <= 1e-5 * (n as f32).sqrt().max(1.0) * 4.0, "n={n}: {} vs {want}", a[0]);
    }
}

#[test]
fn sum_squares_matches_f64_and_sum_all_of_the_squares() {
    let g = gpu();
    let mut r = rng(12);
    for n in [0usize, 1, 255, 257, 100_003] {
        let x = randn(&mut r, n);
        let t = g.upload(&[n], &x).unwrap();
        let got = reduce::sum_squares(&g, &t).unwrap().to_vec(&g).unwrap()[0];
        let want = cpu::sum_squares(&x);
        assert!((got - want).abs() <= 1e-6 * want.max(1.0) * (n as f32).sqrt().max(1.0), "n={n}: {got} vs {want}");
        // The same tree as sum_all over the squared values (what the gradient norm used before):
        // equal but for a fused multiply-add an adapter may use for `acc + v * v`.
        let sq: Vec<f32> = x.iter().map(|v| v * v).collect();
        let via = reduce::sum_all(&g, &g.upload(&[n], &sq).unwrap(), 1.0).unwrap().to_vec(&g).unwrap()[0];
        assert!((got - via).abs() <= 1e-6 * via.max(1.0), "n={n}: {got} vs sum_all of squares {via}");
    }
}

#[test]
fn max_propagates_nan() {
    let g = gpu();
    let t = g.upload(&[2, 3], &[1.0, f32::NAN, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let m = reduce::max(&g, &t, 1).unwrap().to_vec(&g).unwrap();
    assert!(m[0].is_nan() && m[1] == 6.0, "{m:?}");
}

#[test]
fn bad_axis_is_an_error() {
    let g = gpu();
    let t = g.upload(&[2, 3], &[0.0; 6]).unwrap();
    assert!(reduce::sum(&g, &t, 2).unwrap_err().to_string().contains("'sum'"));
}

#[test]
fn bias_add_matches_cpu() {
    let g = gpu();
    let mut r = rng(12);
    for (shape, axis) in [(&[5usize, 67][..], 1usize), (&[2, 3, 7, 9][..], 1), (&[1000, 3][..], 1), (&[4, 2][..], 0)] {
        let n: usize = shape.iter().product();
        let x = randn(&mut r, n);
        let b = randn(&mut r, shape[axis]);
        let tx = g.upload(shape, &x).unwrap();
        let tb = g.upload(&[b.len()], &b).unwrap();
        let got = broadcast::bias_add(&g, &tx, &tb, axis).unwrap().to_vec(&g).unwrap();
        assert_close(&format!("bias_add {shape:?}"), &got, &broadcast::cpu::bias_add(&x, shape, &b, axis), 1e-6);
    }
}

#[test]
fn expand_scalar_fills_from_the_gpu_value() {
    let g = gpu();
    let s = g.upload(&[1], &[2.5]).unwrap();
    let v = broadcast::expand_scalar(&g, &s, &[3, 257], -2.0).unwrap().to_vec(&g).unwrap();
    assert_eq!(v.len(), 771);
    assert!(v.iter().all(|&x| x == -5.0));
}

#[test]
fn permute_matches_cpu() {
    use deeplesion::ops::permute;
    let g = gpu();
    let mut r = rng(13);
    for (shape, perm) in [
        (&[2usize, 3, 5, 7][..], &[0usize, 2, 3, 1][..]),
        (&[2, 3, 5, 7][..], &[3, 1, 0, 2][..]),
        (&[67, 3][..], &[1, 0][..]),
        (&[4, 5, 6][..], &[2, 0, 1][..]),
        (&[9][..], &[0][..]),
    ] {
        let n: usize = shape.iter().product();
        let x = randn(&mut r, n);
        let t = g.upload(shape, &x).unwrap();
        let y = permute::permute(&g, &t, perm).unwrap();
        let want_shape: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
        assert_eq!(y.shape(), &want_shape[..]);
        assert_eq!(y.to_vec(&g).unwrap(), permute::cpu::permute(&x, shape, perm), "{shape:?} {perm:?}");
        let back = permute::permute(&g, &y, &permute::inverse(perm)).unwrap().to_vec(&g).unwrap();
        assert_eq!(back, x);
    }
    let t = g.upload(&[2, 3], &[0.0; 6]).unwrap();
    assert!(permute::permute(&g, &t, &[0, 0]).is_err());
    assert!(permute::permute(&g, &t, &[0]).is_err());
}

#[test]
fn expand_axis_matches_cpu() {
    let g = gpu();
    let mut r = rng(14);
    for (shape, axis) in [(&[3usize, 67, 5][..], 1usize), (&[257, 3][..], 0), (&[4, 9][..], 1), (&[7][..], 0)] {
        let reduced: usize = shape.iter().product::<usize>() / shape[axis];
        let x = randn(&mut r, reduced);
        let t = g.upload(&[reduced], &x).unwrap();
        let got = broadcast::expand_axis(&g, &t, shape, axis, 0.5).unwrap().to_vec(&g).unwrap();
        assert_close(&format!("expand_axis {shape:?}"), &got, &broadcast::cpu::expand_axis(&x, shape, axis, 0.5), 1e-7);
    }
}
