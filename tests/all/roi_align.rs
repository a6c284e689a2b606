//! RoIAlign forward and gather backward against CPU references, a finite-difference check, edge cases.

use deeplesion::detection::roi_align::{cpu, roi_align_backward, roi_align_forward, RoiAlignConfig};
use deeplesion::testing::{assert_close, gpu, grad_rel_err, randn, rng};
use rand::Rng;

fn random_rois(r: &mut impl Rng, n: usize, count: usize, img: f32) -> Vec<f32> {
    let mut out = Vec::new();
    for _ in 0..count {
        let x = r.gen_range(-0.2 * img..img);
        let y = r.gen_range(-0.2 * img..img);
        out.extend([r.gen_range(0..n) as f32, x, y, x + r.gen_range(0.3..img / 2.0), y + r.gen_range(0.3..img / 2.0)]);
    }
    out
}

fn check(shape: [usize; 4], rois: &[f32], cfg: &RoiAlignConfig, seed: u64) {
    let g = gpu();
    let mut r = rng(seed);
    let x = randn(&mut r, shape.iter().product());
    let tx = g.upload(&shape, &x).unwrap();
    let tr = g.upload(&[rois.len() / 5, 5], rois).unwrap();
    let y = roi_align_forward(&g, &tx, &tr, cfg).unwrap();
    assert_close("roi_align forward", &y.to_vec(&g).unwrap(), &cpu::forward(&x, shape, rois, cfg), 1e-5);
    let dy = randn(&mut r, y.numel());
    let tdy = g.upload(y.shape(), &dy).unwrap();
    let dx = roi_align_backward(&g, &tdy, &shape, &tr, cfg).unwrap();
    assert_close("roi_align backward", &dx.to_vec(&g).unwrap(), &cpu::backward(&dy, shape, rois, cfg), 1e-5);
}

#[test]
fn matches_cpu_for_each_option() {
    let mut r = rng(50);
    let rois = random_rois(&mut r, 2, 29, 72.0);
    for (sr, aligned) in [(0, true), (0, false), (2, true), (3, false)] {
        let cfg = RoiAlignConfig { out_h: 7, out_w: 5, spatial_scale: 0.125, sampling_ratio: sr, aligned };
        check([2, 10, 9, 11], &rois, &cfg, 51 + sr as u64);
    }
}

#[test]
fn rois_outside_smaller_than_a_cell_and_on_a_1x1_map() {
    let cfg = RoiAlignConfig { spatial_scale: 0.25, ..Default::default() };
    // Partly outside, wholly outside, smaller than a cell, zero-area.
    let rois = [
        0.0, -20.0, -20.0, 10.0, 10.0, 0.0, 100.0, 100.0, 140.0, 130.0, 0.0, 9.0, 9.0, 10.0, 10.5, 0.0, 8.0, 8.0, 8.0,
        8.0,
    ];
    check([1, 3, 8, 8], &rois, &cfg, 52);
    check([1, 3, 8, 8], &rois, &RoiAlignConfig { aligned: false, sampling_ratio: 2, ..cfg }, 53);
    check([1, 2, 1, 1], &rois, &cfg, 54);
    let g = gpu();
    let tx = g.upload(&[1, 1, 8, 8], &[1.0; 64]).unwrap();
    let tr = g.upload(&[1, 5], &rois[5..10]).unwrap();
    let y = roi_align_forward(&g, &tx, &tr, &cfg).unwrap().to_vec(&g).unwrap();
    assert!(y.iter().all(|&v| v == 0.0), "wholly outside RoI gives zeros");
}

#[test]
fn constant_map_inside_gives_the_constant() {
    let g = gpu();
    let tx = g.upload(&[1, 1, 6, 6], &[2.5; 36]).unwrap();
    let tr = g.upload(&[1, 5], &[0.0, 4.0, 4.0, 20.0, 16.0]).unwrap();
    let y = roi_align_forward(&g, &tx, &tr, &RoiAlignConfig { spatial_scale: 0.25, ..Default::default() }).unwrap();
    for v in y.to_vec(&g).unwrap() {
        assert!((v - 2.5).abs() < 1e-6, "{v}");
    }
}

#[test]
fn one_sample_at_a_cell_centre_reads_that_cell() {
    // aligned, scale 1, RoI (2, 1)-(3, 2) px, 1x1 output, 1 sample: the sample is at (2, 1) in
    // cell coordinates after the half-pixel shift, i.e. exactly cell (y=1, x=2).
    let g = gpu();
    let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let tx = g.upload(&[1, 1, 4, 4], &x).unwrap();
    let tr = g.upload(&[1, 5], &[0.0, 2.0, 1.0, 3.0, 2.0]).unwrap();
    let cfg = RoiAlignConfig { out_h: 1, out_w: 1, spatial_scale: 1.0, sampling_ratio: 1, aligned: true };
    assert_eq!(roi_align_forward(&g, &tx, &tr, &cfg).unwrap().to_vec(&g).unwrap(), vec![6.0]);
}

#[test]
fn many_rois_beyond_one_workgroup() {
    let mut r = rng(55);
    let rois = random_rois(&mut r, 3, 300, 64.0);
    check([3, 9, 8, 8], &rois, &RoiAlignConfig::default(), 56);
}

#[test]
fn zero_rois() {
    let g = gpu();
    let tx = g.upload(&[1, 2, 3, 3], &[1.0; 18]).unwrap();
    let tr = g.upload(&[0, 5], &[]).unwrap();
    let cfg = RoiAlignConfig::default();
    let y = roi_align_forward(&g, &tx, &tr, &cfg).unwrap();
    assert_eq!(y.shape(), &[0, 2, 7, 7]);
    let dx = roi_align_backward(&g, &y, &[1, 2, 3, 3], &tr, &cfg).unwrap();
    assert_eq!(dx.to_vec(&g).unwrap(), vec![0.0; 18]);
}

#[test]
fn gradient_matches_finite_differences() {
    let shape = [2, 2, 5, 6];
    let rois = [0.0, 1.0, 2.0, 20.0, 18.0, 1.0, -3.0, 0.0, 11.0, 23.0, 1.0, 6.0, 3.0, 9.0, 7.0];
    for cfg in [
        RoiAlignConfig { out_h: 3, out_w: 2, spatial_scale: 0.25, sampling_ratio: 0, aligned: true },
        RoiAlignConfig { out_h: 2, out_w: 3, spatial_scale: 0.25, sampling_ratio: 2, aligned: false },
    ] {
        let n: usize = shape.iter().product();
        let mut r = rng(57);
        let mut x: Vec<f64> = (0..n).map(|_| r.gen_range(-1.0..1.0)).collect();
        let dy: Vec<f64> = (0..3 * 2 * cfg.out_h * cfg.out_w).map(|_| r.gen_range(-1.0..1.0)).collect();
        let loss =
            |x: &[f64]| -> f64 { cpu::forward_f64(x, shape, &rois, &cfg).iter().zip(&dy).map(|(a, b)| a * b).sum() };
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
        let tr = g.upload(&[3, 5], &rois).unwrap();
        let dyf: Vec<f32> = dy.iter().map(|&v| v as f32).collect();
        let tdy = g.upload(&[3, 2, cfg.out_h, cfg.out_w], &dyf).unwrap();
        let dx = roi_align_backward(&g, &tdy, &shape, &tr, &cfg).unwrap().to_vec(&g).unwrap();
        let analytic: Vec<f64> = dx.iter().map(|&v| v as f64).collect();
        let e = grad_rel_err(&analytic, &numeric);
        assert!(e < 1e-5, "roi_align gradient rel err {e:e} ({cfg:?})");
    }
}

#[test]
fn backward_across_many_tiles_for_both_alignments() {
    // A 37x45 map is 5x6 tiles of 8x8 cells: the backward walks per-tile RoI lists.
    let mut r = rng(56);
    let mut rois = random_rois(&mut r, 2, 60, 340.0);
    rois.extend([7.0, 10.0, 10.0, 50.0, 50.0]); // invalid batch index: no gradient
    for aligned in [true, false] {
        let cfg = RoiAlignConfig { spatial_scale: 0.125, aligned, ..Default::default() };
        check([2, 9, 37, 45], &rois, &cfg, 57);
    }
}

#[test]
fn backward_of_many_rois_stacked_on_one_cell_is_not_cut_short() {
    // 150 small RoIs over the same few cells: each costs a covered cell's thread ~1,800 loop
    // iterations at 7x7 bins x 2x2 samples, past lavapipe's 65,535-iteration cap for one
    // invocation unless the RoIs are processed in chunks.
    let mut r = rng(57);
    let mut rois = Vec::new();
    for _ in 0..150 {
        let (x, y) = (r.gen_range(8.0..10.0f32), r.gen_range(8.0..10.0f32));
        rois.extend([0.0, x, y, x + r.gen_range(1.0..6.0), y + r.gen_range(1.0..6.0)]);
    }
    let cfg = RoiAlignConfig { out_h: 7, out_w: 7, spatial_scale: 0.25, sampling_ratio: 2, aligned: true };
    check([1, 8, 6, 6], &rois, &cfg, 58);
}
