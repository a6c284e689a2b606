//! DeepLesion evaluation on hand-made detection lists whose sensitivities are worked out by hand below.

use deeplesion::eval::froc::{overlap, sensitivity_at};
use deeplesion::eval::{detections, evaluate, ground_truth, Convention, Criterion, Detection, EvalOptions, GtLesion};

fn det(file: &str, b: [f32; 4], score: f32) -> Detection {
    Detection { file: file.into(), bbox: b, score, class: 0 }
}

fn gt(file: &str, b: [f32; 4], coarse_type: i32, mm: f32) -> GtLesion {
    GtLesion { file: file.into(), bbox: b, coarse_type, long_diameter_mm: mm, noisy: false }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[track_caller]
fn assert_sens(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(close(*g, *w), "level {i}: got {g}, want {w} (all: {got:?})");
    }
}

fn images(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A: one lesion, B: two. Score order: hit g0, FP, duplicate on g0 (ignored), hit g1, FP, FP, hit g2.
/// With 2 images the curve is (0, 1/3), (0.5, 2/3), (1, 2/3), (1.5, 1): at 0.5 and 1 FP/img
/// sensitivity 2/3; at 2, 4, 8, 16 the last point (1.0) is held. Mean over 0.5-4 = (2/3+2/3+1+1)/4.
#[test]
fn duplicate_on_found_lesion_is_neither_hit_nor_fp_and_last_point_is_held() {
    let gts = vec![
        gt("A", [0., 0., 9., 9.], 4, 12.0),
        gt("B", [20., 20., 29., 29.], 5, 5.0),
        gt("B", [50., 50., 59., 59.], 5, 40.0),
    ];
    let dets = vec![
        det("B", [300., 300., 309., 309.], 0.4),
        det("A", [0., 0., 9., 9.], 0.9),
        det("B", [100., 100., 109., 109.], 0.8),
        det("A", [0., 0., 9., 9.], 0.7),
        det("B", [20., 20., 29., 29.], 0.6),
        det("A", [200., 200., 209., 209.], 0.5),
        det("B", [50., 50., 59., 59.], 0.3),
    ];
    let m = evaluate(&dets, &gts, &images(&["A", "B"]), EvalOptions::default()).unwrap();
    assert_eq!(m.iou.curve, vec![(0.0, 1.0 / 3.0), (0.5, 2.0 / 3.0), (1.0, 2.0 / 3.0), (1.5, 1.0)]);
    assert_sens(&m.iou.overall.sensitivity, &[2. / 3., 2. / 3., 1., 1., 1., 1.]);
    assert!(close(m.iou.overall.mean_0_5_to_4, (2. / 3. + 2. / 3. + 1. + 1.) / 4.));
    assert!(close(m.iou.max_fp_per_image, 1.5));
    // Per type: liver (g0) found before any FP -> 1 everywhere; lung (g1, g2): g1 before the 2nd FP
    // -> curve (0,0), (0.5,0.5), (1,0.5), (1.5,1) -> 0.5, 0.5, 1, 1, 1, 1.
    let ty = |n: &str| m.iou.per_type.iter().find(|t| t.0 == n).unwrap().1.clone();
    assert_sens(&ty("liver").sensitivity, &[1.; 6]);
    assert_sens(&ty("lung").sensitivity, &[0.5, 0.5, 1., 1., 1., 1.]);
    assert_eq!(m.iou.per_type.len(), 2, "types with no lesion are left out");
    // Per size: <10mm is g1 (0.5 at 0.5 FP: found after the 1st FP), 10-30 is g0, >30 is g2 (found last).
    let sz = |i: usize| m.iou.per_size[i].1.sensitivity.clone();
    assert_sens(&sz(0), &[1., 1., 1., 1., 1., 1.]);
    assert_sens(&sz(1), &[1.; 6]);
    assert_sens(&sz(2), &[0., 0., 1., 1., 1., 1.]);
}

/// One image with lesions, two empty: FP, FP, hit, FP, hit over 2 lesions and 3 images gives the
/// points (0,0), (1/3,0), (2/3,0.5), (1,1). At 0.5 FP/img: 0 + (0.5-1/3)/(1/3) * 0.5 = 0.25.
#[test]
fn sensitivity_is_linearly_interpolated_between_points() {
    let gts = vec![gt("A", [0., 0., 9., 9.], -1, 5.0), gt("A", [40., 40., 49., 49.], -1, 5.0)];
    let dets = vec![
        det("A", [100., 100., 109., 109.], 0.9),
        det("C", [0., 0., 9., 9.], 0.8),
        det("A", [0., 0., 9., 9.], 0.7),
        det("B", [0., 0., 9., 9.], 0.6),
        det("A", [40., 40., 49., 49.], 0.5),
    ];
    let m = evaluate(&dets, &gts, &images(&["A", "B", "C"]), EvalOptions::default()).unwrap();
    assert_sens(&m.iou.overall.sensitivity, &[0.25, 1., 1., 1., 1., 1.]);
    assert!(m.iou.per_type.is_empty(), "unlabelled lesions enter no type");
    assert!(close(sensitivity_at(&[(0.0, 0.0), (1.0, 0.5)], 0.5), 0.25));
    assert!(close(sensitivity_at(&[(0.0, 0.2), (1.0, 0.5)], 7.0), 0.5), "held past the last point");
    assert!(close(sensitivity_at(&[], 1.0), 0.0));
}

/// A detection inside a lesion covering a quarter of it: IoU 25/100 (a FP), IoBB 25/25 (a hit).
#[test]
fn iobb_counts_a_small_box_inside_the_lesion() {
    let gts = vec![gt("A", [0., 0., 9., 9.], 4, 20.0)];
    let dets = vec![det("A", [0., 0., 4., 4.], 0.9)];
    let m = evaluate(&dets, &gts, &images(&["A"]), EvalOptions::default()).unwrap();
    assert_sens(&m.iou.overall.sensitivity, &[0.; 6]);
    assert_sens(&m.iobb.overall.sensitivity, &[1.; 6]);
    assert!(close(overlap(&[0., 0., 4., 4.], &[0., 0., 9., 9.], Criterion::Iou, Convention::PixelInclusive), 0.25));
}

/// [0,0,9,9] against [0,0,9,19]: pixel-inclusive 100/200 = 0.5 (a hit), continuous 81/171 < 0.5 (a FP).
#[test]
fn pixel_inclusive_and_continuous_conventions_differ_at_the_threshold() {
    let gts = vec![gt("A", [0., 0., 9., 19.], 4, 20.0)];
    let dets = vec![det("A", [0., 0., 9., 9.], 0.9)];
    let inc = evaluate(&dets, &gts, &images(&["A"]), EvalOptions::default()).unwrap();
    let cont =
        evaluate(&dets, &gts, &images(&["A"]), EvalOptions { convention: Convention::Continuous, threshold: 0.5 })
            .unwrap();
    assert_sens(&inc.iou.overall.sensitivity, &[1.; 6]);
    assert_sens(&cont.iou.overall.sensitivity, &[0.; 6]);
    let json = serde_json::to_string(&inc).unwrap();
    assert!(json.contains("\"overlap_convention\":\"pixel-inclusive\""), "{json}");
    assert!(serde_json::to_string(&cont).unwrap().contains("\"overlap_convention\":\"continuous\""));
}

/// The noisy lesion leaves the denominator; detections on files outside the split are ignored.
#[test]
fn noisy_lesions_and_foreign_images_are_excluded() {
    let mut noisy = gt("A", [50., 50., 59., 59.], 4, 20.0);
    noisy.noisy = true;
    let gts = vec![gt("A", [0., 0., 9., 9.], 4, 20.0), noisy];
    let dets = vec![det("Z", [0., 0., 9., 9.], 0.95), det("A", [0., 0., 9., 9.], 0.9)];
    let m = evaluate(&dets, &gts, &images(&["A"]), EvalOptions::default()).unwrap();
    assert_eq!((m.lesions, m.noisy_lesions_excluded, m.detections, m.detections_ignored), (1, 1, 1, 1));
    assert_sens(&m.iou.overall.sensitivity, &[1.; 6]);
}

#[test]
fn no_detections_give_zero_and_nan_scores_are_rejected() {
    let gts = vec![gt("A", [0., 0., 9., 9.], 4, 20.0)];
    let m = evaluate(&[], &gts, &images(&["A"]), EvalOptions::default()).unwrap();
    assert_sens(&m.iou.overall.sensitivity, &[0.; 6]);
    assert!(evaluate(&[det("A", [0., 0., 9., 9.], f32::NAN)], &gts, &images(&["A"]), EvalOptions::default()).is_err());
}

#[test]
fn detections_round_trip_through_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let dets = vec![det("000001_01_01_010.png", [1.5, 2.0, 30.25, 40.0], 0.75), det("x.png", [0., 0., 1., 1.], 0.1)];
    for name in ["d.csv", "d.json"] {
        let p = dir.path().join(name);
        if name.ends_with("csv") {
            detections::write_csv(&p, &dets).unwrap();
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(text.starts_with("file,x1,y1,x2,y2,score,class\n"), "{text}");
        } else {
            detections::write_json(&p, &dets).unwrap();
        }
        assert_eq!(detections::read(&p).unwrap(), dets, "{name}");
    }
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "file,x1,y1,x2,y2,score,class\na.png,5,5,1,1,0.5,0\n").unwrap();
    assert!(detections::read(&bad).is_err(), "inverted box rejected");
}

#[test]
fn ground_truth_is_read_zero_based_and_noisy_only_images_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let head = "File_name,Patient_index,Study_index,Series_ID,Key_slice_index,Measurement_coordinates,Bounding_boxes,Lesion_diameters_Pixel_,Normalized_lesion_location,Coarse_lesion_type,Possibly_noisy,Slice_range,Spacing_mm_px_,Image_size,DICOM_windows,Patient_gender,Patient_age,Train_Val_Test";
    let row = |f: &str, noisy: u8, split: u8| {
        format!("{f},89,1,1,37,\"154.273, 176.808, 143.903, 209.029, 160.939, 200.511, 137.977, 191.252\",\"132.977, 171.808, 165.939, 214.029\",\"33.8477, 24.7578\",\"0.28, 0.33, 0.54\",4,{noisy},\"31, 43\",\"0.5, 0.5, 5\",\"512, 512\",\"-175, 275\",F,71,{split}")
    };
    let text = [head.to_string(), row("a.png", 0, 3), row("b.png", 1, 3), row("c.png", 0, 1)].join("\n");
    std::fs::write(dir.path().join("DL_info.csv"), text).unwrap();
    let (imgs, gts) = ground_truth::load(&dir.path().join("DL_info.csv"), deeplesion::data::Split::Test).unwrap();
    assert_eq!(imgs, vec!["a.png".to_string()]);
    assert_eq!(gts.len(), 2);
    assert_eq!(gts[0].bbox, [131.977, 170.808, 164.939, 213.029]);
    assert!((gts[0].long_diameter_mm - 16.92385).abs() < 1e-4);
    assert!(gts[1].noisy);
}
