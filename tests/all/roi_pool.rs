//! RoI max pooling: forward/argmax and the gather backward against CPU references, gradient check, edge cases.

use deeplesion::detection::roi_pool::{cpu, roi_pool_backward, roi_pool_forward, NO_ARGMAX};
use deeplesion::testing::{assert_close, gpu, grad_rel_err, randn, rng};
use rand::Rng;

fn random_rois(r: &mut impl Rng, n: usize, count: usize, img: f32) -> Vec<f32> {
    let mut out = Vec::new();
    for _ in 0..count {
        let x = r.gen_range(-0.2 * img..img);
        let y = r.gen_range(-0.2 * img..img);
        out.extend([r.gen_range(0..n) as f32, x, y, x + r.gen_range(0.5..img / 2.0), y + r.gen_range(0.5..img / 2.0)]);
    }
    out
}

/// Runs forward and backward on the GPU and checks both against the CPU.
fn check(shape: [usize; 4], rois: &[f32], oh: usize, ow: usize, scale: f32, seed: u64) {
    let g = gpu();
    let mut r = rng(seed);
    let x = randn(&mut r, shape.iter().product());
    let nr = rois.len() / 5;
    let tx = g.upload(&shape, &x).unwrap();
    let tr = g.upload(&[nr, 5], rois).unwrap();
    let (y, a) = roi_pool_forward(&g, &tx, &tr, oh, ow, scale).unwrap();
    let (wy, wa) = cpu::forward(&x, shape, rois, oh, ow, scale);
    assert_eq!(a.to_vec_u32(&g).unwrap(), wa, "argmax {shape:?}");
    assert_close("roi_pool forward", &y.to_vec(&g).unwrap(), &wy, 0.0);
    let dy = randn(&mut r, y.numel());
    let tdy = g.upload(y.shape(), &dy).unwrap();
    let dx = roi_pool_backward(&g, &tdy, &a, &shape, &tr, scale).unwrap();
    assert_close("roi_pool backward", &dx.to_vec(&g).unwrap(), &cpu::backward(&dy, &wa, shape, rois, oh, ow), 1e-6);
}

#[test]
fn forward_and_backward_match_cpu_on_random_rois() {
    let mut r = rng(20);
    let rois = random_rois(&mut r, 2, 37, 80.0);
    check([2, 11, 10, 9], &rois, 7, 7, 1.0 / 8.0, 21);
    let rois = random_rois(&mut r, 1, 5, 30.0);
    check([1, 3, 13, 17], &rois, 3, 5, 0.5, 22);
}

#[test]
fn rois_partly_or_wholly_outside_the_map() {
    // Map 8x8 cells at scale 1/4 (32 px); one RoI straddles the corner, one is far outside.
    let rois = [0.0, -20.0, -20.0, 10.0, 10.0, 0.0, 100.0, 100.0, 140.0, 130.0, 0.0, 30.0, -50.0, 60.0, 5.0];
    check([1, 4, 8, 8], &rois, 7, 7, 0.25, 23);
    let g = gpu();
    let x = g.upload(&[1, 1, 8, 8], &[1.0; 64]).unwrap();
    let tr = g.upload(&[1, 5], &rois[5..10]).unwrap();
    let (y, a) = roi_pool_forward(&g, &x, &tr, 2, 2, 0.25).unwrap();
    assert_eq!(y.to_vec(&g).unwrap(), vec![0.0; 4], "outside RoI pools zeros");
    assert_eq!(a.to_vec_u32(&g).unwrap(), vec![NO_ARGMAX; 4]);
}

#[test]
fn roi_smaller_than_one_cell_pools_its_cell() {
    // 1/8 scale: the RoI (17..19, 9..10) px lies in cell (y=1, x=2).
    let g = gpu();
    let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let tx = g.upload(&[1, 1, 4, 4], &x).unwrap();
    let tr = g.upload(&[1, 5], &[0.0, 17.0, 9.0, 19.0, 10.0]).unwrap();
    let (y, a) = roi_pool_forward(&g, &tx, &tr, 2, 2, 0.125).unwrap();
    assert_eq!(y.to_vec(&g).unwrap(), vec![6.0; 4]);
    assert_eq!(a.to_vec_u32(&g).unwrap(), vec![6; 4]);
    drop(g); // check() takes the shared context itself
    check([1, 2, 4, 4], &[0.0, 17.0, 9.0, 19.0, 10.0, 0.0, 8.0, 8.0, 8.0, 8.0], 7, 7, 0.125, 24);
}

#[test]
fn one_by_one_feature_map() {
    let g = gpu();
    let tx = g.upload(&[1, 2, 1, 1], &[3.0, -2.0]).unwrap();
    let tr = g.upload(&[1, 5], &[0.0, 0.0, 0.0, 16.0, 16.0]).unwrap();
    let (y, _) = roi_pool_forward(&g, &tx, &tr, 7, 7, 1.0 / 16.0).unwrap();
    let v = y.to_vec(&g).unwrap();
    assert!(v[..49].iter().all(|&t| t == 3.0) && v[49..].iter().all(|&t| t == -2.0));
    drop(g);
    check([1, 2, 1, 1], &[0.0, 0.0, 0.0, 16.0, 16.0, 0.0, 3.0, 2.0, 9.0, 12.0], 7, 7, 1.0 / 16.0, 25);
}

#[test]
fn max_of_a_two_by_two_bin_is_hand_checked() {
    // 4x4 map, RoI covering it at scale 1, 2x2 output: each bin is a 2x2 block.
    let g = gpu();
    let x = [1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 9.0, 1.0, 0.0, 0.0, 1.0, 1.0, 7.0, 0.0, 1.0, 8.0];
    let tx = g.upload(&[1, 1, 4, 4], &x).unwrap();
    let tr = g.upload(&[1, 5], &[0.0, 0.0, 0.0, 4.0, 4.0]).unwrap();
    let (y, a) = roi_pool_forward(&g, &tx, &tr, 2, 2, 1.0).unwrap();
    assert_eq!(y.to_vec(&g).unwrap(), vec![5.0, 9.0, 7.0, 8.0]);
    assert_eq!(a.to_vec_u32(&g).unwrap(), vec![1, 6, 12, 15]);
    let dy = g.upload(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    let dx = roi_pool_backward(&g, &dy, &a, &[1, 1, 4, 4], &tr, 1.0).unwrap().to_vec(&g).unwrap();
    let mut want = [0.0; 16];
    (want[1], want[6], want[12], want[15]) = (1.0, 2.0, 3.0, 4.0);
    assert_eq!(dx, want);
}

#[test]
fn zero_rois_give_empty_output_and_zero_gradient() {
    let g = gpu();
    let tx = g.upload(&[1, 2, 3, 3], &[1.0; 18]).unwrap();
    let tr = g.upload(&[0, 5], &[]).unwrap();
    let (y, a) = roi_pool_forward(&g, &tx, &tr, 7, 7, 1.0).unwrap();
    assert_eq!(y.shape(), &[0, 2, 7, 7]);
    let dx = roi_pool_backward(&g, &y, &a, &[1, 2, 3, 3], &tr, 1.0).unwrap();
    assert_eq!(dx.to_vec(&g).unwrap(), vec![0.0; 18]);
}

#[test]
fn many_rois_and_channels_beyond_one_workgroup() {
    let mut r = rng(26);
    let rois = random_rois(&mut r, 2, 300, 64.0);
    check([2, 19, 8, 8], &rois, 7, 7, 0.125, 27);
}

#[test]
fn gradient_matches_finite_differences() {
    // f64 forward on distinct values (no argmax ties), central differences on every input.
    let shape = [2, 2, 5, 6];
    let rois = [0.0, 1.0, 2.0, 20.0, 18.0, 1.0, 0.0, 0.0, 11.0, 23.0, 1.0, 6.0, 3.0, 9.0, 7.0];
    let (oh, ow, scale) = (3, 2, 0.25);
    let n: usize = shape.iter().product();
    let mut r = rng(28);
    let mut x: Vec<f64> = (0..n).map(|i| i as f64 * 0.37 % 1.0 + r.gen_range(0.0..0.01)).collect();
    let dy: Vec<f64> = (0..3 * 2 * 3 * 2).map(|_| r.gen_range(-1.0..1.0)).collect();
    let loss = |x: &[f64]| -> f64 {
        let (y, _) = cpu::forward_f64(x, shape, &rois, oh, ow, scale);
        y.iter().zip(&dy).map(|(a, b)| a * b).sum()
    };
    let eps = 1e-6;
    let mut numeric = vec![0.0; n];
    for i in 0..n {
        let v = x[i];
        x[i] = v + eps;
        let lp = loss(&x);
        x[i] = v - eps;
        let lm = loss(&x);
        x[i] = v;
        numeric[i] = (lp - lm) / (2.0 * eps);
    }
    let g = gpu();
    let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let tx = g.upload(&shape, &xf).unwrap();
    let tr = g.upload(&[3, 5], &rois).unwrap();
    let (y, a) = roi_pool_forward(&g, &tx, &tr, oh, ow, scale).unwrap();
    assert_eq!(y.numel(), dy.len());
    let dyf: Vec<f32> = dy.iter().map(|&v| v as f32).collect();
    let tdy = g.upload(y.shape(), &dyf).unwrap();
    let dx = roi_pool_backward(&g, &tdy, &a, &shape, &tr, scale).unwrap().to_vec(&g).unwrap();
    let analytic: Vec<f64> = dx.iter().map(|&v| v as f64).collect();
    let e = grad_rel_err(&analytic, &numeric);
    assert!(e < 1e-5, "roi_pool gradient rel err {e:e}");
}

#[test]
fn backward_across_many_tiles_with_invalid_and_non_finite_rois() {
    // A 37x45 map is 5x6 tiles of 8x8 cells: the backward walks per-tile RoI lists.
    let mut r = rng(28);
    let mut rois = random_rois(&mut r, 2, 60, 340.0);
    // An invalid batch index (no gradient).
    rois.extend([5.0, 10.0, 10.0, 50.0, 50.0]);
    check([2, 9, 37, 45], &rois, 7, 7, 0.125, 29);
}

#[test]
fn backward_of_many_rois_stacked_on_one_cell_is_not_cut_short() {
    // 1,100 RoIs over the same cells: past what one invocation's loop budget covers on
    // lavapipe (about 800 covering RoIs), so the launcher must chunk the RoIs.
    let g = gpu();
    let mut r = rng(77);
    let shape = [1usize, 4, 5, 5];
    let mut rois = Vec::new();
    for _ in 0..1100 {
        let (x, y) = (r.gen_range(4.0..8.0f32), r.gen_range(4.0..8.0f32));
        rois.extend([0.0, x, y, x + r.gen_range(2.0..12.0), y + r.gen_range(2.0..12.0)]);
    }
    let x = randn(&mut r, shape.iter().product());
    let tx = g.upload(&shape, &x).unwrap();
    let tr = g.upload(&[1100, 5], &rois).unwrap();
    let (y, amax) = roi_pool_forward(&g, &tx, &tr, 7, 7, 0.25).unwrap();
    let dy = randn(&mut r, y.numel());
    let dx = roi_pool_backward(&g, &g.upload(y.shape(), &dy).unwrap(), &amax, &shape, &tr, 0.25).unwrap();
    let want = cpu::backward(&dy, &amax.to_vec_u32(&g).unwrap(), shape, &rois, 7, 7);
    assert_close("roi_pool backward, 1,100 stacked RoIs", &dx.to_vec(&g).unwrap(), &want, 1e-5);
}
