//! The explicit-GEMM convolution path: im2col and col2im against their CPU references, and the three
//! passes against the direct f64 convolution references, in one chunk of images and in several.

use deeplesion::gpu::Variant;
use deeplesion::ops::conv2d::{cpu, Conv2dParams};
use deeplesion::ops::conv2d_gemm::{self, GemmShape};
use deeplesion::testing::{assert_close, gpu, grad_rel_err, randn, rng};

/// input [n, c, h, w], o output channels, kh x kw kernel, stride, pad; chunk budget in bytes.
fn shape(
    [n, c, h, w]: [usize; 4],
    o: usize,
    [kh, kw]: [usize; 2],
    stride: usize,
    pad: usize,
    chunk_bytes: usize,
) -> GemmShape {
    let p = Conv2dParams { stride, pad };
    let (oh, ow) = ((h + 2 * pad - kh) / stride + 1, (w + 2 * pad - kw) / stride + 1);
    GemmShape { n, c, h, w, o, kh, kw, oh, ow, p, chunk_bytes }
}

/// The paper head's conv6 (3x3, no padding, 7x7) and conv7 (5x5 on 5x5) in miniature, a 1x1 with
/// stride 2 and padding, a strided 3x3 with odd sizes, a non-square kernel with padding 2.
fn shapes(chunk_bytes: usize) -> Vec<GemmShape> {
    vec![
        shape([3, 8, 7, 7], 12, [3, 3], 1, 0, chunk_bytes),
        shape([3, 4, 5, 5], 8, [5, 5], 1, 0, chunk_bytes),
        shape([2, 4, 9, 11], 8, [1, 1], 2, 1, chunk_bytes),
        shape([3, 12, 9, 10], 16, [3, 3], 2, 1, chunk_bytes),
        shape([2, 4, 6, 5], 4, [3, 5], 1, 2, chunk_bytes),
    ]
}

#[test]
fn im2col_and_col2im_match_cpu() {
    let g = gpu();
    let mut r = rng(40);
    for s in shapes(usize::MAX) {
        let x = randn(&mut r, s.n * s.c * s.h * s.w);
        let xt = g.upload(&[s.n, s.c, s.h, s.w], &x).unwrap();
        // A chunk that starts past image 0 and one that covers the rest.
        for (n0, nc) in [(1, s.n - 1), (0, 1)] {
            let cols = conv2d_gemm::im2col(&g, &xt, &s, n0, nc).unwrap();
            let want = conv2d_gemm::cpu::im2col(&x, &s, n0, nc);
            assert_close(&format!("im2col {s:?} n0={n0}"), &cols.to_vec(&g).unwrap(), &want, 0.0);
            let dcols = randn(&mut r, want.len());
            let dct = g.upload(&[want.len()], &dcols).unwrap();
            let dx = g.empty("test", &[s.n, s.c, s.h, s.w], deeplesion::tensor::DType::F32).unwrap();
            conv2d_gemm::col2im(&g, &dct, &dx, &s, n0, nc).unwrap();
            let per = s.c * s.h * s.w;
            let got = dx.to_vec(&g).unwrap()[n0 * per..(n0 + nc) * per].to_vec();
            let want = conv2d_gemm::cpu::col2im(&dcols, &s, n0, nc)[n0 * per..(n0 + nc) * per].to_vec();
            assert_close(&format!("col2im {s:?} n0={n0}"), &got, &want, 1e-6);
        }
    }
}

#[test]
fn gemm_passes_match_the_direct_references_in_one_chunk_and_several() {
    let g = gpu();
    g.force_variant(Some(Variant::RegisterBlocked));
    let mut r = rng(41);
    // One image a chunk (a budget of one image's largest unfolded matrix), and all in one.
    for one_image in [true, false] {
        for s0 in shapes(usize::MAX) {
            let per_image = s0.oh * s0.ow * (s0.c * s0.kh * s0.kw).max(s0.o) * 4;
            let s = GemmShape { chunk_bytes: if one_image { per_image } else { 64 << 20 }, ..s0 };
            let (xs, ws) = ([s.n, s.c, s.h, s.w], [s.o, s.c, s.kh, s.kw]);
            let ys = [s.n, s.o, s.oh, s.ow];
            let (x, w) = (randn(&mut r, xs.iter().product()), randn(&mut r, ws.iter().product()));
            let dy = randn(&mut r, ys.iter().product());
            let f = cpu::to_f64;
            let (xt, wt, dyt) = (g.upload(&xs, &x).unwrap(), g.upload(&ws, &w).unwrap(), g.upload(&ys, &dy).unwrap());
            let case = format!("{s:?} one image a chunk: {one_image}");
            let y = conv2d_gemm::forward(&g, &xt, &wt, &s).unwrap();
            assert_eq!(y.shape(), &ys);
            let want = cpu::to_f32(&cpu::forward(&f(&x), xs, &f(&w), ws, None, s.p));
            assert_close(&format!("forward {case}"), &y.to_vec(&g).unwrap(), &want, 1e-5);
            let dx = conv2d_gemm::backward_data(&g, &dyt, &wt, &s).unwrap();
            let want = cpu::to_f32(&cpu::backward_data(&f(&dy), &f(&w), ws, xs, s.p));
            assert_close(&format!("backward-data {case}"), &dx.to_vec(&g).unwrap(), &want, 1e-5);
            let dw = conv2d_gemm::backward_weight(&g, &xt, &dyt, &s).unwrap();
            assert_eq!(dw.shape(), &ws);
            let want = cpu::to_f32(&cpu::backward_weight(&f(&x), xs, &f(&dy), ws, s.p));
            assert_close(&format!("backward-weight {case}"), &dw.to_vec(&g).unwrap(), &want, 1e-5);
        }
    }
    g.force_variant(None);
}

#[test]
fn only_aligned_shapes_that_fit_take_the_gemm_path() {
    let s = shape([1, 8, 7, 7], 12, [3, 3], 1, 0, 64 << 20);
    assert!(conv2d_gemm::applies(&s, true));
    // 43 kFLOP: the direct kernel is cheaper than the path's extra dispatches; 128 RoIs: 5.5 MFLOP.
    assert!(!conv2d_gemm::worth_it(&s));
    assert!(conv2d_gemm::worth_it(&GemmShape { n: 128, ..s }));
    // K = 3 x 9 = 27 is not a multiple of 4: the vec4 matmul kernels cannot take it.
    assert!(!conv2d_gemm::applies(&GemmShape { c: 3, ..s }, false));
    // O = 10: fine for forward and backward-data, not for backward-weight (A^T stored [P, O]).
    assert!(conv2d_gemm::applies(&GemmShape { o: 10, ..s }, false));
    assert!(!conv2d_gemm::applies(&GemmShape { o: 10, ..s }, true));
    // One image's unfolded matrix past the budget.
    assert!(!conv2d_gemm::applies(&GemmShape { chunk_bytes: 1000, ..s }, false));
}

#[test]
fn gemm_gradients_match_finite_differences() {
    // L = sum(conv(x, w) * r): dL/dx and dL/dw from the GEMM backward passes against central
    // differences of the f64 forward reference; the second case runs one image a chunk.
    let g = gpu();
    let mut r = rng(42);
    for s in [shape([2, 4, 5, 5], 4, [3, 3], 1, 0, 64 << 20), shape([2, 4, 6, 5], 8, [1, 3], 2, 1, 600)] {
        let (xs, ws, ys) = ([s.n, s.c, s.h, s.w], [s.o, s.c, s.kh, s.kw], [s.n, s.o, s.oh, s.ow]);
        let (x, w, rr) = (
            randn(&mut r, xs.iter().product()),
            randn(&mut r, ws.iter().product()),
            randn(&mut r, ys.iter().product()),
        );
        let (x64, w64, r64) = (cpu::to_f64(&x), cpu::to_f64(&w), cpu::to_f64(&rr));
        let loss = |x: &[f64], w: &[f64]| -> f64 {
            cpu::forward(x, xs, w, ws, None, s.p).iter().zip(&r64).map(|(y, r)| y * r).sum()
        };
        let eps = 1e-6;
        let numeric = |of_x: bool| -> Vec<f64> {
            let len = if of_x { x64.len() } else { w64.len() };
            (0..len)
                .map(|j| {
                    let (mut a, mut b) = if of_x { (x64.clone(), x64.clone()) } else { (w64.clone(), w64.clone()) };
                    a[j] += eps;
                    b[j] -= eps;
                    let (lp, lm) =
                        if of_x { (loss(&a, &w64), loss(&b, &w64)) } else { (loss(&x64, &a), loss(&x64, &b)) };
                    (lp - lm) / (2.0 * eps)
                })
                .collect()
        };
        let (xt, wt, rt) = (g.upload(&xs, &x).unwrap(), g.upload(&ws, &w).unwrap(), g.upload(&ys, &rr).unwrap());
        let as64 = |t: deeplesion::Tensor| t.to_vec(&g).unwrap().into_iter().map(f64::from).collect::<Vec<_>>();
        let dx = as64(conv2d_gemm::backward_data(&g, &rt, &wt, &s).unwrap());
        let dw = as64(conv2d_gemm::backward_weight(&g, &xt, &rt, &s).unwrap());
        let (ex, ew) = (grad_rel_err(&dx, &numeric(true)), grad_rel_err(&dw, &numeric(false)));
        assert!(ex < 1e-4 && ew < 1e-4, "{s:?}: dx {ex:e}, dw {ew:e}");
    }
}
