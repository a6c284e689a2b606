//! GPU NMS against the CPU reference (identical kept indices) and hand-made cases.

use deeplesion::detection::boxes::{self, BoxF};
use deeplesion::detection::nms::{batched_nms, cpu, nms, synth, NmsConfig};
use deeplesion::testing::{gpu, rng};
use deeplesion::Gpu;
use rand::Rng;

/// Boxes jittered around `centres` random centres (realistic overlaps), random scores.
fn clustered(r: &mut impl Rng, n: usize, centres: usize, extent: f32) -> (Vec<BoxF>, Vec<f32>) {
    synth::clustered(r.gen(), n, centres, extent)
}

fn run(g: &Gpu, b: &[BoxF], s: &[f32], cfg: &NmsConfig) -> Vec<u32> {
    let tb = boxes::upload(g, b).unwrap();
    let ts = g.upload(&[s.len()], s).unwrap();
    nms(g, &tb, &ts, cfg).unwrap()
}

#[test]
fn two_boxes_at_iou_0_6_with_threshold_0_5_keep_the_higher() {
    let g = gpu();
    // 10x10 boxes shifted by 2.5: intersection 75, union 125, IoU 0.6.
    let b = [[0.0, 0.0, 10.0, 10.0], [2.5, 0.0, 12.5, 10.0]];
    assert!((boxes::iou(&b[0], &b[1]) - 0.6).abs() < 1e-6);
    assert_eq!(run(&g, &b, &[0.3, 0.9], &NmsConfig::iou(0.5)), vec![1]);
    // At threshold 0.7 both stay, best first.
    assert_eq!(run(&g, &b, &[0.3, 0.9], &NmsConfig::iou(0.7)), vec![1, 0]);
}

#[test]
fn a_chain_keeps_the_first_and_third() {
    // a suppresses b, b would suppress c, but b is gone so c stays.
    let g = gpu();
    let b = [[0.0, 0.0, 10.0, 10.0], [3.0, 0.0, 13.0, 10.0], [6.0, 0.0, 16.0, 10.0]];
    assert_eq!(run(&g, &b, &[0.9, 0.8, 0.7], &NmsConfig::iou(0.4)), vec![0, 2]);
}

#[test]
fn zero_and_one_box() {
    let g = gpu();
    assert_eq!(run(&g, &[], &[], &NmsConfig::iou(0.5)), Vec::<u32>::new());
    assert_eq!(run(&g, &[[1.0, 2.0, 3.0, 4.0]], &[0.1], &NmsConfig::iou(0.5)), vec![0]);
}

#[test]
fn all_scores_equal_keep_order_by_index() {
    let g = gpu();
    let b = [[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0], [1.0, 0.0, 11.0, 10.0], [21.0, 0.0, 31.0, 10.0]];
    assert_eq!(run(&g, &b, &[0.5; 4], &NmsConfig::iou(0.5)), vec![0, 1]);
    let mut r = rng(30);
    let (b, _) = clustered(&mut r, 700, 20, 200.0);
    let s = vec![1.0; 700];
    let cfg = NmsConfig::iou(0.5);
    assert_eq!(run(&g, &b, &s, &cfg), cpu::nms(&b, &s, &cfg).unwrap());
}

#[test]
fn zero_area_boxes_never_suppress() {
    let g = gpu();
    let b = [[5.0, 5.0, 5.0, 5.0], [5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 10.0, 10.0]];
    assert_eq!(run(&g, &b, &[0.9, 0.8, 0.7], &NmsConfig::iou(0.1)), vec![0, 1, 2]);
}

#[test]
fn nan_scores_are_an_error() {
    let g = gpu();
    let tb = boxes::upload(&g, &[[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]]).unwrap();
    let ts = g.upload(&[2], &[0.5, f32::NAN]).unwrap();
    let e = nms(&g, &tb, &ts, &NmsConfig::iou(0.5)).unwrap_err().to_string();
    assert!(e.contains("NaN"), "{e}");
}

#[test]
fn score_threshold_and_max_kept() {
    let g = gpu();
    let b = [[0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 3.0, 1.0], [4.0, 0.0, 5.0, 1.0], [6.0, 0.0, 7.0, 1.0]];
    let s = [0.1, 0.9, 0.5, 0.7];
    let cfg = NmsConfig { score_threshold: 0.4, ..NmsConfig::iou(0.5) };
    assert_eq!(run(&g, &b, &s, &cfg), vec![1, 3, 2]);
    let cfg = NmsConfig { max_kept: Some(2), ..NmsConfig::iou(0.5) };
    assert_eq!(run(&g, &b, &s, &cfg), vec![1, 3]);
    let cfg = NmsConfig { pre_top_k: Some(3), ..NmsConfig::iou(0.5) };
    assert_eq!(run(&g, &b, &s, &cfg), vec![1, 3, 2]);
}

#[test]
fn random_clusters_match_cpu_at_several_sizes() {
    let g = gpu();
    let mut r = rng(31);
    for (n, centres, thr) in [(1, 1, 0.5), (255, 10, 0.3), (1000, 50, 0.5), (3000, 200, 0.7)] {
        let (b, s) = clustered(&mut r, n, centres, 400.0);
        for cfg in [
            NmsConfig::iou(thr),
            NmsConfig { max_kept: Some(37), score_threshold: 0.2, ..NmsConfig::iou(thr) },
            NmsConfig { pre_top_k: Some(600), max_kept: Some(100), ..NmsConfig::iou(thr) },
        ] {
            assert_eq!(run(&g, &b, &s, &cfg), cpu::nms(&b, &s, &cfg).unwrap(), "n={n} {cfg:?}");
        }
    }
}

#[test]
fn batched_groups_never_suppress_each_other() {
    let g = gpu();
    let mut r = rng(32);
    let (b, s) = clustered(&mut r, 2000, 40, 300.0);
    let groups: Vec<u32> = (0..b.len()).map(|_| r.gen_range(0..6)).collect();
    let tb = boxes::upload(&g, &b).unwrap();
    let ts = g.upload(&[s.len()], &s).unwrap();
    let tg = g.upload_u32(&[groups.len()], &groups).unwrap();
    for cfg in [NmsConfig::iou(0.5), NmsConfig { pre_top_k: Some(200), max_kept: Some(30), ..NmsConfig::iou(0.6) }] {
        let got = batched_nms(&g, &tb, &ts, &tg, 6, &cfg).unwrap();
        assert_eq!(got, cpu::batched_nms(&b, &s, &groups, 6, &cfg).unwrap(), "{cfg:?}");
    }
    // Two identical boxes in different groups are both kept.
    let tb = boxes::upload(&g, &[[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 4.0]]).unwrap();
    let ts = g.upload(&[2], &[0.9, 0.8]).unwrap();
    let tg = g.upload_u32(&[2], &[1, 0]).unwrap();
    assert_eq!(batched_nms(&g, &tb, &ts, &tg, 2, &NmsConfig::iou(0.5)).unwrap(), vec![vec![1], vec![0]]);
}

#[test]
fn more_than_65536_candidates() {
    let g = gpu();
    let mut r = rng(33);
    let (b, s) = clustered(&mut r, 70_000, 300, 1000.0);
    let cfg = NmsConfig { max_kept: Some(300), ..NmsConfig::iou(0.5) };
    let got = run(&g, &b, &s, &cfg);
    assert_eq!(got, cpu::nms(&b, &s, &cfg).unwrap());
    assert!(!got.is_empty());
}

#[test]
fn nms_records_one_readback() {
    let g = gpu();
    let mut r = rng(34);
    let (b, s) = clustered(&mut r, 1500, 30, 300.0);
    let tb = boxes::upload(&g, &b).unwrap();
    let ts = g.upload(&[s.len()], &s).unwrap();
    let before = g.stats();
    nms(&g, &tb, &ts, &NmsConfig::iou(0.5)).unwrap();
    assert_eq!(g.stats().readbacks - before.readbacks, 1);
}

#[test]
fn pre_top_k_with_ties_small_groups_dropped_ids_and_odd_scores() {
    // The radix sort's keys: equal scores (ties by index), a group with fewer boxes than k,
    // ids past num_groups (dropped), negative, -0 / +0 and -inf scores.
    let g = gpu();
    let mut r = rng(35);
    let (b, mut s) = clustered(&mut r, 3000, 150, 400.0);
    for (i, v) in s.iter_mut().enumerate() {
        *v = match i % 7 {
            0 => f32::NEG_INFINITY,
            1 => -*v,
            2 => 0.5,
            3 if i % 3 == 0 => -0.0,
            3 => 0.0,
            _ => *v,
        };
    }
    let groups: Vec<u32> = (0..b.len())
        .map(|i| {
            if i % 50 == 0 {
                2
            } else if i % 11 == 0 {
                9
            } else {
                (i % 2) as u32
            }
        })
        .collect();
    let tb = boxes::upload(&g, &b).unwrap();
    let ts = g.upload(&[s.len()], &s).unwrap();
    let tg = g.upload_u32(&[groups.len()], &groups).unwrap();
    for cfg in [
        NmsConfig { pre_top_k: Some(100), ..NmsConfig::iou(0.5) },
        NmsConfig { pre_top_k: Some(700), max_kept: Some(50), score_threshold: 0.1, ..NmsConfig::iou(0.6) },
    ] {
        let got = batched_nms(&g, &tb, &ts, &tg, 3, &cfg).unwrap();
        assert_eq!(got, cpu::batched_nms(&b, &s, &groups, 3, &cfg).unwrap(), "{cfg:?}");
    }
    // All scores equal: ties broken by index.
    let eq = vec![0.25; b.len()];
    let cfg = NmsConfig { pre_top_k: Some(300), ..NmsConfig::iou(0.5) };
    assert_eq!(run(&g, &b, &eq, &cfg), cpu::nms(&b, &eq, &cfg).unwrap());
    // A NaN is still reported when it is not among the candidates.
    let mut bad = s.clone();
    bad[5] = f32::NAN;
    let tbad = g.upload(&[bad.len()], &bad).unwrap();
    let e = nms(&g, &tb, &tbad, &cfg).unwrap_err().to_string();
    assert!(e.contains("NaN"), "{e}");
}

#[test]
fn more_than_256_groups_sort_on_two_group_digits() {
    let g = gpu();
    let mut r = rng(36);
    let (b, s) = clustered(&mut r, 4000, 100, 300.0);
    let groups: Vec<u32> = (0..b.len()).map(|_| r.gen_range(0..700)).collect();
    let tb = boxes::upload(&g, &b).unwrap();
    let ts = g.upload(&[s.len()], &s).unwrap();
    let tg = g.upload_u32(&[groups.len()], &groups).unwrap();
    for cfg in [NmsConfig::iou(0.3), NmsConfig { pre_top_k: Some(3), max_kept: Some(2), ..NmsConfig::iou(0.5) }] {
        let got = batched_nms(&g, &tb, &ts, &tg, 650, &cfg).unwrap();
        assert_eq!(got, cpu::batched_nms(&b, &s, &groups, 650, &cfg).unwrap(), "{cfg:?}");
    }
}

#[test]
fn disjoint_boxes_are_all_kept_within_lavapipe_loop_limit() {
    // Worst case for the greedy pass's loop budget: nothing overlaps, every box is kept and
    // every column stays live, so each kept row sweeps every later box.
    let g = gpu();
    let n = 10_000;
    let b: Vec<BoxF> = (0..n)
        .map(|i| {
            let (x, y) = ((i % 100) as f32 * 4.0, (i / 100) as f32 * 4.0);
            [x, y, x + 3.0, y + 3.0]
        })
        .collect();
    let mut r = rng(37);
    let s: Vec<f32> = (0..n).map(|_| r.gen()).collect();
    let got = run(&g, &b, &s, &NmsConfig::iou(0.1));
    assert_eq!(got.len(), n);
    assert_eq!(got, cpu::nms(&b, &s, &NmsConfig::iou(0.1)).unwrap());
}
