//! Preprocessing: windows, bilinear resampling with box scaling, 2 mm neighbour channels, and the missing-neighbour fallback.

use std::path::Path;

use deeplesion::data::preprocess::{self, output_size, resize_bilinear, scale_coord, PreprocessConfig, Window};
use deeplesion::data::{slice, Dataset, LoadOptions};

use super::data_reader::{header, EXAMPLE_ROW};

fn write_const(root: &Path, name: &str, w: u32, h: u32, hu: f32) {
    let p = root.join("Images_png").join(slice::relative_path(name).unwrap());
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, slice::encode_slice(w, h, &vec![hu; (w * h) as usize]).unwrap()).unwrap();
}

fn dataset_with_slices(slices: &[(u32, f32)]) -> (tempfile::TempDir, Dataset) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("DL_info.csv"), format!("{}\n{EXAMPLE_ROW}\n", header())).unwrap();
    for &(idx, hu) in slices {
        write_const(dir.path(), &format!("000089_01_01_{idx:03}.png"), 512, 512, hu);
    }
    let (ds, sum) = Dataset::open(dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!(sum.images, 1, "{}", sum.report());
    (dir, ds)
}

#[test]
fn slices_decode_to_hu() {
    let hu: Vec<f32> = vec![-1024.0, 0.0, 3071.0, -32768.0, 32767.0, 40.0];
    let png = slice::encode_slice(3, 2, &hu).unwrap();
    let s = slice::decode_slice(&png, "mem", Some([3, 2])).unwrap();
    assert_eq!((s.width, s.height), (3, 2));
    assert_eq!(s.hu, hu);
    let e = slice::decode_slice(&png, "mem.png", Some([2, 3])).unwrap_err();
    assert!(e.message.contains("3x2") && e.location == "mem.png");
}

#[test]
fn windows_map_to_unit_range() {
    let mut v = vec![-2000.0, -1024.0, 1023.5, 3071.0, 5000.0];
    preprocess::apply_window(&mut v, -1024.0, 3071.0);
    assert_eq!(v, vec![0.0, 0.0, 0.5, 1.0, 1.0]);
    assert_eq!("lung".parse::<Window>().unwrap(), Window::Hu { lo: -1400.0, hi: 200.0 });
    assert_eq!("soft-tissue".parse::<Window>().unwrap(), Window::Hu { lo: -160.0, hi: 240.0 });
    assert_eq!("-100,300".parse::<Window>().unwrap(), Window::Hu { lo: -100.0, hi: 300.0 });
    assert_eq!("dicom".parse::<Window>().unwrap(), Window::Dicom);
    assert!("nonsense".parse::<Window>().is_err());
}

#[test]
fn output_size_follows_spacing_and_cap() {
    let cfg = PreprocessConfig::default();
    // 0.859375 mm -> 0.8 mm grows 512 to 550, capped at 512.
    assert_eq!(output_size(512, 512, 0.859375, &cfg), (512, 512));
    // 0.6 mm shrinks to 384.
    assert_eq!(output_size(512, 512, 0.6, &cfg), (384, 384));
    let c2 = PreprocessConfig { target_spacing_mm: None, max_size: Some(256), ..cfg.clone() };
    assert_eq!(output_size(512, 384, 0.7, &c2), (256, 192));
    let c3 = PreprocessConfig { target_spacing_mm: None, max_size: None, ..cfg };
    assert_eq!(output_size(100, 50, 0.7, &c3), (100, 50));
}

#[test]
fn resampling_keeps_points_on_their_anatomy() {
    // A bright 3x3 spot centred at (20, 11) in a 40x30 plane; after resizing by 2.5 the
    // brightness centroid must sit at scale_coord of the original centre.
    let (w, h) = (40usize, 30usize);
    let mut p = vec![0.0f32; w * h];
    for y in 10..13 {
        for x in 19..22 {
            p[y * w + x] = 1.0;
        }
    }
    for (nw, nh) in [(100usize, 75usize), (16, 12), (40, 30)] {
        let r = resize_bilinear(&p, w, h, nw, nh);
        let (mut sx, mut sy, mut s) = (0.0f64, 0.0f64, 0.0f64);
        for y in 0..nh {
            for x in 0..nw {
                let v = r[y * nw + x] as f64;
                sx += v * x as f64;
                sy += v * y as f64;
                s += v;
            }
        }
        let (cx, cy) = (sx / s, sy / s);
        let ex = scale_coord(20.0, nw as f32 / w as f32) as f64;
        let ey = scale_coord(11.0, nh as f32 / h as f32) as f64;
        assert!((cx - ex).abs() < 0.15 && (cy - ey).abs() < 0.15, "{nw}: ({cx},{cy}) vs ({ex},{ey})");
    }
    // Constant planes stay constant.
    let c = resize_bilinear(&[3.0; 12], 4, 3, 7, 5);
    assert!(c.iter().all(|&v| (v - 3.0).abs() < 1e-6));
}

#[test]
fn neighbours_are_interpolated_at_2mm() {
    // z spacing 5 mm: -2 mm lies 0.4 of the way from slice 37 to 36.
    let (_d, ds) = dataset_with_slices(&[(36, 0.0), (37, 1000.0), (38, 2000.0)]);
    let img = &ds.images[0];
    let cfg = PreprocessConfig { window: Window::Hu { lo: 0.0, hi: 2000.0 }, ..Default::default() };
    let p = preprocess::load_image(&ds, img, &cfg).unwrap();
    assert_eq!((p.channels, p.height, p.width), (3, 512, 512));
    assert_eq!(p.chw.len(), 3 * 512 * 512);
    assert!(p.neighbours_found);
    let plane = 512 * 512;
    let (c0, c1, c2) = (p.chw[100], p.chw[plane + 100], p.chw[2 * plane + 100]);
    assert!((c0 - 0.3).abs() < 1e-5, "{c0}"); // 600 HU
    assert!((c1 - 0.5).abs() < 1e-5, "{c1}");
    assert!((c2 - 0.7).abs() < 1e-5, "{c2}"); // 1400 HU
    assert_eq!(preprocess::neighbour_taps(37, 1.0, 2.0), (39, 39, 0.0));
    let (a, b, f) = preprocess::neighbour_taps(37, 5.0, -2.0);
    assert_eq!((a, b), (36, 37));
    assert!((f - 0.6).abs() < 1e-6);
}

#[test]
fn missing_neighbours_repeat_the_key_slice() {
    let (_d, ds) = dataset_with_slices(&[(37, 1000.0)]);
    let cfg = PreprocessConfig { window: Window::Hu { lo: 0.0, hi: 2000.0 }, ..Default::default() };
    let p = preprocess::load_image(&ds, &ds.images[0], &cfg).unwrap();
    assert!(!p.neighbours_found);
    assert!(p.chw.iter().all(|&v| (v - 0.5).abs() < 1e-6));
}

#[test]
fn boxes_scale_with_the_image_and_dicom_window_applies() {
    let (_d, ds) = dataset_with_slices(&[(37, 50.0)]);
    let img = &ds.images[0];
    let cfg =
        PreprocessConfig { window: Window::Dicom, target_spacing_mm: None, max_size: Some(256), ..Default::default() };
    let p = preprocess::load_image(&ds, img, &cfg).unwrap();
    assert_eq!((p.height, p.width), (256, 256));
    assert_eq!(p.scale, [0.5, 0.5]);
    assert!((p.spacing_mm - 1.71875).abs() < 1e-6);
    let b = img.lesions[0].bbox;
    assert_eq!(
        p.boxes[0],
        [scale_coord(b[0], 0.5), scale_coord(b[1], 0.5), scale_coord(b[2], 0.5), scale_coord(b[3], 0.5)]
    );
    assert!((p.boxes[0][0] - 65.7385).abs() < 1e-3, "{:?}", p.boxes[0]);
    assert_eq!(p.lesion_types, vec![-1]);
    assert_eq!(p.recist[0].len(), 8);
    // DICOM window -175..275: 50 HU -> 0.5.
    assert!((p.chw[0] - 0.5).abs() < 1e-6, "{}", p.chw[0]);
}
