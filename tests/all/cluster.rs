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
    let g = gpu();
    let p = shapes(20, 16, 1);
    let net = FeatureNet::new(&g, &small_features(), 3, 16).unwrap();
    assert_eq!(net.feat_dim, 16);
    let f = net.extract(&g, &p.pixels, &|_| {}).unwrap();
    assert_eq!(f.len(), 20 * 16);
    for row in f.chunks(16) {
        let n: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4 || n == 0.0, "norm {n}");
    }
    let again = FeatureNet::new(&g, &small_features(), 3, 16).unwrap().extract(&g, &p.pixels, &|_| {}).unwrap();
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
