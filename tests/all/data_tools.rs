//! Stats, view, the prefetching loader, and slice-decoder robustness against random bytes.

use std::sync::Arc;

use deeplesion::data::loader::{epoch_order, Loader};
use deeplesion::data::synth::{writer, SynthConfig};
use deeplesion::data::{slice, stats, view, Dataset, LoadOptions, PreprocessConfig, Split, Window};

fn small_set() -> (tempfile::TempDir, Dataset) {
    let dir = tempfile::tempdir().unwrap();
    writer::generate(&SynthConfig { patients: 6, size: 64, seed: 9 }, dir.path(), |_| {}).unwrap();
    let (ds, _) = Dataset::open(dir.path(), &LoadOptions::default()).unwrap();
    (dir, ds)
}

#[test]
fn stats_count_what_was_written() {
    let (_d, ds) = small_set();
    let s = stats::compute(&ds);
    assert_eq!(s.total.images, ds.images.len());
    let lesions: usize = ds.images.iter().map(|i| i.lesions.len()).sum();
    assert_eq!(s.total.lesions, lesions);
    assert_eq!(s.splits.values().map(|c| c.images).sum::<usize>(), s.total.images);
    assert_eq!(s.size_mm.bins.iter().sum::<usize>(), lesions);
    assert!(s.size_mm.min >= 3.0 && s.size_mm.max <= 90.0, "{:?}", s.size_mm);
    let t = stats::table(&s);
    assert!(t.contains("total") && t.contains("median"), "{t}");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["total"]["images"], s.total.images);
}

#[test]
fn view_draws_axes_and_boxes() {
    let (_d, ds) = small_set();
    let im = &ds.images[0];
    let pic = view::render(&ds, im, Window::named("soft-tissue").unwrap(), 2).unwrap();
    assert_eq!((pic.width(), pic.height()), (128, 128));
    let count = |c| pic.pixels().filter(|p| **p == c).count();
    assert!(count(view::BOX) > 20 && count(view::LONG) > 2 && count(view::SHORT) > 1);
}

#[test]
fn loader_delivers_every_image_once_in_seeded_order() {
    let (_d, ds) = small_set();
    let ds = Arc::new(ds);
    let idx: Vec<usize> = (0..ds.images.len()).collect();
    let cfg = PreprocessConfig { target_spacing_mm: None, max_size: Some(48), ..Default::default() };
    let run = |workers| {
        let l = Loader::new(ds.clone(), idx.clone(), cfg.clone(), 3, Some(4), workers);
        assert_eq!(l.len(), idx.len().div_ceil(3));
        l.flat_map(|b| {
            assert!(b.skipped.is_empty());
            b.images.into_iter().map(|p| (p.file_name, p.chw))
        })
        .collect::<Vec<_>>()
    };
    let one = run(1);
    let three = run(3);
    assert_eq!(one, three);
    let want: Vec<String> =
        epoch_order(idx.len(), Some(4)).into_iter().map(|i| ds.images[i].file_name.clone()).collect();
    assert_eq!(one.iter().map(|x| x.0.clone()).collect::<Vec<_>>(), want);
    // Dropping a loader early joins its workers without hanging.
    let mut l = Loader::new(ds.clone(), ds.indices(Split::Train), cfg, 1, None, 2);
    let _ = l.next();
    drop(l);
}

#[test]
fn loader_skips_unreadable_images() {
    let (d, ds) = small_set();
    let victim = ds.images[1].file_name.clone();
    std::fs::write(d.path().join("Images_png").join(slice::relative_path(&victim).unwrap()), b"junk").unwrap();
    let n = ds.images.len();
    let l = Loader::new(Arc::new(ds), (0..n).collect(), PreprocessConfig::default(), 4, None, 2);
    let batches: Vec<_> = l.collect();
    let skipped: Vec<&String> = batches.iter().flat_map(|b| &b.skipped).collect();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].contains(&victim));
    assert_eq!(batches.iter().map(|b| b.images.len()).sum::<usize>(), n - 1);
}

#[test]
fn slice_decoder_survives_random_bytes() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let good = slice::encode_slice(16, 12, &(0..192).map(|i| i as f32).collect::<Vec<_>>()).unwrap();
    for _ in 0..3000 {
        let mut b = good.clone();
        for _ in 0..rng.gen_range(1..6) {
            let i = rng.gen_range(0..b.len());
            match rng.gen_range(0..3) {
                0 => b[i] = rng.gen(),
                1 => b.truncate(i),
                _ => b.insert(i, rng.gen()),
            }
            if b.is_empty() {
                break;
            }
        }
        if let Ok(s) = slice::decode_slice(&b, "fuzz", None) {
            assert_eq!(s.hu.len(), s.width * s.height);
        }
    }
}
