//! GPU k-means against the CPU reference: assignment, update, whole runs, bad input.

use deeplesion::cluster::kmeans::{self, cpu, GpuLloyd, GpuPoints, Groups, KMeansConfig, LloydStep};
use deeplesion::testing::{assert_close, gpu, randn, rng};
use rand::Rng;

/// Gaussian-ish blobs: `k` centres in [-5, 5]^d, points at +-0.5 around them.
fn blobs(seed: u64, n: usize, d: usize, k: usize) -> Vec<f32> {
    let mut r = rng(seed);
    let centres: Vec<f32> = (0..k * d).map(|_| r.gen_range(-5.0..5.0)).collect();
    (0..n)
        .flat_map(|i| (0..d).map(|j| centres[(i % k) * d + j] + r.gen_range(-0.5f32..0.5)).collect::<Vec<_>>())
        .collect()
}

/// Labels must agree except where the two candidates are within `tol` of each other (a near-tie
/// that f32 rounding may break either way).
fn assert_same_labels(case: &str, data: &[f32], d: usize, cen: &[f32], got: &[u32], want: &[u32]) {
    let dist = |i: usize, c: u32| -> f64 {
        let c = c as usize;
        data[i * d..(i + 1) * d]
            .iter()
            .zip(&cen[c * d..(c + 1) * d])
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum()
    };
    let mut ties = 0;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if g != w {
            let (dg, dw) = (dist(i, g), dist(i, w));
            assert!((dg - dw).abs() <= 1e-4 * dw.max(1.0), "{case}: point {i} got {g} ({dg}) want {w} ({dw})");
            ties += 1;
        }
    }
    assert!(ties * 100 <= got.len().max(100), "{case}: {ties} near-ties is too many");
}

#[test]
fn assignment_matches_cpu_on_awkward_shapes() {
    let g = gpu();
    let mut r = rng(11);
    for &(n, d, k) in &[(1, 1, 1), (5, 3, 2), (257, 17, 13), (1003, 64, 8), (130, 5, 65)] {
        let k = k.min(n);
        let data = randn(&mut r, n * d);
        let cen = randn(&mut r, k * d);
        let pts = GpuPoints::upload(&g, &data, n, d).unwrap();
        let mut step = GpuLloyd::new(&g, &pts, &cen, k).unwrap();
        let (labels, dists) = step.assign().unwrap();
        let (wl, wd) = cpu::assign(&data, d, &cen);
        let case = format!("n={n} d={d} k={k}");
        assert_same_labels(&case, &data, d, &cen, &labels, &wl);
        // |x|^2 - 2x.c + |c|^2 cancels: compare against the distance of the chosen centroid.
        let want: Vec<f32> = labels
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let c = c as usize;
                data[i * d..(i + 1) * d].iter().zip(&cen[c * d..(c + 1) * d]).map(|(a, b)| (a - b) * (a - b)).sum()
            })
            .collect();
        assert_close(&case, &dists, &want, 1e-5);
        let _ = wd;
    }
}

#[test]
fn update_matches_cpu_including_empty_clusters() {
    let g = gpu();
    let mut r = rng(12);
    let (n, d, k) = (301, 19, 7);
    let data = randn(&mut r, n * d);
    let init = randn(&mut r, k * d);
    // Labels that leave clusters 3 and 6 empty.
    let labels: Vec<u32> = (0..n).map(|i| [0, 1, 2, 4, 5][i % 5]).collect();
    let dists: Vec<f32> = (0..n).map(|i| (i * 7919 % 101) as f32).collect();
    let groups = Groups::from_labels(&labels, &dists, k);
    assert_eq!(groups.reseeded(), 2);
    let pts = GpuPoints::upload(&g, &data, n, d).unwrap();
    let mut step = GpuLloyd::new(&g, &pts, &init, k).unwrap();
    step.update(&groups).unwrap();
    let got = step.centroids().unwrap();
    let mut want = init.clone();
    cpu::update(&data, d, &mut want, &groups);
    assert_close("update", &got, &want, 1e-6);
    // A cluster with no member and no re-seed keeps its centroid.
    let mut keep = groups.clone();
    keep.reseed = vec![deeplesion::cluster::lloyd::NONE; k];
    let mut step = GpuLloyd::new(&g, &pts, &init, k).unwrap();
    step.update(&keep).unwrap();
    let got = step.centroids().unwrap();
    assert_eq!(&got[3 * d..4 * d], &init[3 * d..4 * d]);
}

#[test]
fn whole_run_matches_cpu_for_a_fixed_start() {
    let g = gpu();
    for &(n, d, k, seed) in &[(999, 12, 6, 1u64), (2050, 33, 9, 2)] {
        let data = blobs(seed, n, d, k);
        let init = kmeans::kmeans_pp(&data, n, d, k, seed).unwrap();
        let cfg = KMeansConfig { k, ..Default::default() };
        let got = kmeans::fit_from(&g, &data, n, d, &init, &cfg).unwrap();
        let want = cpu::fit_from(&data, n, d, &init, &cfg).unwrap();
        let case = format!("n={n} d={d} k={k}");
        assert_eq!(got.labels, want.labels, "{case}");
        assert_eq!(got.iterations, want.iterations, "{case}");
        let rel = (got.inertia - want.inertia).abs() / want.inertia;
        assert!(rel <= 1e-4, "{case}: inertia {} vs {} (rel {rel:e})", got.inertia, want.inertia);
        assert_close(&case, &got.centroids, &want.centroids, 1e-5);
    }
}

#[test]
fn random_data_run_matches_cpu_up_to_ties() {
    // Unstructured data: many near-ties, so compare the final inertia and a high label agreement.
    let g = gpu();
    let mut r = rng(13);
    let (n, d, k) = (600, 10, 5);
    let data = randn(&mut r, n * d);
    let init = kmeans::kmeans_pp(&data, n, d, k, 3).unwrap();
    let cfg = KMeansConfig { k, max_iter: 20, ..Default::default() };
    let got = kmeans::fit_from(&g, &data, n, d, &init, &cfg).unwrap();
    let want = cpu::fit_from(&data, n, d, &init, &cfg).unwrap();
    let same = got.labels.iter().zip(&want.labels).filter(|(a, b)| a == b).count();
    assert!(same * 100 >= n * 99, "only {same} of {n} labels agree");
    let rel = (got.inertia - want.inertia).abs() / want.inertia;
    assert!(rel <= 1e-4, "inertia {} vs {}", got.inertia, want.inertia);
}

#[test]
fn restarts_are_deterministic_and_keep_the_lowest_inertia() {
    let g = gpu();
    let (n, d, k) = (500, 8, 5);
    let data = blobs(4, n, d, k);
    let cfg = KMeansConfig { k, restarts: 4, seed: 9, ..Default::default() };
    let a = kmeans::fit(&g, &data, n, d, &cfg).unwrap();
    let b = kmeans::fit(&g, &data, n, d, &cfg).unwrap();
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.inertia, b.inertia);
    for r in 0..4 {
        let one = KMeansConfig { restarts: 1, seed: 9 + r, ..cfg.clone() };
        let single = cpu::fit(&data, n, d, &one).unwrap();
        assert!(a.inertia <= single.inertia * (1.0 + 1e-4), "restart {r}: {} > {}", a.inertia, single.inertia);
    }
    let c = cpu::fit(&data, n, d, &cfg).unwrap();
    assert_eq!(a.labels, c.labels);
}

#[test]
fn empty_clusters_are_reseeded_from_the_farthest_points() {
    let g = gpu();
    let (n, d, k) = (300, 4, 3);
    let data = blobs(5, n, d, k);
    // Two centroids far from every point: they start empty.
    let mut init = data[..d].to_vec();
    init.extend_from_slice(&[100.0; 4]);
    init.extend_from_slice(&[-100.0; 4]);
    let cfg = KMeansConfig { k, ..Default::default() };
    let res = kmeans::fit_from(&g, &data, n, d, &init, &cfg).unwrap();
    assert!(res.reseeded >= 2, "reseeded {}", res.reseeded);
    let mut sizes = vec![0; k];
    res.labels.iter().for_each(|&l| sizes[l as usize] += 1);
    assert!(sizes.iter().all(|&s| s > 0), "{sizes:?}");
    let want = cpu::fit_from(&data, n, d, &init, &cfg).unwrap();
    assert_eq!(res.labels, want.labels);
}

#[test]
fn bad_input_is_an_error_or_handled() {
    let g = gpu();
    let cfg = |k| KMeansConfig { k, restarts: 1, ..Default::default() };
    // k larger than the number of points.
    let e = kmeans::fit(&g, &[0.0, 1.0, 2.0], 3, 1, &cfg(4)).unwrap_err().to_string();
    assert!(e.contains("larger than the number of points"), "{e}");
    // NaN / inf features name the point.
    let e = kmeans::fit(&g, &[0.0, 1.0, f32::NAN, 2.0], 2, 2, &cfg(1)).unwrap_err().to_string();
    assert!(e.contains("point 1") && e.contains("NaN"), "{e}");
    let e = kmeans::fit(&g, &[0.0, f32::INFINITY], 2, 1, &cfg(1)).unwrap_err().to_string();
    assert!(e.contains("point 1"), "{e}");
    // Duplicates: fine while k <= distinct points; a clear error past that.
    let dup = [1.0f32, 1.0, 1.0, 1.0, 1.0, 1.0, 5.0, 5.0];
    let res = kmeans::fit(&g, &dup, 4, 2, &cfg(2)).unwrap();
    assert_eq!(res.inertia, 0.0);
    assert_eq!(res.labels[0], res.labels[1]);
    assert_ne!(res.labels[0], res.labels[3]);
    let e = kmeans::fit(&g, &dup, 4, 2, &cfg(3)).unwrap_err().to_string();
    assert!(e.contains("distinct points"), "{e}");
    // Zero vectors are ordinary points (Euclidean k-means needs no normalisation).
    let mut zeros = vec![0.0f32; 10 * 3];
    zeros.extend(blobs(6, 10, 3, 1));
    let res = kmeans::fit(&g, &zeros, 20, 3, &cfg(2)).unwrap();
    assert!(res.inertia.is_finite());
    assert!(res.labels[..10].iter().all(|&l| l == res.labels[0]));
    // Empty input.
    assert!(kmeans::fit(&g, &[], 0, 3, &cfg(1)).is_err());
}

#[test]
fn l2_rows_match_cpu_and_keep_zero_rows_zero() {
    use deeplesion::cluster::normalize;
    let g = gpu();
    let mut r = rng(14);
    for &(rows, cols) in &[(1, 1), (65, 7), (130, 64)] {
        let mut x = randn(&mut r, rows * cols);
        x[..cols].iter_mut().for_each(|v| *v = 0.0); // a zero row
        let t = g.upload(&[rows, cols], &x).unwrap();
        let got = normalize::l2_rows(&g, &t).unwrap().to_vec(&g).unwrap();
        assert_close("l2_rows", &got, &normalize::cpu_l2_rows(&x, cols), 1e-6);
        assert!(got[..cols].iter().all(|&v| v == 0.0));
    }
}
