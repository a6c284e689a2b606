//! The tape: gradients of every op checked against f64 finite differences, accumulation, frozen
//! parameters, the custom-op extension point, and the composed network.

use crate::losses::numeric_grad;
use deeplesion::autograd::{ParamId, Tape};
use deeplesion::ops::elementwise as ew;
use deeplesion::testing::{gpu, grad_rel_err, randn, rng};
use deeplesion::Gpu;

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Builds the graph with `build` from leaves holding `inputs`, runs backward on its `[1]` output,
/// and compares each input's gradient with central differences of `reference` (an f64 forward
/// over the concatenated inputs).
pub fn check(
    g: &Gpu,
    case: &str,
    inputs: &[(&[usize], Vec<f32>)],
    build: impl Fn(&Tape, &[deeplesion::autograd::Var]) -> deeplesion::Result<deeplesion::autograd::Var>,
    reference: impl Fn(&[Vec<f64>]) -> f64,
    tol: f64,
) {
    let tape = Tape::new(g);
    let vars: Vec<_> = inputs.iter().map(|(s, v)| tape.leaf(&g.upload(s, v).unwrap(), true)).collect();
    let loss = build(&tape, &vars).unwrap();
    let got_loss = loss.value().to_vec(g).unwrap()[0] as f64;
    let x64: Vec<Vec<f64>> = inputs.iter().map(|(_, v)| f64s(v)).collect();
    let want_loss = reference(&x64);
    assert!(
        (got_loss - want_loss).abs() <= 1e-4 * want_loss.abs().max(1.0),
        "{case}: forward {got_loss} vs f64 {want_loss}"
    );
    let grads = tape.backward(&loss).unwrap();
    for (k, v) in vars.iter().enumerate() {
        let got = f64s(&grads.get(v).unwrap_or_else(|| panic!("{case}: input {k} has no gradient")).to_vec(g).unwrap());
        let num = numeric_grad(&x64[k], |xk| {
            let mut all = x64.clone();
            all[k] = xk.to_vec();
            reference(&all)
        });
        let e = grad_rel_err(&got, &num);
        assert!(e <= tol, "{case}: input {k} gradient rel err {e:e} > {tol:e}");
    }
}

fn relu(v: f64) -> f64 {
    v.max(0.0)
}

#[test]
fn elementwise_ops_and_sums_have_correct_gradients() {
    let g = gpu();
    let mut r = rng(40);
    let n = 37;
    let (a, b) = (randn(&mut r, n), randn(&mut r, n));
    // mean(relu(a * b + 0.5 a)) + sum(b)
    check(
        &g,
        "mul/add/scale/relu/mean/sum",
        &[(&[n], a), (&[n], b)],
        |t, v| {
            let ab = t.mul(&v[0], &v[1])?;
            let h = t.add(&ab, &t.scale(&v[0], 0.5)?)?;
            let m = t.mean_all(&t.relu(&h)?)?;
            t.add(&m, &t.sum_all(&v[1])?)
        },
        |x| {
            let m: f64 = (0..n).map(|i| relu(x[0][i] * x[1][i] + 0.5 * x[0][i])).sum::<f64>() / n as f64;
            m + x[1].iter().sum::<f64>()
        },
        1e-4,
    );
}

#[test]
fn reshape_and_bias_add_have_correct_gradients() {
    let g = gpu();
    let mut r = rng(41);
    let (nb, c, hw) = (2, 3, 5);
    let x = randn(&mut r, nb * c * hw);
    let b = randn(&mut r, c);
    let w = randn(&mut r, nb * c * hw);
    let wt = g.upload(&[nb, c * hw], &w).unwrap();
    check(
        &g,
        "bias_add/reshape",
        &[(&[nb, c, hw], x), (&[c], b)],
        |t, v| {
            let y = t.bias_add(&v[0], &v[1], 1)?;
            let y = t.reshape(&y, &[nb, c * hw])?;
            let wv = t.input(&wt);
            t.sum_all(&t.mul(&y, &wv)?)
        },
        |x| (0..nb * c * hw).map(|i| (x[0][i] + x[1][(i / hw) % c]) * w[i] as f64).sum(),
        1e-4,
    );
}

#[test]
fn loss_ops_have_correct_gradients() {
    let g = gpu();
    let mut r = rng(42);
    let (n, c) = (6, 4);
    let logits = randn(&mut r, n * c);
    let labels = [0i64, 3, -1, 2, 1, 3];
    let lt = g.upload_i32(&[n], &labels.iter().map(|&l| l as i32).collect::<Vec<_>>()).unwrap();
    let w = [1.0f32, 0.5, 1.0, 2.0, 1.0, 0.25];
    let wt = g.upload(&[n], &w).unwrap();
    let w64 = f64s(&w);
    check(
        &g,
        "softmax_ce through a scale",
        &[(&[n, c], logits)],
        |t, v| t.softmax_ce(&t.scale(&v[0], 2.0)?, &lt, Some(&wt), Some(-1)),
        |x| {
            let s: Vec<f64> = x[0].iter().map(|v| 2.0 * v).collect();
            deeplesion::ops::softmax_ce::cpu::forward(&s, c, &labels, Some(&w64), Some(-1))
        },
        1e-4,
    );
    let m = 4 * 9;
    let pred = randn(&mut r, m);
    let target = randn(&mut r, m);
    let tt = g.upload(&[m], &target).unwrap();
    let t64 = f64s(&target);
    check(
        &g,
        "smooth_l1",
        &[(&[m], pred)],
        |t, v| t.smooth_l1(&v[0], &tt, None, 3.0, 4.0),
        |x| deeplesion::ops::smooth_l1::cpu::forward(&x[0], &t64, None, 3.0, 4.0),
        1e-4,
    );
}

#[test]
fn a_variable_used_twice_accumulates_its_gradient() {
    let g = gpu();
    let x = vec![0.5f32, -1.0, 2.0];
    check(
        &g,
        "x*x + x",
        &[(&[3], x)],
        |t, v| {
            let sq = t.mul(&v[0], &v[0])?;
            t.sum_all(&t.add(&sq, &v[0])?)
        },
        |x| x[0].iter().map(|v| v * v + v).sum(),
        1e-5,
    );
}

#[test]
fn custom_ops_plug_into_the_tape() {
    let g = gpu();
    let x = vec![0.5f32, -1.0, 2.0, 3.0];
    // A "cube" op defined outside the library: y = x^3, dy/dx = 3 x^2.
    check(
        &g,
        "custom cube",
        &[(&[4], x)],
        |t, v| {
            let xv = v[0].value().clone();
            let sq = ew::mul(t.gpu(), &xv, &xv)?;
            let y = ew::mul(t.gpu(), &sq, &xv)?;
            let cube = t.custom_op(
                "cube",
                &[&v[0]],
                y,
                Box::new(move |gpu, dy, _| Ok(vec![Some(ew::mul(gpu, dy, &ew::scale(gpu, &sq, 3.0)?)?)])),
            );
            t.sum_all(&cube)
        },
        |x| x[0].iter().map(|v| v * v * v).sum(),
        1e-5,
    );
}

#[test]
fn frozen_parameters_get_no_gradient_and_untracked_graphs_record_nothing() {
    let g = gpu();
    let tape = Tape::new(&g);
    let w = g.upload(&[3], &[1.0, 2.0, 3.0]).unwrap();
    let v = g.upload(&[3], &[1.0, 1.0, 1.0]).unwrap();
    let x = tape.input(&g.upload(&[3], &[4.0, 5.0, 6.0]).unwrap());
    let pw = tape.param(ParamId(0), &w, true);
    let pv = tape.param(ParamId(1), &v, false);
    assert!(!pw.tracked() && pv.tracked());
    // Asking again gives the same variable.
    assert_eq!(tape.param(ParamId(1), &v, false).id(), pv.id());
    let h = tape.mul(&x, &pw).unwrap();
    assert!(tape.is_empty(), "an op on untracked inputs must record nothing");
    let loss = tape.sum_all(&tape.mul(&h, &pv).unwrap()).unwrap();
    let grads = tape.backward(&loss).unwrap();
    assert!(grads.param(ParamId(0)).is_none());
    assert_eq!(grads.param(ParamId(1)).unwrap().to_vec(&g).unwrap(), vec![4.0, 10.0, 18.0]);
}

#[test]
fn permute_has_the_inverse_permutation_as_gradient() {
    let g = gpu();
    let mut r = rng(43);
    let shape = [2usize, 3, 4, 5];
    let x = randn(&mut r, 120);
    let w = randn(&mut r, 120);
    let wt = g.upload(&[2, 4, 5, 3], &w).unwrap();
    check(
        &g,
        "permute NCHW->NHWC",
        &[(&shape, x)],
        |t, v| t.sum_all(&t.mul(&t.permute(&v[0], &[0, 2, 3, 1])?, &t.input(&wt))?),
        |x| {
            // The permutation only moves values: permute the indices (exact in f32) and gather in f64.
            let idx: Vec<f32> = (0..120).map(|i| i as f32).collect();
            let perm_idx = deeplesion::ops::permute::cpu::permute(&idx, &shape, &[0, 2, 3, 1]);
            perm_idx.iter().zip(&w).map(|(&i, &wv)| x[0][i as usize] * wv as f64).sum()
        },
        1e-5,
    );
}

#[test]
fn a_no_grad_tape_records_nothing() {
    let g = gpu();
    let tape = Tape::no_grad(&g);
    let w = g.upload(&[3], &[1.0, 2.0, 3.0]).unwrap();
    let p = tape.param(ParamId(0), &w, false);
    let y = tape.relu(&tape.mul(&p, &p).unwrap()).unwrap();
    assert!(!p.tracked() && !y.tracked() && tape.is_empty());
    assert_eq!(y.value().to_vec(&g).unwrap(), vec![1.0, 4.0, 9.0]);
    assert!(tape.backward(&tape.sum_all(&y).unwrap()).unwrap().is_empty());
}

#[test]
fn axis_sums_and_means_have_correct_gradients() {
    let g = gpu();
    let mut r = rng(44);
    let (a, b, c) = (3usize, 4usize, 5usize);
    let x = randn(&mut r, a * b * c);
    let w = randn(&mut r, a * c);
    let wt = g.upload(&[a, c], &w).unwrap();
    let w2 = randn(&mut r, a * b);
    let wt2 = g.upload(&[a, b], &w2).unwrap();
    check(
        &g,
        "sum axis 1 + mean axis 2",
        &[(&[a, b, c], x)],
        |t, v| {
            let s = t.sum_all(&t.mul(&t.sum(&v[0], 1)?, &t.input(&wt))?)?;
            let m = t.sum_all(&t.mul(&t.mean(&v[0], 2)?, &t.input(&wt2))?)?;
            t.add(&s, &m)
        },
        |x| {
            let mut total = 0.0;
            for i in 0..a {
                for k in 0..c {
                    total += w[i * c + k] as f64 * (0..b).map(|j| x[0][(i * b + j) * c + k]).sum::<f64>();
                }
                for j in 0..b {
                    total += w2[i * b + j] as f64 * (0..c).map(|k| x[0][(i * b + j) * c + k]).sum::<f64>() / c as f64;
                }
            }
            total
        },
        1e-4,
    );
}
