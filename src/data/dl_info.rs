//! DL_info.csv: the exact 18-column header, typed `LesionRecord` rows, and the one place where 1-based file coordinates become 0-based.

use std::path::Path;

use crate::{Error, Result};

/// The header of the released DL_info.csv, column for column.
pub const HEADER: [&str; 18] = [
    "File_name",
    "Patient_index",
    "Study_index",
    "Series_ID",
    "Key_slice_index",
    "Measurement_coordinates",
    "Bounding_boxes",
    "Lesion_diameters_Pixel_",
    "Normalized_lesion_location",
    "Coarse_lesion_type",
    "Possibly_noisy",
    "Slice_range",
    "Spacing_mm_px_",
    "Image_size",
    "DICOM_windows",
    "Patient_gender",
    "Patient_age",
    "Train_Val_Test",
];

/// Names of the coarse lesion types 1..=8 (index 0 is type 1).
pub const TYPE_NAMES: [&str; 8] =
    ["bone", "abdomen", "mediastinum", "liver", "lung", "kidney", "soft tissue", "pelvis"];

/// Human name of a coarse type (-1 is "unlabelled").
pub fn type_name(t: i32) -> &'static str {
    match t {
        1..=8 => TYPE_NAMES[(t - 1) as usize],
        _ => "unlabelled",
    }
}

/// Pixel coordinates in DL_info.csv start from 1 (the public loaders subtract 1). This is the
/// ONLY place a file coordinate becomes a 0-based one: every coordinate held in memory
/// (`LesionRecord::recist`, `bbox`, and everything derived from them) is 0-based, in pixel
/// units of the original slice, with pixel `i` at coordinate `i`.
#[inline]
pub fn file_to_zero_based(v: f32) -> f32 {
    v - 1.0
}

/// The inverse of [`file_to_zero_based`], used only when writing a DL_info-format file.
#[inline]
pub fn zero_based_to_file(v: f32) -> f32 {
    v + 1.0
}

/// The patient split of a row (Train_Val_Test: 1, 2, 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    /// All three, in file order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// The file's code (1, 2, 3).
    pub fn code(self) -> u8 {
        match self {
            Split::Train => 1,
            Split::Val => 2,
            Split::Test => 3,
        }
    }
    /// From the file's code.
    pub fn from_code(c: i64) -> Option<Split> {
        match c {
            1 => Some(Split::Train),
            2 => Some(Split::Val),
            3 => Some(Split::Test),
            _ => None,
        }
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "train" | "1" => Ok(Split::Train),
            "val" | "2" => Ok(Split::Val),
            "test" | "3" => Ok(Split::Test),
            _ => Err(format!("unknown split '{s}' (train, val, test)")),
        }
    }
}

/// One lesion (one CSV row). Pixel coordinates are 0-based (see [`file_to_zero_based`]);
/// slice indices stay as in the file because they name the PNG files.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LesionRecord {
    /// CSV line of the row (the header is line 1).
    pub line: u64,
    /// Key slice file name as written, e.g. `000089_01_01_037.png`.
    pub file_name: String,
    pub patient: u32,
    pub study: u32,
    pub series: u32,
    pub key_slice: u32,
    /// RECIST endpoints x11,y11,x12,y12 (long axis), x21,y21,x22,y22 (short axis), 0-based.
    pub recist: [f32; 8],
    /// Box x1,y1,x2,y2, 0-based.
    pub bbox: [f32; 4],
    /// Long and short diameter in pixels.
    pub diameters_px: [f32; 2],
    /// Normalized body position x, y, z.
    pub location: [f32; 3],
    /// Coarse type 1..=8, or -1 where unlabelled.
    pub coarse_type: i32,
    pub noisy: bool,
    /// First and last slice index available around the key slice.
    pub slice_range: [u32; 2],
    /// x, y, z spacing in mm (z = slice interval).
    pub spacing_mm: [f32; 3],
    /// Width, height in pixels.
    pub image_size: [u32; 2],
    /// DICOM window low, high in HU.
    pub dicom_window: [f32; 2],
    pub gender: String,
    /// Age in years; `None` where the file says NaN or nothing.
    pub age: Option<f32>,
    pub split: Split,
}

impl LesionRecord {
    /// Long diameter in mm (x spacing; the release's slices have square pixels).
    pub fn long_diameter_mm(&self) -> f32 {
        self.diameters_px[0] * self.spacing_mm[0]
    }
}

/// Why a row was skipped (the summary counts each kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum SkipKind {
    /// Wrong number of columns in the row.
    WrongColumns,
    /// A list field holds the wrong number of values.
    WrongCount,
    /// A field is not a number, is NaN/infinite, or out of its range.
    BadField,
    /// File_name would escape the image folder or has no `_`.
    BadPath,
    /// The PNG is missing or cannot be read.
    MissingImage,
    /// The PNG is not unsigned 16-bit grayscale (8-bit, RGB, alpha...).
    BadImage,
    /// The PNG size disagrees with Image_size.
    SizeMismatch,
    /// The box lies outside the image or has zero area.
    BadBox,
}

impl SkipKind {
    /// Short label for summaries.
    pub fn label(self) -> &'static str {
        match self {
            SkipKind::WrongColumns => "wrong number of columns",
            SkipKind::WrongCount => "wrong number of values",
            SkipKind::BadField => "non-numeric/NaN/out-of-range field",
            SkipKind::BadPath => "unsafe File_name",
            SkipKind::MissingImage => "missing/unreadable PNG",
            SkipKind::BadImage => "not a 16-bit grayscale PNG",
            SkipKind::SizeMismatch => "PNG size differs from Image_size",
            SkipKind::BadBox => "box outside image or zero area",
        }
    }
}

/// A skipped row: where, why, and the message shown to the user.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Skipped {
    /// `file:line` (or the PNG path for image problems).
    pub location: String,
    pub kind: SkipKind,
    pub message: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} (row skipped)", self.location, self.message)
    }
}

/// A row-level problem: its kind and message (the caller adds the location).
#[derive(Debug)]
pub struct RowError {
    pub kind: SkipKind,
    pub message: String,
}

fn rerr(kind: SkipKind, message: impl Into<String>) -> RowError {
    RowError { kind, message: message.into() }
}

/// Parse a whole DL_info.csv held in memory. Header problems and an empty file are errors;
/// each bad row becomes a [`Skipped`] entry (or, with `strict`, an error naming file and line).
pub fn parse_csv(bytes: &[u8], source: &str, strict: bool) -> Result<(Vec<LesionRecord>, Vec<Skipped>)> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::data(source, "empty CSV: expected the 18-column DL_info.csv header"));
    }
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
    let header = rdr.byte_headers().map_err(|e| Error::data(source, format!("cannot read the header: {e}")))?.clone();
    check_header(&header, source)?;
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    let mut rows = 0usize;
    let mut rec = csv::ByteRecord::new();
    loop {
        let line_hint = rdr.position().line() + 1;
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                let line = rec.position().map(|p| p.line()).unwrap_or(line_hint);
                rows += 1;
                match parse_row(&rec, line) {
                    Ok(r) => records.push(r),
                    Err(e) => {
                        let s = Skipped { location: format!("{source}:{line}"), kind: e.kind, message: e.message };
                        if strict {
                            return Err(Error::data(s.location, s.message));
                        }
                        skipped.push(s);
                    }
                }
            }
            Err(e) => {
                // The csv crate recovers after a malformed record; count it and go on.
                rows += 1;
                let s = Skipped {
                    location: format!("{source}:{line_hint}"),
                    kind: SkipKind::WrongColumns,
                    message: format!("unreadable CSV record: {e}"),
                };
                if strict {
                    return Err(Error::data(s.location, s.message));
                }
                skipped.push(s);
                if rows > 100_000_000 {
                    break;
                }
            }
        }
    }
    if rows == 0 {
        return Err(Error::data(source, "CSV has a header but no lesion rows"));
    }
    Ok((records, skipped))
}

/// Read and parse DL_info.csv from disk.
pub fn read_csv(path: &Path, strict: bool) -> Result<(Vec<LesionRecord>, Vec<Skipped>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_csv(&bytes, &path.display().to_string(), strict)
}

/// The header must be exactly [`HEADER`]; missing, extra or reordered columns are named.
pub fn check_header(header: &csv::ByteRecord, source: &str) -> Result<()> {
    let got: Vec<String> =
        header.iter().map(|f| String::from_utf8_lossy(f).trim().trim_start_matches('\u{feff}').to_string()).collect();
    if got.len() == HEADER.len() && got.iter().zip(HEADER).all(|(g, w)| g == w) {
        return Ok(());
    }
    let missing: Vec<&str> = HEADER.iter().copied().filter(|h| !got.iter().any(|g| g == h)).collect();
    let extra: Vec<&str> = got.iter().map(String::as_str).filter(|g| !HEADER.contains(g)).collect();
    let mut msg = String::from("header is not the 18-column DL_info.csv header");
    if !missing.is_empty() {
        msg += &format!("; missing columns: {}", missing.join(", "));
    }
    if !extra.is_empty() {
        msg += &format!("; unknown columns: {}", extra.join(", "));
    }
    if missing.is_empty() && extra.is_empty() {
        if let Some(i) = got.iter().zip(HEADER).position(|(g, w)| g != w) {
            msg += &format!("; columns reordered: column {} is '{}', expected '{}'", i + 1, got[i], HEADER[i]);
        } else {
            msg += "; duplicated columns";
        }
    }
    Err(Error::data(format!("{source}:1"), msg))
}

fn field(rec: &csv::ByteRecord, i: usize) -> std::result::Result<&str, RowError> {
    let b = rec.get(i).ok_or_else(|| rerr(SkipKind::WrongColumns, format!("column {} missing", HEADER[i])))?;
    std::str::from_utf8(b)
        .map(str::trim)
        .map_err(|_| rerr(SkipKind::BadField, format!("{} is not valid UTF-8", HEADER[i])))
}

fn num(s: &str, col: usize) -> std::result::Result<f64, RowError> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| rerr(SkipKind::BadField, format!("{}: '{}' is not a number", HEADER[col], s.trim())))?;
    if !v.is_finite() {
        return Err(rerr(SkipKind::BadField, format!("{}: '{}' is not a finite number", HEADER[col], s.trim())));
    }
    Ok(v)
}

fn int(s: &str, col: usize, lo: i64, hi: i64) -> std::result::Result<i64, RowError> {
    let v = num(s, col)?;
    if v.fract() != 0.0 || v < lo as f64 || v > hi as f64 {
        return Err(rerr(SkipKind::BadField, format!("{}: '{}' is not an integer in {lo}..={hi}", HEADER[col], s)));
    }
    Ok(v as i64)
}

fn list<const N: usize>(s: &str, col: usize) -> std::result::Result<[f64; N], RowError> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != N || (N > 0 && parts.iter().all(|p| p.is_empty())) {
        let n = if s.trim().is_empty() { 0 } else { parts.len() };
        return Err(rerr(SkipKind::WrongCount, format!("{}: expected {N} values, found {n}", HEADER[col])));
    }
    let mut out = [0.0; N];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = num(p, col)?;
    }
    Ok(out)
}

fn f32s<const N: usize>(a: [f64; N]) -> [f32; N] {
    a.map(|v| v as f32)
}

/// Parse one data row. Pure: no file access (path safety, PNG and box checks happen in `dataset`).
pub fn parse_row(rec: &csv::ByteRecord, line: u64) -> std::result::Result<LesionRecord, RowError> {
    if rec.len() != HEADER.len() {
        return Err(rerr(SkipKind::WrongColumns, format!("expected 18 columns, found {}", rec.len())));
    }
    let file_name = field(rec, 0)?.to_string();
    if file_name.is_empty() {
        return Err(rerr(SkipKind::BadPath, "File_name is empty"));
    }
    let u = |i: usize| -> std::result::Result<u32, RowError> { Ok(int(field(rec, i)?, i, 0, u32::MAX as i64)? as u32) };
    let patient = u(1)?;
    let study = u(2)?;
    let series = u(3)?;
    let key_slice = u(4)?;
    let recist = f32s(list::<8>(field(rec, 5)?, 5)?).map(file_to_zero_based);
    let bbox = f32s(list::<4>(field(rec, 6)?, 6)?).map(file_to_zero_based);
    let diameters_px = f32s(list::<2>(field(rec, 7)?, 7)?);
    let location = f32s(list::<3>(field(rec, 8)?, 8)?);
    let coarse_type = int(field(rec, 9)?, 9, -1, 8)? as i32;
    if coarse_type == 0 {
        return Err(rerr(SkipKind::BadField, "Coarse_lesion_type: 0 is not a type (1..8 or -1)"));
    }
    let noisy = int(field(rec, 10)?, 10, 0, 1)? == 1;
    let sr = list::<2>(field(rec, 11)?, 11)?;
    let mut slice_range = [0u32; 2];
    for (o, v) in slice_range.iter_mut().zip(sr) {
        if v.fract() != 0.0 || !(0.0..=u32::MAX as f64).contains(&v) {
            return Err(rerr(SkipKind::BadField, format!("Slice_range: {v} is not a slice index")));
        }
        *o = v as u32;
    }
    if slice_range[0] > slice_range[1] || key_slice < slice_range[0] || key_slice > slice_range[1] {
        return Err(rerr(
            SkipKind::BadField,
            format!("Slice_range {}..{} does not contain key slice {key_slice}", slice_range[0], slice_range[1]),
        ));
    }
    let spacing_mm = f32s(list::<3>(field(rec, 12)?, 12)?);
    if spacing_mm.iter().any(|&s| s <= 0.0) {
        return Err(rerr(SkipKind::BadField, "Spacing_mm_px_: spacings must be positive"));
    }
    let sz = list::<2>(field(rec, 13)?, 13)?;
    let mut image_size = [0u32; 2];
    for (o, v) in image_size.iter_mut().zip(sz) {
        if v.fract() != 0.0 || !(1.0..=65536.0).contains(&v) {
            return Err(rerr(SkipKind::BadField, format!("Image_size: {v} is not a size in 1..65536")));
        }
        *o = v as u32;
    }
    let dicom_window = f32s(list::<2>(field(rec, 14)?, 14)?);
    let gender = field(rec, 15)?.to_string();
    let age_s = field(rec, 16)?;
    let age = if age_s.is_empty() || age_s.eq_ignore_ascii_case("nan") { None } else { Some(num(age_s, 16)? as f32) };
    let split_code = int(field(rec, 17)?, 17, 1, 3)?;
    let split =
        Split::from_code(split_code).ok_or_else(|| rerr(SkipKind::BadField, "Train_Val_Test must be 1, 2 or 3"))?;
    Ok(LesionRecord {
        line,
        file_name,
        patient,
        study,
        series,
        key_slice,
        recist,
        bbox,
        diameters_px,
        location,
        coarse_type,
        noisy,
        slice_range,
        spacing_mm,
        image_size,
        dicom_window,
        gender,
        age,
        split,
    })
}

/// Format a number like the release does (up to 6 significant digits, no trailing zeros).
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() { "0".into() } else { "NaN".into() };
    }
    let mag = v.abs().log10().floor() as i32;
    let decimals = (5 - mag).clamp(0, 9) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// Join numbers as the release writes lists: `"a, b, c"`.
pub fn fmt_list(vs: &[f64]) -> String {
    vs.iter().map(|&v| fmt_num(v)).collect::<Vec<_>>().join(", ")
}

/// The 18 fields of a record in file form (coordinates back to 1-based).
pub fn to_fields(r: &LesionRecord) -> [String; 18] {
    let z = |v: &f32| zero_based_to_file(*v) as f64;
    [
        r.file_name.clone(),
        r.patient.to_string(),
        r.study.to_string(),
        r.series.to_string(),
        r.key_slice.to_string(),
        fmt_list(&r.recist.iter().map(z).collect::<Vec<_>>()),
        fmt_list(&r.bbox.iter().map(z).collect::<Vec<_>>()),
        fmt_list(&r.diameters_px.map(f64::from)),
        fmt_list(&r.location.map(f64::from)),
        r.coarse_type.to_string(),
        (r.noisy as u8).to_string(),
        format!("{}, {}", r.slice_range[0], r.slice_range[1]),
        fmt_list(&r.spacing_mm.map(f64::from)),
        format!("{}, {}", r.image_size[0], r.image_size[1]),
        fmt_list(&r.dicom_window.map(f64::from)),
        r.gender.clone(),
        r.age.map(|a| fmt_num(a as f64)).unwrap_or_else(|| "NaN".into()),
        r.split.code().to_string(),
    ]
}

/// Write records as a DL_info.csv (header + one row each).
pub fn write_csv<W: std::io::Write>(w: W, records: &[LesionRecord]) -> std::io::Result<()> {
    let mut wr = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(w);
    wr.write_record(HEADER)?;
    for r in records {
        wr.write_record(to_fields(r))?;
    }
    wr.flush()
}
