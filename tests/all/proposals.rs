//! The GPU proposal layer against its CPU reference, both input layouts, one readback.

use deeplesion::detection::boxes::BoxF;
use deeplesion::detection::proposals::{cpu_proposals, proposals, ProposalConfig};
use deeplesion::detection::AnchorConfig;
use deeplesion::testing::{assert_close, gpu, randn, rng};

#[test]
fn nchw_layout_matches_cpu_per_image_with_one_readback() {
    let g = gpu();
    let mut r = rng(40);
    let acfg = AnchorConfig::default();
    let (n, a, h, w) = (2, acfg.per_cell(), 9, 11);
    let anchors = acfg.grid(h, w);
    let obj = randn(&mut r, n * a * h * w);
    let del: Vec<f32> = randn(&mut r, n * 4 * a * h * w).iter().map(|v| v * 0.5).collect();
    let tobj = g.upload(&[n, a, h, w], &obj).unwrap();
    let tdel = g.upload(&[n, 4 * a, h, w], &del).unwrap();
    let tanc = acfg.upload(&g, h, w).unwrap();
    let img = (w as f32 * 8.0, h as f32 * 8.0);
    let cfg =
        ProposalConfig { pre_nms_top_n: 500, post_nms_top_n: 40, nms_iou: 0.7, min_size: 4.0, ..Default::default() };
    let before = g.stats();
    let got = proposals(&g, &tobj, &tdel, &tanc, img, &cfg).unwrap();
    assert_eq!(g.stats().readbacks - before.readbacks, 1, "one readback");
    let mut rows = Vec::new();
    for i in 0..n {
        // Reorder NCHW into anchor order (y, x, a).
        let mut s = Vec::new();
        let mut d: Vec<[f32; 4]> = Vec::new();
        for y in 0..h {
            for x in 0..w {
                for ai in 0..a {
                    s.push(obj[((i * a + ai) * h + y) * w + x]);
                    let c = |j: usize| del[((i * 4 * a + ai * 4 + j) * h + y) * w + x];
                    d.push([c(0), c(1), c(2), c(3)]);
                }
            }
        }
        let (wb, ws) = cpu_proposals(&s, &d, &anchors, img, &cfg).unwrap();
        assert_eq!(got.scores[i], ws, "image {i} scores / order");
        let flat = |b: &[BoxF]| b.iter().flatten().copied().collect::<Vec<f32>>();
        assert_close("proposal boxes", &flat(&got.boxes[i]), &flat(&wb), 1e-5);
        assert!(got.boxes[i].len() <= 40 && !got.boxes[i].is_empty());
        for b in &wb {
            rows.extend([i as f32, b[0], b[1], b[2], b[3]]);
        }
    }
    assert_close("rois", &got.rois.to_vec(&g).unwrap(), &rows, 1e-5);
}

#[test]
fn flat_layout_and_tiny_boxes_dropped() {
    let g = gpu();
    // Two anchors; the second decodes to a 2x2 box and is dropped by min_size 4.
    let anchors: Vec<BoxF> = vec![[0.0, 0.0, 16.0, 16.0], [20.0, 20.0, 22.0, 22.0]];
    let tanc = deeplesion::detection::boxes::upload(&g, &anchors).unwrap();
    let tobj = g.upload(&[1, 2], &[0.1, 0.9]).unwrap();
    let tdel = g.upload(&[1, 2, 4], &[0.0; 8]).unwrap();
    let cfg = ProposalConfig { min_size: 4.0, ..Default::default() };
    let got = proposals(&g, &tobj, &tdel, &tanc, (64.0, 64.0), &cfg).unwrap();
    assert_eq!(got.boxes, vec![vec![[0.0, 0.0, 16.0, 16.0]]]);
    assert_eq!(got.scores, vec![vec![0.1]]);
    assert_eq!(got.rois.shape(), &[1, 5]);
}

#[test]
fn nan_objectness_is_an_error() {
    let g = gpu();
    let tanc = deeplesion::detection::boxes::upload(&g, &[[0.0, 0.0, 16.0, 16.0]]).unwrap();
    let tobj = g.upload(&[1, 1], &[f32::NAN]).unwrap();
    let tdel = g.upload(&[1, 1, 4], &[0.0; 4]).unwrap();
    assert!(proposals(&g, &tobj, &tdel, &tanc, (64.0, 64.0), &ProposalConfig::default()).is_err());
}
