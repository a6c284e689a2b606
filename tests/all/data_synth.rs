//! The synthetic generator: loads with no special case, determinism, splits and labels as in the release, RECIST consistent with its boxes, the committed fixture regenerates byte-identically.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use deeplesion::data::synth::{self, writer, SynthConfig};
use deeplesion::data::{preprocess, recist, Dataset, LoadOptions, PreprocessConfig, Split};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data-fixtures")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn small_set_loads_cleanly_and_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig { patients: 12, size: 96, seed: 3 };
    let s = writer::generate(&cfg, dir.path(), |_| {}).unwrap();
    assert!(s.images >= 12 && s.annotated_lesions >= s.images, "{s:?}");
    let (ds, sum) = Dataset::open(dir.path(), &LoadOptions { strict: true, check_images: true }).unwrap();
    assert_eq!(sum.lesions, s.annotated_lesions);
    assert_eq!(ds.images.len(), s.images);
    for im in &ds.images {
        for l in &im.lesions {
            // Types only on val/test, as in the release.
            if im.split == Split::Train {
                assert_eq!(l.coarse_type, -1);
            } else {
                assert!((1..=8).contains(&l.coarse_type));
            }
            // The stored box is the mined box (5 px padding), up to the image-border clamp.
            let m = recist::mine(l);
            assert!(m.box_diff < 1e-3 || l.bbox.iter().any(|&v| v == 0.0 || v == 95.0), "{m:?}");
            assert!(m.diameter_diff < 2e-3, "{m:?}");
            assert!(l.diameters_px[0] >= l.diameters_px[1] - 2.0, "{:?}", l.diameters_px);
            assert_eq!(l.image_size, [96, 96]);
        }
        // Neighbour slices exist, so the 3 channels differ from a repeated key slice.
        let p = preprocess::load_image(&ds, im, &PreprocessConfig::default()).unwrap();
        assert!(p.neighbours_found, "{}", im.file_name);
    }
    let patients = |sp| ds.images(sp).iter().map(|i| i.patient).collect::<BTreeSet<_>>();
    let (tr, va, te) = (patients(Split::Train), patients(Split::Val), patients(Split::Test));
    assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
    assert!(!va.is_empty() && !te.is_empty() && tr.len() >= 6);
    let truth = std::fs::read_to_string(dir.path().join(writer::TRUTH_NAME)).unwrap();
    assert_eq!(truth.lines().count() - 1, s.annotated_lesions + s.unannotated_lesions);
}

#[test]
fn generation_is_deterministic_in_the_seed() {
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = SynthConfig { patients: 3, size: 64, seed: 11 };
    writer::generate(&cfg, a.path(), |_| {}).unwrap();
    writer::generate(&cfg, b.path(), |_| {}).unwrap();
    writer::generate(&SynthConfig { seed: 12, ..cfg }, c.path(), |_| {}).unwrap();
    let fa = files(a.path());
    assert_eq!(fa, files(b.path()));
    for f in &fa {
        assert_eq!(std::fs::read(a.path().join(f)).unwrap(), std::fs::read(b.path().join(f)).unwrap(), "{f:?}");
    }
    assert_ne!(
        std::fs::read(a.path().join("DL_info.csv")).unwrap(),
        std::fs::read(c.path().join("DL_info.csv")).unwrap()
    );
}

#[test]
fn splits_are_about_70_15_15() {
    let s = synth::assign_splits(100, 5);
    let n = |sp| s.iter().filter(|&&x| x == sp).count();
    assert_eq!((n(Split::Train), n(Split::Val), n(Split::Test)), (70, 15, 15));
    let s = synth::assign_splits(3, 5);
    assert_eq!(s.iter().filter(|&&x| x == Split::Train).count(), 1);
}

#[test]
fn recist_is_the_longest_chord_and_its_perpendicular() {
    // An axis-aligned 20x10 ellipse: long axis 40 px horizontally, short axis 20 px.
    let poly: Vec<(f32, f32)> = (0..360)
        .map(|i| {
            let t = (i as f32).to_radians();
            (50.0 + 20.0 * t.cos(), 40.0 + 10.0 * t.sin())
        })
        .collect();
    let r = synth::recist::recist_of(&poly);
    let d = recist::diameters(&r);
    assert!((d[0] - 40.0).abs() < 0.05 && (d[1] - 20.0).abs() < 0.1, "{d:?}");
    let long = (r[2] - r[0], r[3] - r[1]);
    let short = (r[6] - r[4], r[7] - r[5]);
    assert!((long.0 * short.0 + long.1 * short.1).abs() / (d[0] * d[1]) < 0.01);
}

#[test]
fn committed_fixture_regenerates_byte_identically() {
    let fixture = fixture_dir();
    let readme = std::fs::read_to_string(fixture.join("README.md")).unwrap();
    // The README states the command; the parameters below must match it.
    assert!(readme.contains("deeplesion synth --out data-fixtures --patients 60 --size 128 --seed 1"), "{readme}");
    let dir = tempfile::tempdir().unwrap();
    writer::generate(&SynthConfig { patients: 60, size: 128, seed: 1 }, dir.path(), |_| {}).unwrap();
    let want: Vec<PathBuf> = files(&fixture).into_iter().filter(|p| p != Path::new("README.md")).collect();
    assert_eq!(files(dir.path()), want);
    for f in &want {
        assert!(std::fs::read(dir.path().join(f)).unwrap() == std::fs::read(fixture.join(f)).unwrap(), "{f:?} differs");
    }
}

#[test]
fn fixture_has_every_type_in_val_and_test() {
    let (ds, sum) = Dataset::open(&fixture_dir(), &LoadOptions { strict: true, check_images: true }).unwrap();
    assert!(sum.skipped.is_empty());
    for split in [Split::Val, Split::Test] {
        for t in 1..=8 {
            let n = ds.images(split).iter().flat_map(|i| &i.lesions).filter(|l| l.coarse_type == t).count();
            assert!(n >= 2, "{split:?}: only {n} lesions of type {t}");
        }
    }
    assert!(ds.images(Split::Train).len() >= 120, "{}", ds.images(Split::Train).len());
}
