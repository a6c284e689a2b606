//! Matmul against its CPU reference: both kernel variants, all four transpose cases, awkward shapes, batches.

use deeplesion::gpu::Variant;
use deeplesion::ops::matmul::{cpu, matmul, matmul_batched, sg_rows_for};
use deeplesion::testing::{assert_close, gpu, randn, rng};

/// (variant, subgroup kernels switched off): register-blocked with the subgroup kernels (where the
/// adapter offers them, as lavapipe does) and without, then workgroup-tiled.
const RUNS: [(Variant, bool); 3] =
    [(Variant::RegisterBlocked, false), (Variant::RegisterBlocked, true), (Variant::WorkgroupTiled, false)];

#[test]
fn lavapipe_offers_the_subgroup_kernels() {
    let g = gpu();
    if g.info.device_type == wgpu::DeviceType::Cpu && g.info.name.contains("llvmpipe") {
        assert!(g.subgroups8(), "llvmpipe should offer 8-lane subgroups: {:?}", g.info);
    }
}

/// (M, K, N): sizes that are not multiples of the 8x8 register block or the 64x64 tile.
/// The last three are multiples of 4 along every axis (the vec4 kernels) but not of 8 or 64.
const SHAPES: [(usize, usize, usize); 9] = [
    (1, 1, 1),
    (7, 67, 129),
    (67, 7, 1),
    (1, 1000, 7),
    (129, 5, 65),
    (66, 130, 3),
    (4, 4, 4),
    (68, 12, 132),
    (140, 36, 20),
];

fn stored(rows: usize, cols: usize, trans: bool) -> [usize; 2] {
    if trans {
        [cols, rows]
    } else {
        [rows, cols]
    }
}

#[test]
fn matmul_matches_cpu_for_both_variants_and_all_transposes() {
    let g = gpu();
    let mut r = rng(10);
    for &(m, k, n) in &SHAPES {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = randn(&mut r, m * k);
            let b = randn(&mut r, k * n);
            let want = cpu::matmul(&a, &b, m, k, n, ta, tb);
            let at = g.upload(&stored(m, k, ta), &a).unwrap();
            let bt = g.upload(&stored(k, n, tb), &b).unwrap();
            for (v, sg_off) in RUNS {
                g.force_variant(Some(v));
                g.disable_subgroups(sg_off);
                let c = matmul(&g, &at, &bt, ta, tb).unwrap();
                g.disable_subgroups(false);
                assert_eq!(c.shape(), &[m, n]);
                let case = format!("{v:?} subgroups_off={sg_off} m={m} k={k} n={n} ta={ta} tb={tb}");
                assert_close(&case, &c.to_vec(&g).unwrap(), &want, 1e-5);
            }
        }
    }
}

#[test]
fn one_bigger_matmul_matches_cpu() {
    let g = gpu();
    let mut r = rng(11);
    let (m, k, n) = (200, 332, 260); // multiples of 4: the vec4 kernel
    one_bigger(&g, m, k, n, &mut r);
    one_bigger(&g, 201, 333, 257, &mut r); // odd: the scalar kernel
}

fn one_bigger(g: &deeplesion::Gpu, m: usize, k: usize, n: usize, r: &mut rand_chacha::ChaCha8Rng) {
    let a = randn(r, m * k);
    let b = randn(r, k * n);
    let want = cpu::matmul(&a, &b, m, k, n, false, false);
    let at = g.upload(&[m, k], &a).unwrap();
    let bt = g.upload(&[k, n], &b).unwrap();
    for (v, sg_off) in RUNS {
        g.force_variant(Some(v));
        g.disable_subgroups(sg_off);
        let got = matmul(g, &at, &bt, false, false).unwrap().to_vec(g).unwrap();
        g.disable_subgroups(false);
        assert_close(&format!("{v:?} subgroups_off={sg_off} {m}x{k}x{n}"), &got, &want, 1e-5);
    }
}

#[test]
fn batched_matmul_matches_per_item_cpu() {
    let g = gpu();
    let mut r = rng(12);
    for (batch, m, k, n) in [(3, 9, 13, 67), (2, 8, 12, 20)] {
        batched_case(&g, batch, m, k, n, &mut r);
    }
}

#[test]
fn batched_matmul_without_transposes_matches_cpu() {
    // Neither operand transposed and vec4-aligned: the 32x8 subgroup kernel with subgroups on,
    // across several 32-row subgroup blocks and a partial 64-column one.
    let g = gpu();
    let mut r = rng(13);
    let (batch, m, k, n) = (2, 136, 20, 36);
    let a = randn(&mut r, batch * m * k);
    let b = randn(&mut r, batch * k * n);
    let mut want = Vec::new();
    for i in 0..batch {
        want.extend(cpu::matmul(&a[i * m * k..(i + 1) * m * k], &b[i * k * n..(i + 1) * k * n], m, k, n, false, false));
    }
    let at = g.upload(&[batch, m, k], &a).unwrap();
    let bt = g.upload(&[batch, k, n], &b).unwrap();
    for (v, sg_off) in RUNS {
        g.force_variant(Some(v));
        g.disable_subgroups(sg_off);
        let c = matmul_batched(&g, &at, &bt, false, false).unwrap();
        g.disable_subgroups(false);
        assert_close(&format!("{v:?} subgroups_off={sg_off} batch nn"), &c.to_vec(&g).unwrap(), &want, 1e-5);
    }
    g.force_variant(None);
}

fn batched_case(g: &deeplesion::Gpu, batch: usize, m: usize, k: usize, n: usize, r: &mut rand_chacha::ChaCha8Rng) {
    let a = randn(r, batch * m * k);
    let b = randn(r, batch * n * k);
    let mut want = Vec::new();
    for i in 0..batch {
        want.extend(cpu::matmul(&a[i * m * k..(i + 1) * m * k], &b[i * n * k..(i + 1) * n * k], m, k, n, false, true));
    }
    let at = g.upload(&[batch, m, k], &a).unwrap();
    let bt = g.upload(&[batch, n, k], &b).unwrap();
    for (v, sg_off) in RUNS {
        g.force_variant(Some(v));
        g.disable_subgroups(sg_off);
        let c = matmul_batched(g, &at, &bt, false, true).unwrap();
        g.disable_subgroups(false);
        assert_eq!(c.shape(), &[batch, m, n]);
        assert_close(&format!("{v:?} subgroups_off={sg_off} batch {batch}"), &c.to_vec(g).unwrap(), &want, 1e-5);
    }
}

#[test]
fn zero_inner_dimension_gives_zeros_and_mismatch_is_an_error() {
    let g = gpu();
    let a = g.upload(&[3, 0], &[]).unwrap();
    let b = g.upload(&[0, 2], &[]).unwrap();
    assert_eq!(matmul(&g, &a, &b, false, false).unwrap().to_vec(&g).unwrap(), vec![0.0; 6]);
    let a = g.upload(&[2, 3], &[0.0; 6]).unwrap();
    let e = matmul(&g, &a, &a, false, false).unwrap_err().to_string();
    assert!(e.contains("'matmul'") && e.contains("inner"), "{e}");
}

#[test]
fn every_subgroup_stacking_matches_cpu_for_all_transposes() {
    // matmul_32x8_sg.wgsl stacks its 8 subgroups 8, 4, 2 or 1 along M by the output's shape;
    // each (M, N) here picks one (checked), with partial tiles along both axes and a batch of 2.
    let g = gpu();
    let mut r = rng(14);
    let k = 12;
    for (m, n, stack) in [(260, 36, 8), (100, 200, 4), (36, 600, 2), (20, 1000, 1), (4, 4, 8)] {
        assert_eq!(sg_rows_for(m, n), stack, "stacking for {m}x{n}");
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = randn(&mut r, 2 * m * k);
            let b = randn(&mut r, 2 * k * n);
            let mut want = Vec::new();
            for i in 0..2 {
                let (ai, bi) = (&a[i * m * k..(i + 1) * m * k], &b[i * k * n..(i + 1) * k * n]);
                want.extend(cpu::matmul(ai, bi, m, k, n, ta, tb));
            }
            let sa = stored(m, k, ta);
            let sb = stored(k, n, tb);
            let at = g.upload(&[2, sa[0], sa[1]], &a).unwrap();
            let bt = g.upload(&[2, sb[0], sb[1]], &b).unwrap();
            g.force_variant(Some(Variant::RegisterBlocked));
            let c = matmul_batched(&g, &at, &bt, ta, tb).unwrap();
            g.force_variant(None);
            let case = format!("stacking {stack} m={m} n={n} ta={ta} tb={tb}");
            assert_close(&case, &c.to_vec(&g).unwrap(), &want, 1e-5);
        }
    }
}
