//! The categorization pipeline on generated patches: feature network, LDPO rounds, outputs, bad input.

use deeplesion::cluster::features::{FeatureConfig, FeatureNet};
use deeplesion::cluster::ldpo::{self, KChoice, LdpoConfig};
use deeplesion::cluster::patches::{LesionRef, Patches};
use deeplesion::cluster::{kmeans::KMeansConfig, report};
use deeplesion::testing::{gpu, rng};
use rand::Rng;

/// `n` patches `3 x s x s` of three shapes (a bright disc, a dark ring, vertical stripes) with noise;
/// coarse types 4, 5, 2 in turn, every 4th lesion unlabelled.
fn shapes(n: usize, s: usize, seed: u64) -> Patches {
    let mut r = rng(seed);
    let mut p = Patches { size: s, channels: 3, ..Default::default() };
    for i in 0..n {
        let class = i % 3;
        let c = (s as f32 - 1.0) / 2.0 + r.gen_range(-1.5..1.5);
        let rad = s as f32 * r.gen_range(0.2..0.35);
        let mut plane = vec![0.0f32; s * s];
        for y in 0..s {
            for x in 0..s {
                let d = ((x as f32 - c).powi(2) + (y as f32 - c).powi(2)).sqrt();
                let v = match class {
                    0 => {
                        if d < rad {
                            0.9
                        } else {
                            0.3
                        }
                    }
                    1 => {
                        if (d - rad).abs() < 1.5 {
                            0.1
                        } else {
                            0.5
                        }
                    }
                    _ => {
                        if (x / 2) % 2 == 0 {
                            0.8
                        } else {
                            0.2
                        }
                    }
                };
                plane[y * s + x] = (v + r.gen_range(-0.05f32..0.05)).clamp(0.0, 1.0);
            }
        }
        for _ in 0..3 {
            p.pixels.extend_from_slice(&plane);
        }
        p.lesions.push(LesionRef {
            file_name: format!("{:06}_01_01_{:03}.png", i / 2, 10 + i),
            lesion_index: i % 2,
            coarse_type: if i % 4 == 3 { -1 } else { [4, 5, 2][class] },
            split: 2,
            noisy: false,
        });
    }
    p
}

fn small_features() -> FeatureConfig {
    FeatureConfig { width: 4, blocks: 3, batch: 16, lr: 0.05, ..Default::default() }
}

#[test]
fn features_are_unit_norm_and_deterministic() {
    use deeplesion::cluster::features::FeatureNorm;
    let g = gpu();
    let p = shapes(20, 16, 1);
    let l2 = FeatureConfig { norm: FeatureNorm::L2, ..small_features() };
    let net = FeatureNet::new(&g, &l2, 3, 16).unwrap();
    assert_eq!(net.feat_dim, 16);
    let f = net.extract(&g, &p.pixels, &|_| {}).unwrap();
    assert_eq!(f.len(), 20 * 16);
    for row in f.chunks(16) {
        let n: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4 || n == 0.0, "norm {n}");
    }
    let again = FeatureNet::new(&g, &l2, 3, 16).unwrap().extract(&g, &p.pixels, &|_| {}).unwrap();
    assert_eq!(f, again);
    // Patch side must survive the pooling.
    assert!(FeatureNet::new(&g, &small_features(), 3, 18).is_err());
}

#[test]
fn training_on_pseudo_labels_lowers_the_loss() {
    let g = gpu();
    let p = shapes(48, 16, 2);
    let labels: Vec<u32> = (0..48).map(|i| (i % 3) as u32).collect();
    let mut net = FeatureNet::new(&g, &small_features(), 3, 16).unwrap();
    let losses = net.train(&g, &p.pixels, &labels, 3, 6, 0, &|_| {}).unwrap();
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(losses[5] < losses[0], "{losses:?}");
    assert!(net.train(&g, &p.pixels, &labels, 2, 1, 0, &|_| {}).is_err(), "label 2 >= k 2 must fail");
}

#[test]
fn ldpo_runs_rounds_scores_and_writes_outputs() {
    let g = gpu();
    let p = shapes(60, 16, 3);
    let cfg = LdpoConfig {
        k: KChoice::Fixed(3),
        rounds: 2,
        epochs: 1,
        stop_change: 0.0,
        kmeans: KMeansConfig { restarts: 2, ..Default::default() },
        features: small_features(),
        ..Default::default()
    };
    let mut lines = Vec::new();
    let rep = ldpo::run(&g, &p, &cfg, None, &mut |l| lines.push(l.to_string())).unwrap();
    assert_eq!(rep.rounds.len(), 3);
    assert_eq!(rep.labelled, 45);
    assert!(lines.iter().any(|l| l.contains("randomly initialised")), "{lines:?}");
    for r in rep.rounds.iter().chain([&rep.raw_pixels]) {
        let s = r.scores.unwrap();
        for v in [s.purity, s.nmi] {
            assert!((0.0..=1.0).contains(&v), "{s:?}");
        }
    }
    assert!(rep.rounds[1].change_fraction.is_some());
    // Three clean shapes: raw pixels already separate them well.
    assert!(rep.raw_pixels.scores.unwrap().purity > 0.6, "{:?}", rep.raw_pixels);
    let dir = tempfile::tempdir().unwrap();
    report::write_all(&rep, &p, dir.path()).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("pseudo_labels.csv")).unwrap();
    assert!(csv.starts_with("File_name,lesion_index,cluster\n000000_01_01_010.png,0,"), "{csv}");
    assert_eq!(csv.lines().count(), 61);
    for f in ["centroids.csv", "confusion.csv", "report.json", "report.txt", "metrics.png", "mosaic.png"] {
        assert!(dir.path().join(f).metadata().unwrap().len() > 0, "{f}");
    }
    let txt = report::summary(&rep);
    assert!(txt.contains("raw pixels") && txt.contains("round 2"), "{txt}");
}

#[test]
fn k_sweep_reports_its_reason_and_bad_k_is_an_error() {
    let g = gpu();
    let p = shapes(30, 16, 4);
    let cfg = LdpoConfig {
        k: KChoice::Sweep { min: 2, max: 4 },
        rounds: 0,
        features: small_features(),
        kmeans: KMeansConfig { restarts: 1, ..Default::default() },
        ..Default::default()
    };
    let rep = ldpo::run(&g, &p, &cfg, None, &mut |_| {}).unwrap();
    assert!((2..=4).contains(&rep.k));
    assert!(rep.k_reason.contains("silhouette"), "{}", rep.k_reason);
    let cfg = LdpoConfig { k: KChoice::Fixed(31), ..cfg };
    let e = ldpo::run(&g, &p, &cfg, None, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("larger than the number of lesions"), "{e}");
    let empty = Patches { size: 16, channels: 3, ..Default::default() };
    assert!(ldpo::run(&g, &empty, &cfg, None, &mut |_| {}).is_err());
}

#[test]
fn extract_matches_the_cpu_reference_for_every_pooling_and_norm() {
    use deeplesion::cluster::features::FeatureNorm;
    let g = gpu();
    // 21 patches: not a multiple of the batch (16); trained one epoch first so biases are non-zero.
    let p = shapes(21, 16, 5);
    let labels: Vec<u32> = (0..21).map(|i| (i % 3) as u32).collect();
    for (cells, norm) in [(1, FeatureNorm::L2), (2, FeatureNorm::None), (4, FeatureNorm::L2), (1, FeatureNorm::None)] {
        let cfg = FeatureConfig { pool_cells: cells, norm, ..small_features() };
        let mut net = FeatureNet::new(&g, &cfg, 3, 16).unwrap();
        assert_eq!(net.feat_dim, 16 * cells * cells);
        net.train(&g, &p.pixels, &labels, 3, 1, 0, &|_| {}).unwrap();
        let got = net.extract(&g, &p.pixels, &|_| {}).unwrap();
        let want = net.cpu_extract(&g, &p.pixels).unwrap();
        deeplesion::testing::assert_close(&format!("extract cells={cells} {norm:?}"), &got, &want, 1e-5);
    }
    // 3 cells do not divide the 4x4 maps of a 16 px patch after 2 pools.
    let cfg = FeatureConfig { pool_cells: 3, ..small_features() };
    assert!(FeatureNet::new(&g, &cfg, 3, 16).is_err());
}

#[test]
fn l2_features_of_the_initial_network_cannot_see_brightness() {
    // Why L2-normalised features lose on the synthetic data: the round-0 network has zero biases, so it
    // is positively homogeneous (f(a x) = a f(x), a > 0), and L2 normalisation then removes a. Uniform
    // patches at 0.0 (air under the soft-tissue window) and 0.15 (fat) are inputs -1 and -0.7 after
    // centring: the same direction, so identical L2 features. Without L2 they stay 0.7x apart.
    use deeplesion::cluster::features::FeatureNorm;
    let g = gpu();
    let s = 16;
    let mut px = vec![0.0f32; 3 * s * s];
    px.extend(vec![0.15f32; 3 * s * s]);
    let cfg = FeatureConfig { norm: FeatureNorm::L2, ..small_features() };
    let l2 = FeatureNet::new(&g, &cfg, 3, s).unwrap().extract(&g, &px, &|_| {}).unwrap();
    let (a, b) = l2.split_at(l2.len() / 2);
    deeplesion::testing::assert_close("air vs fat, L2", b, a, 1e-5);
    let cfg = FeatureConfig { norm: FeatureNorm::None, ..small_features() };
    let raw = FeatureNet::new(&g, &cfg, 3, s).unwrap().extract(&g, &px, &|_| {}).unwrap();
    let (a, b) = raw.split_at(raw.len() / 2);
    assert!(a.iter().any(|&v| v > 0.0));
    let scaled: Vec<f32> = a.iter().map(|v| v * 0.7).collect();
    deeplesion::testing::assert_close("air vs fat, no norm", b, &scaled, 1e-5);
}

#[test]
fn standardize_cols_matches_cpu() {
    use deeplesion::cluster::normalize;
    let g = gpu();
    let mut r = rng(15);
    for &(rows, cols) in &[(1, 3), (7, 65), (300, 17), (2049, 5)] {
        let mut x = deeplesion::testing::randn(&mut r, rows * cols);
        // Offsets and scales per column, a constant column and a zero column.
        for (i, v) in x.iter_mut().enumerate() {
            let c = i % cols;
            *v = *v * (1.0 + c as f32) + 3.0 * c as f32;
        }
        if cols > 2 {
            (0..rows).for_each(|i| x[i * cols + 1] = 0.25);
            (0..rows).for_each(|i| x[i * cols + 2] = 0.0);
        }
        let t = g.upload(&[rows, cols], &x).unwrap();
        let got = normalize::standardize_cols(&g, &t).unwrap().to_vec(&g).unwrap();
        let want = normalize::cpu_standardize(&x, cols);
        deeplesion::testing::assert_close(&format!("standardize {rows}x{cols}"), &got, &want, 1e-5);
        if cols > 2 {
            assert!((0..rows).all(|i| got[i * cols + 1] == 0.0 && got[i * cols + 2] == 0.0));
        }
    }
    if let Ok(empty) = g.upload(&[0, 3], &[]) {
        assert!(normalize::standardize_cols(&g, &empty).is_err());
    }
}

#[test]
fn warm_started_rounds_keep_clusters_the_features_do_not_move() {
    // No training (0 epochs): the features are unchanged, so a round warm-started from the previous
    // clusters must reproduce them exactly (0% changed) and stop; fresh restarts need not.
    let g = gpu();
    let p = shapes(40, 16, 6);
    let cfg = LdpoConfig {
        k: KChoice::Fixed(4),
        rounds: 2,
        epochs: 0,
        kmeans: KMeansConfig { restarts: 1, ..Default::default() },
        features: small_features(),
        ..Default::default()
    };
    let rep = ldpo::run(&g, &p, &cfg, None, &mut |_| {}).unwrap();
    assert_eq!(rep.rounds.len(), 2, "stops after round 1: {}", rep.stopped);
    assert_eq!(rep.rounds[1].change_fraction, Some(0.0));
    assert!(rep.stopped.contains("converged"), "{}", rep.stopped);
}

#[test]
fn nan_pixels_are_an_error_naming_the_lesion() {
    let g = gpu();
    let mut p = shapes(12, 16, 7);
    let per = p.dim();
    p.pixels[5 * per + 17] = f32::NAN;
    let cfg = LdpoConfig { k: KChoice::Fixed(2), rounds: 0, features: small_features(), ..Default::default() };
    let e = ldpo::run(&g, &p, &cfg, None, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("kmeans") && e.contains("point 5") && e.contains("NaN"), "{e}");
}
