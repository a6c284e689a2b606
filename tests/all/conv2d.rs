//! Conv2d forward, backward-data, backward-weight and backward-bias against f64 CPU references for
//! both kernel variants, and finite-difference gradient checks of the backward passes.

use deeplesion::gpu::Variant;
use deeplesion::ops::conv2d::{self, cpu, Conv2dParams};
use deeplesion::ops::conv2d_3x3;
use deeplesion::testing::{assert_close, gpu, grad_rel_err, randn, rng};
use deeplesion::Gpu;

const VARIANTS: [Variant; 2] = [Variant::RegisterBlocked, Variant::WorkgroupTiled];

/// (variant, subgroup kernels switched off): register-blocked with the subgroup kernels (where the
/// adapter offers them, as lavapipe does) and without, then workgroup-tiled.
const RUNS: [(Variant, bool); 3] =
    [(Variant::RegisterBlocked, false), (Variant::RegisterBlocked, true), (Variant::WorkgroupTiled, false)];

/// A convolution case: input [n, c, h, w], o output channels, k x k kernel, stride, pad.
#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: usize,
    stride: usize,
    pad: usize,
}

/// `[n, c, h, w]` input, o output channels, k x k kernel, stride, pad.
const fn case([n, c, h, w]: [usize; 4], o: usize, k: usize, stride: usize, pad: usize) -> Case {
    Case { n, c, h, w, o, k, stride, pad }
}

/// Channels 3 and 67, kernels 1/3/5, stride 1/2, padding 0/1/2, batch > 1, widths off the 8-column
/// block; the last four are 3x3 stride 1 pad 1 with widths a multiple of 4 (the vec4 fast paths of all
/// three passes: odd vec4 counts a row, output channels off the 8-channel block, batch 3, 67 channels).
const CASES: [Case; 11] = [
    case([2, 3, 9, 11], 5, 3, 1, 1),
    case([1, 67, 6, 7], 9, 3, 2, 1),
    case([2, 4, 10, 9], 67, 5, 2, 2),
    case([1, 5, 7, 6], 3, 1, 1, 0),
    case([3, 3, 8, 13], 4, 3, 2, 0),
    case([1, 2, 5, 5], 3, 5, 1, 2),
    case([2, 6, 4, 17], 10, 1, 2, 1),
    case([2, 3, 5, 12], 67, 3, 1, 1),
    case([1, 67, 6, 4], 5, 3, 1, 1),
    case([3, 5, 7, 16], 9, 3, 1, 1),
    case([2, 67, 5, 8], 13, 3, 1, 1),
];

struct Data {
    xs: [usize; 4],
    ws: [usize; 4],
    ys: [usize; 4],
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    dy: Vec<f32>,
    p: Conv2dParams,
}

fn data(c: Case, seed: u64) -> Data {
    let mut r = rng(seed);
    let p = Conv2dParams { stride: c.stride, pad: c.pad };
    let (oh, ow) = (p.out_size(c.h, c.k).unwrap(), p.out_size(c.w, c.k).unwrap());
    let xs = [c.n, c.c, c.h, c.w];
    let ws = [c.o, c.c, c.k, c.k];
    let ys = [c.n, c.o, oh, ow];
    Data {
        x: randn(&mut r, xs.iter().product()),
        w: randn(&mut r, ws.iter().product()),
        b: randn(&mut r, c.o),
        dy: randn(&mut r, ys.iter().product()),
        xs,
        ws,
        ys,
        p,
    }
}

fn check_case(g: &Gpu, c: Case, seed: u64) {
    let d = data(c, seed);
    let f = cpu::to_f64;
    let want_y = cpu::to_f32(&cpu::forward(&f(&d.x), d.xs, &f(&d.w), d.ws, Some(&f(&d.b)), d.p));
    let want_relu: Vec<f32> = want_y.iter().map(|v| v.max(0.0)).collect();
    let want_dx = cpu::to_f32(&cpu::backward_data(&f(&d.dy), &f(&d.w), d.ws, d.xs, d.p));
    let want_dw = cpu::to_f32(&cpu::backward_weight(&f(&d.x), d.xs, &f(&d.dy), d.ws, d.p));
    let want_db = cpu::to_f32(&cpu::backward_bias(&f(&d.dy), d.ys));
    let x = g.upload(&d.xs, &d.x).unwrap();
    let w = g.upload(&d.ws, &d.w).unwrap();
    let b = g.upload(&[c.o], &d.b).unwrap();
    let dy = g.upload(&d.ys, &d.dy).unwrap();
    for (v, sg_off) in RUNS {
        g.force_variant(Some(v));
        g.disable_subgroups(sg_off);
        let name = |pass: &str| format!("{pass} {v:?} subgroups_off={sg_off} {c:?}");
        let y = conv2d::conv2d_forward(g, &x, &w, Some(&b), d.p).unwrap();
        assert_eq!(y.shape(), &d.ys);
        assert_close(&name("forward"), &y.to_vec(g).unwrap(), &want_y, 1e-5);
        let yr = conv2d::conv2d_forward_act(g, &x, &w, Some(&b), d.p, true).unwrap();
        assert_close(&name("forward+relu"), &yr.to_vec(g).unwrap(), &want_relu, 1e-5);
        let dx = conv2d::conv2d_backward_data(g, &dy, &w, &d.xs, d.p).unwrap();
        assert_close(&name("backward-data"), &dx.to_vec(g).unwrap(), &want_dx, 1e-5);
        let dw = conv2d::conv2d_backward_weight(g, &x, &dy, &d.ws, d.p).unwrap();
        assert_close(&name("backward-weight"), &dw.to_vec(g).unwrap(), &want_dw, 1e-5);
        g.disable_subgroups(false);
    }
    let db = conv2d::conv2d_backward_bias(g, &dy).unwrap();
    assert_close(&format!("backward-bias {c:?}"), &db.to_vec(g).unwrap(), &want_db, 1e-5);
}

#[test]
fn conv2d_passes_match_cpu_for_both_variants() {
    let g = gpu();
    for (i, &c) in CASES.iter().enumerate() {
        check_case(&g, c, 100 + i as u64);
    }
}

#[test]
fn one_bigger_conv2d_matches_cpu() {
    let g = gpu();
    check_case(&g, case([2, 16, 24, 29], 24, 3, 1, 1), 7);
    check_case(&g, case([2, 16, 20, 32], 20, 3, 1, 1), 8);
    // 3x3 without padding, 6 MFLOP: the explicit-GEMM path (conv2d_gemm), with bias and ReLU.
    check_case(&g, case([4, 32, 11, 11], 32, 3, 1, 0), 10);
    // Enough channels for 81 backward-weight workgroups: one chunk of rows, dw written directly.
    assert_eq!(conv2d_3x3::wgrad_chunks(67usize.div_ceil(8) * 67usize.div_ceil(8), 4), 1);
    check_case(&g, case([1, 67, 4, 8], 67, 3, 1, 1), 9);
}

#[test]
fn every_subgroup_channel_block_matches_cpu() {
    // The 3x3 subgroup kernels own 8, 16 or 32 output channels a lane, picked by fast3_block from
    // the pass's output channels (forward: O; backward-data: C). Full and partial blocks of each.
    assert_eq!([4, 9, 20, 40, 64, 67].map(conv2d_3x3::fast3_block), [8, 16, 32, 16, 32, 16]);
    // Backward-weight: 8 or 16 output channels a lane (the CASES above run both: O = 5 and 9).
    assert_eq!([4, 5, 9, 12, 67].map(conv2d_3x3::wgrad_block), [8, 8, 16, 16, 16]);
    let g = gpu();
    check_case(&g, case([2, 5, 6, 12], 20, 3, 1, 1), 20); // forward 32 (partial), backward-data 8
    check_case(&g, case([1, 20, 5, 8], 7, 3, 1, 1), 21); // forward 8, backward-data 32 (partial)
    check_case(&g, case([1, 9, 4, 16], 40, 3, 1, 1), 22); // forward 16 (partial), backward-data 16
    check_case(&g, case([1, 3, 4, 4], 64, 3, 1, 1), 23); // forward 32 (two full blocks)
}

#[test]
fn backward_weight_row_chunks_cover_the_rows_without_empty_chunks() {
    // The fast-path cases above run with 2-6 chunks (partial sums added by reduce::sum) and one.
    assert_eq!(conv2d_3x3::wgrad_chunks(9, 10), 3);
    assert_eq!(conv2d_3x3::wgrad_chunks(1, 100_000), 32);
    for groups in 1..40 {
        for rows in 1..300 {
            let chunks = conv2d_3x3::wgrad_chunks(groups, rows);
            let per = rows.div_ceil(chunks);
            assert!(chunks >= 1 && chunks * per >= rows && (chunks - 1) * per < rows, "{groups} {rows}: {chunks}");
            // At least 4 rows a chunk, and no more chunks than the 32-workgroup target needs.
            assert!(chunks <= rows.div_ceil(4) && chunks <= 32usize.div_ceil(groups), "{groups} {rows}: {chunks}");
        }
    }
}

#[test]
fn forward_without_bias_matches_cpu() {
    let g = gpu();
    let c = case([2, 3, 6, 7], 4, 3, 1, 1);
    let d = data(c, 3);
    let want = cpu::to_f32(&cpu::forward(&cpu::to_f64(&d.x), d.xs, &cpu::to_f64(&d.w), d.ws, None, d.p));
    let x = g.upload(&d.xs, &d.x).unwrap();
    let w = g.upload(&d.ws, &d.w).unwrap();
    for v in VARIANTS {
        g.force_variant(Some(v));
        let y = conv2d::conv2d_forward(&g, &x, &w, None, d.p).unwrap();
        assert_close(&format!("no bias {v:?}"), &y.to_vec(&g).unwrap(), &want, 1e-5);
    }
}

#[test]
fn bad_shapes_are_errors_naming_the_op() {
    let g = gpu();
    let x = g.upload(&[1, 3, 4, 4], &[0.0; 48]).unwrap();
    let w = g.upload(&[2, 4, 3, 3], &[0.0; 72]).unwrap();
    let e = conv2d::conv2d_forward(&g, &x, &w, None, Conv2dParams::default()).unwrap_err().to_string();
    assert!(e.contains("conv2d_forward") && e.contains("channels"), "{e}");
    let w = g.upload(&[2, 3, 5, 5], &[0.0; 150]).unwrap();
    let e = conv2d::conv2d_forward(&g, &x, &w, None, Conv2dParams::default()).unwrap_err().to_string();
    assert!(e.contains("does not fit"), "{e}");
}

/// Finite differences of L = sum(y * r) in f64 on the CPU against the GPU backward passes
/// (dL/dx = backward_data(r), dL/dw = backward_weight(x, r), dL/db = backward_bias(r)).
#[test]
fn conv2d_gradients_match_finite_differences() {
    let g = gpu();
    let cases = [case([2, 3, 5, 6], 4, 3, 2, 1), case([1, 2, 6, 5], 3, 5, 1, 2), case([1, 2, 3, 8], 3, 3, 1, 1)];
    for (i, c) in cases.into_iter().enumerate() {
        let d = data(c, 50 + i as u64);
        let (x, w, b, r) = (cpu::to_f64(&d.x), cpu::to_f64(&d.w), cpu::to_f64(&d.b), cpu::to_f64(&d.dy));
        let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
            cpu::forward(x, d.xs, w, d.ws, Some(b), d.p).iter().zip(&r).map(|(y, r)| y * r).sum()
        };
        let eps = 1e-6;
        let numeric = |which: usize, len: usize| -> Vec<f64> {
            (0..len)
                .map(|j| {
                    let (mut xp, mut wp, mut bp) = (x.clone(), w.clone(), b.clone());
                    let (mut xm, mut wm, mut bm) = (x.clone(), w.clone(), b.clone());
                    let (vp, vm) = match which {
                        0 => (&mut xp[j], &mut xm[j]),
                        1 => (&mut wp[j], &mut wm[j]),
                        _ => (&mut bp[j], &mut bm[j]),
                    };
                    *vp += eps;
                    *vm -= eps;
                    (loss(&xp, &wp, &bp) - loss(&xm, &wm, &bm)) / (2.0 * eps)
                })
                .collect()
        };
        let xt = g.upload(&d.xs, &d.x).unwrap();
        let wt = g.upload(&d.ws, &d.w).unwrap();
        let rt = g.upload(&d.ys, &d.dy).unwrap();
        for v in VARIANTS {
            g.force_variant(Some(v));
            let as64 = |t: deeplesion::Tensor| cpu::to_f64(&t.to_vec(&g).unwrap());
            let dx = as64(conv2d::conv2d_backward_data(&g, &rt, &wt, &d.xs, d.p).unwrap());
            let dw = as64(conv2d::conv2d_backward_weight(&g, &xt, &rt, &d.ws, d.p).unwrap());
            let db = as64(conv2d::conv2d_backward_bias(&g, &rt).unwrap());
            for (name, got, which) in [("dx", dx, 0), ("dw", dw, 1), ("db", db, 2)] {
                let err = grad_rel_err(&got, &numeric(which, got.len()));
                assert!(err < 1e-4, "{name} {v:?} {c:?}: gradient relative error {err:e}");
            }
        }
    }
}
