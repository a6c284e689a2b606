//! Target assignment: hand-made matching cases, GPU IoU path equals the CPU reference, seeded sampling.

use deeplesion::detection::boxes::BoxF;
use deeplesion::detection::targets::{assign_targets, cpu_assign_targets, MatchConfig, IGNORE};
use deeplesion::detection::AnchorConfig;
use deeplesion::testing::{gpu, rng};
use rand::Rng;

fn head_cfg() -> MatchConfig {
    MatchConfig { batch_size: 100, pos_fraction: 0.5, ..MatchConfig::roi_head() }
}

#[test]
fn thresholds_split_positive_ignored_and_negative() {
    let g = gpu();
    let gt = [[0.0, 0.0, 10.0, 10.0]];
    let boxes: Vec<BoxF> = vec![
        [0.0, 0.0, 10.0, 10.0],   // IoU 1: positive
        [2.5, 0.0, 12.5, 10.0],   // IoU 0.6: positive at 0.5
        [5.0, 0.0, 15.0, 10.0],   // IoU 1/3: negative below 0.5
        [50.0, 50.0, 60.0, 60.0], // IoU 0: negative
    ];
    let cfg = MatchConfig { pos_iou: 0.5, neg_iou_hi: 0.3, ..head_cfg() };
    let t = assign_targets(&g, &boxes, &gt, &[3], &cfg, &mut rng(1)).unwrap();
    // Box 2 (1/3) is between 0.3 and 0.5: ignored.
    assert_eq!(t.labels, vec![3, 3, IGNORE, 0]);
    assert_eq!(t.weights, vec![1.0, 1.0, 0.0, 1.0]);
    assert_eq!(t.reg_targets[0], [0.0; 4]);
    assert_eq!(t.reg_weights[1], [1.0; 4]);
    assert_eq!(t.reg_weights[3], [0.0; 4]);
    // Box 1 is shifted right by 2.5 of width 10: dx = 10 * (5 - 7.5) / 10 = -2.5.
    assert!((t.reg_targets[1][0] + 2.5).abs() < 1e-6, "{:?}", t.reg_targets[1]);
    assert_eq!((t.num_pos, t.num_neg), (2, 1));
}

#[test]
fn each_ground_truth_keeps_its_best_anchor() {
    let g = gpu();
    // The gt overlaps its best anchor at IoU 0.4 (between 0.3 and 0.7); the RPN rule makes it positive.
    let gt = [[0.0, 0.0, 10.0, 10.0]];
    let boxes = [[0.0, 0.0, 10.0, 4.0], [30.0, 30.0, 40.0, 40.0]];
    let cfg = MatchConfig { inside: None, ..MatchConfig::rpn(100.0, 100.0) };
    let t = assign_targets(&g, &boxes, &gt, &[1], &cfg, &mut rng(2)).unwrap();
    assert_eq!(t.labels, vec![1, 0]);
    let cfg = MatchConfig { best_box_positive: false, ..cfg };
    let t = assign_targets(&g, &boxes, &gt, &[1], &cfg, &mut rng(2)).unwrap();
    assert_eq!(t.labels, vec![IGNORE, 0]);
}

#[test]
fn straddling_anchors_are_ignored_and_no_gt_means_all_negative() {
    let g = gpu();
    let boxes = [[-5.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]];
    let t = assign_targets(&g, &boxes, &[], &[], &MatchConfig::rpn(64.0, 64.0), &mut rng(3)).unwrap();
    assert_eq!(t.labels, vec![IGNORE, 0]);
    assert_eq!(t.matched, vec![-1, -1]);
}

#[test]
fn sampling_is_balanced_and_seeded() {
    let g = gpu();
    let acfg = AnchorConfig::default();
    let anchors = acfg.grid(16, 16);
    let gt = [[30.0, 40.0, 70.0, 75.0], [80.0, 10.0, 100.0, 30.0]];
    let cfg = MatchConfig::rpn(128.0, 128.0);
    let a = assign_targets(&g, &anchors, &gt, &[1, 1], &cfg, &mut rng(4)).unwrap();
    let b = assign_targets(&g, &anchors, &gt, &[1, 1], &cfg, &mut rng(4)).unwrap();
    assert_eq!(a, b, "same seed, same targets");
    assert!(a.num_pos > 0 && a.num_pos <= 128);
    assert_eq!(a.num_pos + a.num_neg, 256);
    assert_eq!(a.labels.iter().filter(|&&l| l >= 0).count(), 256);
    let c = assign_targets(&g, &anchors, &gt, &[1, 1], &cfg, &mut rng(5)).unwrap();
    assert_ne!(a.labels, c.labels, "another seed samples other negatives");
}

#[test]
fn gpu_iou_path_matches_the_cpu_reference() {
    let g = gpu();
    let mut r = rng(6);
    let boxes: Vec<BoxF> = (0..700)
        .map(|_| {
            let (x, y) = (r.gen_range(0.0..200.0f32), r.gen_range(0.0..200.0f32));
            [x, y, x + r.gen_range(4.0..60.0), y + r.gen_range(4.0..60.0)]
        })
        .collect();
    let gt: Vec<BoxF> = boxes.iter().step_by(100).map(|b| [b[0] + 1.0, b[1] - 1.0, b[2] + 2.0, b[3]]).collect();
    let classes: Vec<u32> = (0..gt.len() as u32).map(|i| 1 + i % 3).collect();
    for cfg in [head_cfg(), MatchConfig::rpn(256.0, 256.0)] {
        let a = assign_targets(&g, &boxes, &gt, &classes, &cfg, &mut rng(7)).unwrap();
        let b = cpu_assign_targets(&boxes, &gt, &classes, &cfg, &mut rng(7)).unwrap();
        assert_eq!(a, b);
    }
}
