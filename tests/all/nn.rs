//! The nn layers: a composed network's gradients against f64 finite differences, the parameter
//! store, frozen parameters, a 20-step training run whose loss falls, and a training step that
//! allocates nothing after the first and reads back exactly once.

use crate::losses::numeric_grad;
use deeplesion::autograd::Tape;
use deeplesion::gpu::Variant;
use deeplesion::nn::smoke::{self, TinyCnn};
use deeplesion::nn::{Conv2d, Flatten, Linear, MaxPool2d, Module, ParamStore, ReLU, Sequential};
use deeplesion::ops::init::Init;
use deeplesion::testing::{gpu, grad_rel_err, randn, rng};
use deeplesion::Gpu;
use rand::SeedableRng;

/// f64 forward references of the layers (NCHW, weights `[out, in, kh, kw]`, linear `[out, in]`).
pub mod f64ref {
    /// Returns (y, [n, o, oh, ow]).
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d(
        x: &[f64],
        xs: [usize; 4],
        w: &[f64],
        ws: [usize; 4],
        b: Option<&[f64]>,
        stride: usize,
        pad: usize,
    ) -> (Vec<f64>, [usize; 4]) {
        let [n, c, h, wd] = xs;
        let [o, _, kh, kw] = ws;
        let oh = (h + 2 * pad - kh) / stride + 1;
        let ow = (wd + 2 * pad - kw) / stride + 1;
        let mut y = vec![0.0; n * o * oh * ow];
        for ni in 0..n {
            for oi in 0..o {
                for yi in 0..oh {
                    for xi in 0..ow {
                        let mut acc = b.map_or(0.0, |b| b[oi]);
                        for ci in 0..c {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (yi * stride + ky) as isize - pad as isize;
                                    let ix = (xi * stride + kx) as isize - pad as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    acc += x[((ni * c + ci) * h + iy as usize) * wd + ix as usize]
                                        * w[((oi * c + ci) * kh + ky) * kw + kx];
                                }
                            }
                        }
                        y[((ni * o + oi) * oh + yi) * ow + xi] = acc;
                    }
                }
            }
        }
        (y, [n, o, oh, ow])
    }

    /// Max-pool without padding, output size floor((h - k) / s) + 1.
    pub fn maxpool(x: &[f64], xs: [usize; 4], k: usize, s: usize) -> (Vec<f64>, [usize; 4]) {
        let [n, c, h, w] = xs;
        let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1);
        let mut y = vec![f64::NEG_INFINITY; n * c * oh * ow];
        for nc in 0..n * c {
            for yi in 0..oh {
                for xi in 0..ow {
                    let out = &mut y[(nc * oh + yi) * ow + xi];
                    for ky in 0..k {
                        for kx in 0..k {
                            *out = out.max(x[(nc * h + yi * s + ky) * w + xi * s + kx]);
                        }
                    }
                }
            }
        }
        (y, [n, c, oh, ow])
    }

    /// x `[n, fin]` @ w^T + b.
    pub fn linear(x: &[f64], n: usize, w: &[f64], fout: usize, b: Option<&[f64]>) -> Vec<f64> {
        let fin = x.len() / n;
        let mut y = vec![0.0; n * fout];
        for i in 0..n {
            for o in 0..fout {
                y[i * fout + o] =
                    b.map_or(0.0, |b| b[o]) + (0..fin).map(|k| x[i * fin + k] * w[o * fin + k]).sum::<f64>();
            }
        }
        y
    }

    pub fn relu(x: &[f64]) -> Vec<f64> {
        x.iter().map(|v| v.max(0.0)).collect()
    }
}

#[test]
fn composed_network_gradients_match_finite_differences() {
    let g = gpu();
    // Both kernel variants, whatever the adapter.
    for v in [Variant::RegisterBlocked, Variant::WorkgroupTiled] {
        g.force_variant(Some(v));
        composed_case(&g);
    }
    g.force_variant(None);
}

fn composed_case(g: &Gpu) {
    // conv(3->4, 3x3, stride 1, pad 1) relu maxpool(2,2) flatten linear(4*3*3 -> 3) cross-entropy,
    // batch 2 of 3x7x6 images (odd sizes: the pool drops the last row).
    let (n, c, h, w, o, classes) = (2usize, 3usize, 7usize, 6usize, 4usize, 3usize);
    let mut store = ParamStore::new(5);
    let model = Sequential::new()
        .add(Conv2d::new(g, &mut store, "conv", c, o, 3, 1, 1).unwrap())
        .add(ReLU)
        .add(MaxPool2d::new(2, 2))
        .add(Flatten)
        .add(Linear::with_init(g, &mut store, "fc", o * 3 * 3, classes, Init::Normal { std: 0.3 }).unwrap());
    let mut r = rng(50);
    // Non-zero biases so they are exercised.
    store.load(g, "conv.bias", None, &randn(&mut r, o)).unwrap();
    store.load(g, "fc.bias", None, &randn(&mut r, classes)).unwrap();
    let x = randn(&mut r, n * c * h * w);
    let labels = [2u32, 0];
    let lt = g.upload_u32(&[n], &labels).unwrap();

    let tape = Tape::new(g);
    let xv = tape.leaf(&g.upload(&[n, c, h, w], &x).unwrap(), true);
    let logits = model.forward(&tape, &store, &xv).unwrap();
    assert_eq!(logits.shape(), &[n, classes]);
    let loss = tape.softmax_ce(&logits, &lt, None, None).unwrap();
    let grads = tape.backward(&loss).unwrap();

    let host = |name: &str| -> Vec<f64> {
        store.get(store.id(name).unwrap()).value.to_vec(g).unwrap().iter().map(|&v| v as f64).collect()
    };
    // Inputs in order: x, conv.weight, conv.bias, fc.weight, fc.bias.
    let vals: Vec<Vec<f64>> = vec![
        x.iter().map(|&v| v as f64).collect(),
        host("conv.weight"),
        host("conv.bias"),
        host("fc.weight"),
        host("fc.bias"),
    ];
    let lab64: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let forward = |v: &[Vec<f64>]| -> f64 {
        let (y, ys) = f64ref::conv2d(&v[0], [n, c, h, w], &v[1], [o, c, 3, 3], Some(&v[2]), 1, 1);
        let (p, _) = f64ref::maxpool(&f64ref::relu(&y), ys, 2, 2);
        let z = f64ref::linear(&p, n, &v[3], classes, Some(&v[4]));
        deeplesion::ops::softmax_ce::cpu::forward(&z, classes, &lab64, None, None)
    };
    let got_loss = loss.value().to_vec(g).unwrap()[0] as f64;
    assert!((got_loss - forward(&vals)).abs() < 1e-4, "forward {got_loss} vs {}", forward(&vals));
    let got: Vec<Vec<f32>> = vec![
        grads.get(&xv).unwrap().to_vec(g).unwrap(),
        grads.param(store.id("conv.weight").unwrap()).unwrap().to_vec(g).unwrap(),
        grads.param(store.id("conv.bias").unwrap()).unwrap().to_vec(g).unwrap(),
        grads.param(store.id("fc.weight").unwrap()).unwrap().to_vec(g).unwrap(),
        grads.param(store.id("fc.bias").unwrap()).unwrap().to_vec(g).unwrap(),
    ];
    for (k, name) in ["x", "conv.weight", "conv.bias", "fc.weight", "fc.bias"].iter().enumerate() {
        let num = numeric_grad(&vals[k], |vk| {
            let mut all = vals.clone();
            all[k] = vk.to_vec();
            forward(&all)
        });
        let a: Vec<f64> = got[k].iter().map(|&v| v as f64).collect();
        let e = grad_rel_err(&a, &num);
        assert!(e < 1e-3, "{name}: gradient rel err {e:e}");
    }
}

#[test]
fn parameter_store_names_loads_and_freezes() {
    let g = gpu();
    let mut store = ParamStore::new(1);
    let conv = Conv2d::new(&g, &mut store, "conv1", 1, 2, 3, 1, 1).unwrap();
    let _fc = Linear::new(&g, &mut store, "fc", 4, 2).unwrap();
    let names: Vec<String> = store.named().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["conv1.weight", "conv1.bias", "fc.weight", "fc.bias"]);
    assert_eq!(store.numel(), 2 * 9 + 2 + 8 + 2);
    assert!(store.add_zeros(&g, "fc.bias", &[2]).is_err(), "duplicate names are refused");
    store.load(&g, "conv1.bias", Some(&[2]), &[1.5, -2.0]).unwrap();
    assert_eq!(store.get(conv.bias.unwrap()).value.to_vec(&g).unwrap(), vec![1.5, -2.0]);
    assert!(store.load(&g, "conv1.bias", Some(&[1, 2]), &[1.5, -2.0]).is_err());
    assert!(store.load(&g, "nope", None, &[1.0]).is_err());
    assert_eq!(store.set_frozen("conv1", true), 2);
    assert!(store.get(conv.weight).frozen && !store.get(store.id("fc.weight").unwrap()).frozen);
    // The same seed and name give the same initial values, whatever the order of creation.
    let mut other = ParamStore::new(1);
    let _ = Linear::new(&g, &mut other, "fc", 4, 2).unwrap();
    let a = store.get(store.id("fc.weight").unwrap()).value.to_vec(&g).unwrap();
    let b = other.get(other.id("fc.weight").unwrap()).value.to_vec(&g).unwrap();
    assert_eq!(a, b);
}

#[test]
fn frozen_layers_are_not_updated() {
    let g = gpu();
    let mut net = TinyCnn::new(&g, 3).unwrap();
    assert_eq!(net.store.set_frozen("conv1", true), 2);
    let before: Vec<(String, Vec<f32>)> =
        net.store.named().into_iter().map(|(n, p)| (n, p.value.to_vec(&g).unwrap())).collect();
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let (img, lab) = smoke::batch(&mut r);
    let images = g.upload(&[smoke::BATCH, 1, smoke::SIDE, smoke::SIDE], &img).unwrap();
    let labels = g.upload_u32(&[smoke::BATCH], &lab).unwrap();
    net.step(&g, &images, &labels).unwrap().to_vec(&g).unwrap();
    for (name, old) in before {
        let new = net.store.get(net.store.id(&name).unwrap()).value.to_vec(&g).unwrap();
        if name.starts_with("conv1") {
            assert_eq!(new, old, "{name} is frozen but changed");
        } else {
            assert_ne!(new, old, "{name} was not updated");
        }
    }
}

#[test]
fn a_tiny_cnn_learns_and_a_step_allocates_nothing_after_the_first() {
    let g = gpu();
    let mut seen = 0;
    let losses = smoke::train_tiny_cnn(&g, 20, 7, &mut |_, _| seen += 1).unwrap();
    assert_eq!(seen, 20);
    let first: f32 = losses[..4].iter().sum::<f32>() / 4.0;
    let last: f32 = losses[16..].iter().sum::<f32>() / 4.0;
    assert!(last < 0.5 * first, "loss did not fall clearly: {losses:?}");

    // Counters: after the first step, no new buffers; each step one submit and one readback.
    let mut net = TinyCnn::new(&g, 8).unwrap();
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let mut run_step = |net: &mut TinyCnn| {
        let (img, lab) = smoke::batch(&mut r);
        let loss = {
            let images = g.upload(&[smoke::BATCH, 1, smoke::SIDE, smoke::SIDE], &img).unwrap();
            let labels = g.upload_u32(&[smoke::BATCH], &lab).unwrap();
            net.step(&g, &images, &labels).unwrap()
        };
        loss.to_vec(&g).unwrap()[0]
    };
    run_step(&mut net);
    let s0 = g.stats();
    for _ in 0..3 {
        run_step(&mut net);
    }
    let s1 = g.stats();
    assert_eq!(s1.buffers_created, s0.buffers_created, "steps after the first created buffers");
    assert_eq!(s1.readbacks - s0.readbacks, 3, "one readback per step");
    assert_eq!(s1.submits - s0.submits, 3, "one submit per step");
}

#[test]
fn layer_ops_have_correct_gradients_through_the_tape() {
    use crate::autograd::check;
    use deeplesion::ops::conv2d::Conv2dParams;
    use deeplesion::ops::maxpool::MaxPool2dParams;
    let g = gpu();
    let mut r = rng(51);
    let (m, k, n) = (3usize, 5usize, 4usize);
    let wsum = randn(&mut r, m * n);
    let wt = g.upload(&[m, n], &wsum).unwrap();
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let ashape = if ta { [k, m] } else { [m, k] };
        let bshape = if tb { [n, k] } else { [k, n] };
        let a = randn(&mut r, m * k);
        let b = randn(&mut r, k * n);
        check(
            &g,
            &format!("matmul ta={ta} tb={tb}"),
            &[(&ashape, a), (&bshape, b)],
            |t, v| t.sum_all(&t.mul(&t.matmul(&v[0], &v[1], ta, tb)?, &t.input(&wt))?),
            |x| {
                let at = |i: usize, j: usize| if ta { x[0][j * m + i] } else { x[0][i * k + j] };
                let bt = |i: usize, j: usize| if tb { x[1][j * k + i] } else { x[1][i * n + j] };
                let mut s = 0.0;
                for i in 0..m {
                    for j in 0..n {
                        s += wsum[i * n + j] as f64 * (0..k).map(|l| at(i, l) * bt(l, j)).sum::<f64>();
                    }
                }
                s
            },
            1e-4,
        );
    }
    // conv2d 5x5, stride 2, pad 2, with bias; then max-pool 3x3 stride 2; weighted sum.
    let (nb, c, h, w, o) = (2usize, 3usize, 9usize, 8usize, 2usize);
    let x = randn(&mut r, nb * c * h * w);
    let wk = randn(&mut r, o * c * 25);
    let bias = randn(&mut r, o);
    let cp = Conv2dParams { stride: 2, pad: 2 };
    let pp = MaxPool2dParams { kernel: 3, stride: 2, pad: 0 };
    // conv out 5x4, pool out 2x1
    let wpool = randn(&mut r, nb * o * 2);
    let wp = g.upload(&[nb, o, 2, 1], &wpool).unwrap();
    check(
        &g,
        "conv2d 5x5 s2 p2 + maxpool 3/2",
        &[(&[nb, c, h, w], x), (&[o, c, 5, 5], wk), (&[o], bias)],
        |t, v| {
            let y = t.conv2d(&v[0], &v[1], Some(&v[2]), cp)?;
            let p = t.maxpool2d(&y, pp)?;
            t.sum_all(&t.mul(&p, &t.input(&wp))?)
        },
        |x| {
            let (y, ys) = f64ref::conv2d(&x[0], [nb, c, h, w], &x[1], [o, c, 5, 5], Some(&x[2]), 2, 2);
            let (p, _) = f64ref::maxpool(&y, ys, 3, 2);
            p.iter().zip(&wpool).map(|(a, b)| a * *b as f64).sum()
        },
        1e-3,
    );
}

#[test]
fn checkpoints_round_trip_by_name() {
    let g = gpu();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    let a = TinyCnn::new(&g, 1).unwrap();
    a.store.save(&g, &path).unwrap();
    let b = TinyCnn::new(&g, 2).unwrap();
    let report = b.store.load_file(&g, &path, true).unwrap();
    assert_eq!(report.loaded.len(), a.store.len());
    assert!(report.missing.is_empty() && report.unexpected.is_empty());
    for (name, p) in a.store.named() {
        let q = b.store.get(b.store.id(&name).unwrap());
        assert_eq!(p.value.to_vec(&g).unwrap(), q.value.to_vec(&g).unwrap(), "{name}");
    }
    // A store with only part of the names: strict fails, non-strict loads the common ones.
    let mut part = ParamStore::new(3);
    let _ = Conv2d::new(&g, &mut part, "conv1", 1, 8, 3, 1, 1).unwrap();
    let _ = Linear::new(&g, &mut part, "extra", 2, 2).unwrap();
    assert!(part.load_file(&g, &path, true).is_err());
    let r = part.load_file(&g, &path, false).unwrap();
    assert_eq!(r.loaded, ["conv1.weight", "conv1.bias"]);
    assert_eq!(r.missing, ["extra.weight", "extra.bias"]);
    assert_eq!(r.unexpected, ["conv2.bias", "conv2.weight", "fc.bias", "fc.weight"]);
    // A shape mismatch is an error naming the tensor.
    let mut wrong = ParamStore::new(4);
    let _ = Conv2d::new(&g, &mut wrong, "conv1", 1, 4, 3, 1, 1).unwrap();
    let e = wrong.load_file(&g, &path, false).unwrap_err().to_string();
    assert!(e.contains("conv1."), "{e}");
}
