//! DL_info.csv reader and dataset loading: the release's example row, grouping, and every bad-input case.

use std::path::Path;

use deeplesion::data::dl_info::{self, SkipKind, HEADER};
use deeplesion::data::{slice, Dataset, LoadOptions, Split};

/// The example row of the release (shared/deeplesion.md), verbatim.
pub const EXAMPLE_ROW: &str = r#"000089_01_01_037.png,89,1,1,37,"154.273, 176.808, 143.903, 209.029, 160.939, 200.511, 137.977, 191.252","132.977, 171.808, 165.939, 214.029","33.8477, 24.7578","0.282373, 0.333694, 0.546692",-1,0,"31, 43","0.859375, 0.859375, 5","512, 512","-175, 275",F,71,1"#;

pub fn header() -> String {
    HEADER.join(",")
}

fn csv_with(rows: &[&str]) -> String {
    let mut s = header();
    for r in rows {
        s.push('\n');
        s.push_str(r);
    }
    s.push('\n');
    s
}

/// A dataset folder with `csv` and 16-bit PNGs for the given file names (all `w x h`).
pub fn make_dir(csv: &str, pngs: &[(&str, u32, u32)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("DL_info.csv"), csv).unwrap();
    for &(name, w, h) in pngs {
        write_png(dir.path(), name, w, h);
    }
    dir
}

pub fn write_png(root: &Path, name: &str, w: u32, h: u32) {
    let rel = slice::relative_path(name).unwrap();
    let p = root.join("Images_png").join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let hu: Vec<f32> = (0..w * h).map(|i| (i % 97) as f32 * 10.0 - 500.0).collect();
    std::fs::write(p, slice::encode_slice(w, h, &hu).unwrap()).unwrap();
}

#[test]
fn example_row_parses_with_zero_based_coordinates() {
    let (recs, skipped) = dl_info::parse_csv(csv_with(&[EXAMPLE_ROW]).as_bytes(), "mem.csv", true).unwrap();
    assert!(skipped.is_empty());
    let r = &recs[0];
    assert_eq!(r.file_name, "000089_01_01_037.png");
    assert_eq!((r.patient, r.study, r.series, r.key_slice), (89, 1, 1, 37));
    assert!((r.recist[0] - 153.273).abs() < 1e-3 && (r.recist[7] - 190.252).abs() < 1e-3);
    assert!((r.bbox[0] - 131.977).abs() < 1e-3 && (r.bbox[3] - 213.029).abs() < 1e-3);
    assert_eq!(r.diameters_px, [33.8477, 24.7578]);
    assert_eq!(r.coarse_type, -1);
    assert!(!r.noisy);
    assert_eq!(r.slice_range, [31, 43]);
    assert_eq!(r.spacing_mm, [0.859375, 0.859375, 5.0]);
    assert_eq!(r.image_size, [512, 512]);
    assert_eq!(r.dicom_window, [-175.0, 275.0]);
    assert_eq!(r.gender, "F");
    assert_eq!(r.age, Some(71.0));
    assert_eq!(r.split, Split::Train);
    assert_eq!(r.line, 2);
    // Mining the example row reproduces its stored box and diameters.
    let m = deeplesion::data::recist::mine(r);
    assert!(m.box_diff < 1e-3, "{m:?}");
    assert!(m.diameter_diff < 1e-3, "{m:?}");
    assert_eq!(slice::relative_path(&r.file_name).unwrap(), Path::new("000089_01_01/037.png"));
}

#[test]
fn write_then_read_round_trips() {
    let (recs, _) = dl_info::parse_csv(csv_with(&[EXAMPLE_ROW]).as_bytes(), "mem.csv", true).unwrap();
    let mut out = Vec::new();
    dl_info::write_csv(&mut out, &recs).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert_eq!(text.lines().nth(1).unwrap(), EXAMPLE_ROW);
    let (again, _) = dl_info::parse_csv(&out, "again.csv", true).unwrap();
    assert_eq!(again, recs);
}

#[test]
fn lesions_on_one_key_slice_are_grouped() {
    let second = EXAMPLE_ROW.replace("\"132.977, 171.808, 165.939, 214.029\"", "\"20, 30, 60, 70\"");
    let other =
        EXAMPLE_ROW.replace("000089_01_01_037.png,89,1,1,37", "000090_01_01_037.png,90,1,1,37").replace(",1\n", ",3\n");
    let other = format!("{},3", other.strip_suffix(",1").unwrap());
    let csv = csv_with(&[EXAMPLE_ROW, &other, &second]);
    let dir = make_dir(&csv, &[("000089_01_01_037.png", 512, 512), ("000090_01_01_037.png", 512, 512)]);
    let (ds, sum) = Dataset::open(dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!((sum.rows, sum.lesions, sum.images), (3, 3, 2), "{}", sum.report());
    assert_eq!(ds.images.len(), 2);
    assert_eq!(ds.images[0].lesions.len(), 2);
    assert_eq!(ds.images[0].boxes()[1], [19.0, 29.0, 59.0, 69.0]);
    assert_eq!(ds.images(Split::Test).len(), 1);
    assert_eq!(ds.image("000090_01_01_037.png").unwrap().patient, 90);
}

/// Run one bad row through the loader: it is skipped with the right kind and a message naming
/// file and line; with `strict` it is an error naming the same.
fn expect_skip(row: &str, kind: SkipKind, pngs: &[(&str, u32, u32)], needle: &str) {
    let csv = csv_with(&[EXAMPLE_ROW, row]);
    let dir = make_dir(&csv, pngs);
    let (ds, sum) = Dataset::open(dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!(sum.rows, 2);
    assert_eq!(sum.skipped.len(), 1, "row {row}: {}", sum.report());
    let s = &sum.skipped[0];
    assert_eq!(s.kind, kind, "{s}");
    assert!(s.location.contains("DL_info.csv:3"), "{}", s.location);
    assert!(s.to_string().contains(needle), "'{s}' lacks '{needle}'");
    assert_eq!(ds.images.iter().map(|i| i.lesions.len()).sum::<usize>(), 1);
    assert!(sum.report().contains(kind.label()));
    let strict = LoadOptions { strict: true, ..Default::default() };
    let err = Dataset::open(dir.path(), &strict).unwrap_err().to_string();
    assert!(err.contains("DL_info.csv:3") && err.contains(needle), "{err}");
}

const PNG: (&str, u32, u32) = ("000089_01_01_037.png", 512, 512);

#[test]
fn wrong_number_of_coordinates_is_skipped() {
    let row = EXAMPLE_ROW.replace("154.273, 176.808, 143.903, ", "154.273, 176.808, ");
    expect_skip(&row, SkipKind::WrongCount, &[PNG], "Measurement_coordinates: expected 8 values, found 7");
    let row = EXAMPLE_ROW.replace("\"512, 512\"", "\"512\"");
    expect_skip(&row, SkipKind::WrongCount, &[PNG], "Image_size: expected 2 values, found 1");
}

#[test]
fn wrong_number_of_columns_is_skipped() {
    let row = EXAMPLE_ROW.replace(",F,71,1", ",F,71");
    expect_skip(&row, SkipKind::WrongColumns, &[PNG], "expected 18 columns, found 17");
}

#[test]
fn non_numeric_and_nan_fields_are_skipped() {
    let row = EXAMPLE_ROW.replace("33.8477", "abc");
    expect_skip(&row, SkipKind::BadField, &[PNG], "Lesion_diameters_Pixel_: 'abc' is not a number");
    let row = EXAMPLE_ROW.replace("154.273", "NaN");
    expect_skip(&row, SkipKind::BadField, &[PNG], "Measurement_coordinates: 'NaN' is not a finite number");
    let row = EXAMPLE_ROW.replace(",89,1,1,37,", ",89,x,1,37,");
    expect_skip(&row, SkipKind::BadField, &[PNG], "Study_index");
    let row = EXAMPLE_ROW.replace(",F,71,1", ",F,71,7");
    expect_skip(&row, SkipKind::BadField, &[PNG], "Train_Val_Test");
}

#[test]
fn nan_age_is_allowed() {
    let row = EXAMPLE_ROW.replace(",F,71,1", ",F,NaN,1");
    let (recs, skipped) = dl_info::parse_csv(csv_with(&[&row]).as_bytes(), "m", true).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(recs[0].age, None);
}

#[test]
fn missing_png_is_skipped() {
    let row = EXAMPLE_ROW.replace("000089_01_01_037", "000089_01_01_038").replace(",89,1,1,37,", ",89,1,1,38,");
    expect_skip(&row, SkipKind::MissingImage, &[PNG], "038.png");
}

#[test]
fn unreadable_png_is_skipped() {
    let row = EXAMPLE_ROW.replace("000089_01_01_037", "000089_01_01_038").replace(",89,1,1,37,", ",89,1,1,38,");
    let csv = csv_with(&[EXAMPLE_ROW, &row]);
    let dir = make_dir(&csv, &[PNG]);
    std::fs::write(dir.path().join("Images_png/000089_01_01/038.png"), b"not a png at all").unwrap();
    let (_, sum) = Dataset::open(dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!(sum.skipped.len(), 1);
    assert_eq!(sum.skipped[0].kind, SkipKind::MissingImage);
    assert!(sum.skipped[0].to_string().contains("unreadable PNG"), "{}", sum.skipped[0]);
}

fn write_8bit(root: &Path, name: &str, rgb: bool) {
    let p = root.join("Images_png").join(slice::relative_path(name).unwrap());
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    if rgb {
        image::RgbImage::new(512, 512).save(&p).unwrap();
    } else {
        image::GrayImage::new(512, 512).save(&p).unwrap();
    }
}

#[test]
fn eight_bit_and_rgb_pngs_are_refused() {
    for rgb in [false, true] {
        let row = EXAMPLE_ROW.replace("000089_01_01_037", "000089_01_01_038").replace(",89,1,1,37,", ",89,1,1,38,");
        let csv = csv_with(&[EXAMPLE_ROW, &row]);
        let dir = make_dir(&csv, &[PNG]);
        write_8bit(dir.path(), "000089_01_01_038.png", rgb);
        let (_, sum) = Dataset::open(dir.path(), &LoadOptions::default()).unwrap();
        assert_eq!(sum.skipped.len(), 1);
        let s = &sum.skipped[0];
        assert_eq!(s.kind, SkipKind::BadImage);
        let want = if rgb { "RGB" } else { "8-bit" };
        assert!(s.message.contains(want) && s.message.contains("16-bit"), "{s}");
        assert!(s.location.contains("038.png"), "{s}");
        // The slice loader refuses it too.
        let p = dir.path().join("Images_png/000089_01_01/038.png");
        let e = slice::load_slice(&p, None).unwrap_err();
        assert!(e.message.contains(want), "{}", e.message);
    }
}

#[test]
fn size_mismatch_is_skipped() {
    let row = EXAMPLE_ROW.replace("000089_01_01_037", "000089_01_01_038").replace(",89,1,1,37,", ",89,1,1,38,");
    expect_skip(
        &row,
        SkipKind::SizeMismatch,
        &[PNG, ("000089_01_01_038.png", 256, 512)],
        "PNG is 256x512 but Image_size says 512x512",
    );
}

#[test]
fn box_outside_or_zero_area_is_skipped() {
    let row = EXAMPLE_ROW.replace("\"132.977, 171.808, 165.939, 214.029\"", "\"132.977, 171.808, 600, 214.029\"");
    expect_skip(&row, SkipKind::BadBox, &[PNG], "outside the 512x512 image");
    let row = EXAMPLE_ROW.replace("\"132.977, 171.808, 165.939, 214.029\"", "\"132.977, 171.808, 132.977, 214.029\"");
    expect_skip(&row, SkipKind::BadBox, &[PNG], "zero area");
    let row = EXAMPLE_ROW.replace("\"132.977, 171.808, 165.939, 214.029\"", "\"-3, 171.808, 165.939, 214.029\"");
    expect_skip(&row, SkipKind::BadBox, &[PNG], "outside");
}

#[test]
fn escaping_file_names_are_refused() {
    for name in ["../../etc_passwd.png", "/etc/x_037.png", "000089_01_01_..", "a/../../b_037.png", "noslash.png"] {
        let row = EXAMPLE_ROW.replace("000089_01_01_037.png", name);
        let csv = csv_with(&[EXAMPLE_ROW, &row]);
        let dir = make_dir(&csv, &[PNG]);
        let (_, sum) = Dataset::open(dir.path(), &LoadOptions::default()).unwrap();
        assert_eq!(sum.skipped.len(), 1, "{name}");
        assert_eq!(sum.skipped[0].kind, SkipKind::BadPath, "{name}: {}", sum.skipped[0]);
        assert!(sum.skipped[0].location.contains("DL_info.csv:3"));
    }
    assert!(slice::relative_path("../x_1.png").unwrap_err().contains("escape"));
}

#[test]
fn empty_csv_is_an_error() {
    for text in ["", "\n  \n"] {
        let dir = make_dir(text, &[]);
        let err = Dataset::open(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("DL_info.csv") && err.contains("empty CSV"), "{err}");
    }
    let dir = make_dir(&format!("{}\n", header()), &[]);
    let err = Dataset::open(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("no lesion rows"), "{err}");
}

#[test]
fn bad_headers_are_errors_naming_the_file() {
    // Missing column.
    let missing = HEADER.iter().filter(|h| **h != "Patient_age").copied().collect::<Vec<_>>().join(",");
    let dir = make_dir(&format!("{missing}\n{EXAMPLE_ROW}\n"), &[]);
    let err = Dataset::open(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("DL_info.csv:1") && err.contains("missing columns: Patient_age"), "{err}");
    // Reordered columns.
    let mut h = HEADER.to_vec();
    h.swap(1, 2);
    let dir = make_dir(&format!("{}\n{EXAMPLE_ROW}\n", h.join(",")), &[]);
    let err = Dataset::open(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("DL_info.csv:1") && err.contains("reordered") && err.contains("Study_index"), "{err}");
    // Unknown column.
    let dir = make_dir(&format!("{},Extra\n{EXAMPLE_ROW},1\n", header()), &[]);
    let err = Dataset::open(dir.path(), &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("unknown columns: Extra"), "{err}");
}

#[test]
fn strict_mode_fails_on_first_bad_row_only() {
    let dir = make_dir(&csv_with(&[EXAMPLE_ROW]), &[PNG]);
    let strict = LoadOptions { strict: true, ..Default::default() };
    let (ds, sum) = Dataset::open(dir.path(), &strict).unwrap();
    assert_eq!((ds.images.len(), sum.skipped.len()), (1, 0));
}

#[test]
fn garbage_never_panics() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let base = csv_with(&[EXAMPLE_ROW, EXAMPLE_ROW]).into_bytes();
    for _ in 0..2000 {
        let mut b = base.clone();
        for _ in 0..rng.gen_range(1..8) {
            let i = rng.gen_range(0..b.len());
            match rng.gen_range(0..3) {
                0 => b[i] = rng.gen(),
                1 => {
                    b.remove(i);
                }
                _ => b.insert(i, *b"\",\n-.0eN".get(rng.gen_range(0..8)).unwrap()),
            }
        }
        let _ = dl_info::parse_csv(&b, "fuzz", false);
        let _ = dl_info::parse_csv(&b, "fuzz", true);
    }
}
