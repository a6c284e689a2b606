//! Box convention, IoU matrix, encode/decode, clip and the small-box mask against CPU references.

use deeplesion::detection::boxes::{self, cpu, BoxCoder, BoxF, BBOX_CLAMP};
use deeplesion::testing::{assert_close, gpu, rng};
use rand::Rng;

fn random_boxes(r: &mut impl Rng, n: usize, extent: f32) -> Vec<BoxF> {
    (0..n)
        .map(|_| {
            let x = r.gen_range(0.0..extent);
            let y = r.gen_range(0.0..extent);
            [x, y, x + r.gen_range(1.0..extent / 3.0), y + r.gen_range(1.0..extent / 3.0)]
        })
        .collect()
}

#[test]
fn box_convention_is_continuous_without_plus_one() {
    let b = [0.0, 0.0, 10.0, 10.0];
    assert_eq!(boxes::area(&b), 100.0);
    assert_eq!(boxes::width(&[2.0, 0.0, 5.0, 1.0]), 3.0);
    // Half overlap of two 10x10 boxes: intersection 50, union 150.
    assert_eq!(boxes::iou(&b, &[5.0, 0.0, 15.0, 10.0]), 50.0 / 150.0);
    // Touching boxes do not overlap.
    assert_eq!(boxes::iou(&b, &[10.0, 0.0, 20.0, 10.0]), 0.0);
    assert!((BBOX_CLAMP - (1000.0f32 / 16.0).ln()).abs() < 1e-6);
}

#[test]
fn zero_area_boxes_have_zero_iou() {
    let z = [3.0, 3.0, 3.0, 3.0];
    assert_eq!(boxes::iou(&z, &z), 0.0);
    let g = gpu();
    let t = boxes::upload(&g, &[z, [0.0, 0.0, 4.0, 4.0]]).unwrap();
    let m = boxes::iou_matrix(&g, &t, &t).unwrap().to_vec(&g).unwrap();
    assert_eq!(m, vec![0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn iou_matrix_matches_cpu() {
    let g = gpu();
    let mut r = rng(10);
    for (n, m) in [(1, 1), (7, 300), (257, 33), (0, 5)] {
        let a = random_boxes(&mut r, n, 100.0);
        let b = random_boxes(&mut r, m, 100.0);
        let got = boxes::iou_matrix(&g, &boxes::upload(&g, &a).unwrap(), &boxes::upload(&g, &b).unwrap()).unwrap();
        assert_eq!(got.shape(), &[n, m]);
        if n == 0 {
            continue; // nothing to read back
        }
        assert_close("iou_matrix", &got.to_vec(&g).unwrap(), &cpu::iou_matrix(&a, &b), 1e-6);
    }
}

#[test]
fn encode_then_decode_round_trips_and_matches_cpu() {
    let g = gpu();
    let mut r = rng(11);
    let coder = BoxCoder::roi_head();
    let a = random_boxes(&mut r, 333, 200.0);
    let t = random_boxes(&mut r, 333, 200.0);
    let (ta, tt) = (boxes::upload(&g, &a).unwrap(), boxes::upload(&g, &t).unwrap());
    let d = boxes::encode(&g, &ta, &tt, &coder).unwrap();
    let dv = d.to_vec(&g).unwrap();
    assert_close("encode", &dv, &boxes::flatten(&cpu::encode(&a, &t, &coder)), 1e-5);
    let back = boxes::decode(&g, &ta, &d, 1, &coder, None).unwrap().to_vec(&g).unwrap();
    assert_close("decode(encode)", &back, &boxes::flatten(&t), 1e-5);
}

#[test]
fn decode_broadcasts_over_classes_and_images_and_clips() {
    let g = gpu();
    let mut r = rng(12);
    let coder = BoxCoder::default();
    let anchors = random_boxes(&mut r, 37, 64.0);
    // 2 images x 37 boxes x 3 classes, with huge dw/dh to hit the clamp.
    let deltas: Vec<[f32; 4]> = (0..2 * 37 * 3)
        .map(|_| [r.gen_range(-1.0..1.0), r.gen_range(-1.0..1.0), r.gen_range(-3.0..9.0), r.gen_range(-3.0..9.0)])
        .collect();
    let got = boxes::decode(
        &g,
        &boxes::upload(&g, &anchors).unwrap(),
        &boxes::upload(&g, &deltas).unwrap(),
        3,
        &coder,
        Some((64.0, 48.0)),
    )
    .unwrap()
    .to_vec(&g)
    .unwrap();
    let want = cpu::decode(&anchors, &deltas, 3, &coder, Some((64.0, 48.0)));
    assert_close("decode", &got, &boxes::flatten(&want), 1e-5);
    for b in &want {
        assert!(b[0] >= 0.0 && b[2] <= 64.0 && b[1] >= 0.0 && b[3] <= 48.0);
    }
}

#[test]
fn decode_clamps_growth_at_log_1000_over_16() {
    let b = [0.0, 0.0, 16.0, 16.0];
    let out = cpu::decode_one(&b, &[0.0, 0.0, 100.0, 100.0], &BoxCoder::default(), None);
    assert!((out[2] - out[0] - 1000.0).abs() < 0.05, "{out:?}");
}

#[test]
fn clip_and_small_box_mask_match_cpu() {
    let g = gpu();
    let mut r = rng(13);
    let b: Vec<BoxF> =
        random_boxes(&mut r, 300, 120.0).iter().map(|b| [b[0] - 20.0, b[1] - 20.0, b[2], b[3]]).collect();
    let t = boxes::upload(&g, &b).unwrap();
    let c = boxes::clip(&g, &t, 100.0, 80.0).unwrap();
    let want = cpu::clip(&b, 100.0, 80.0);
    assert_eq!(c.to_vec(&g).unwrap(), boxes::flatten(&want));
    let mask = boxes::keep_mask(&g, &c, 8.0).unwrap().to_vec_u32(&g).unwrap();
    let keep: Vec<usize> = (0..mask.len()).filter(|&i| mask[i] == 1).collect();
    assert_eq!(keep, cpu::keep_min_size(&want, 8.0));
}
