//! CT slices: File_name to a safe path under Images_png, and 16-bit PNG decoding to Hounsfield units.

use std::io::Cursor;
use std::path::{Component, Path, PathBuf};

use image::{ColorType, ImageDecoder, ImageReader};

use crate::{Error, Result};

/// The release stores HU + 32768 as unsigned 16-bit.
pub const HU_OFFSET: i32 = 32768;

/// Largest side accepted when decoding (the release has at most 1024; guards fuzzed input).
pub const MAX_SIDE: u32 = 8192;

/// One decoded slice in Hounsfield units, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    pub width: usize,
    pub height: usize,
    pub hu: Vec<f32>,
}

/// Why a slice could not be used (lets the dataset loader count each kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SliceProblem {
    Missing,
    Unreadable,
    NotGray16,
    SizeMismatch,
}

/// A slice error with its kind; converted to [`Error::Data`] naming the file.
#[derive(Debug)]
pub struct SliceError {
    pub kind: SliceProblem,
    pub location: String,
    pub message: String,
}

impl From<SliceError> for Error {
    fn from(e: SliceError) -> Self {
        Error::data(e.location, e.message)
    }
}

/// Relative path of a slice under Images_png: the last `_` of File_name becomes `/`.
/// Refuses names that would leave the image folder (`..`, absolute paths, drive prefixes).
pub fn relative_path(file_name: &str) -> std::result::Result<PathBuf, String> {
    let idx =
        file_name.rfind('_').ok_or_else(|| format!("File_name '{file_name}' has no '_' (expected DIR_SLICE.png)"))?;
    let (dir, file) = (&file_name[..idx], &file_name[idx + 1..]);
    if dir.is_empty() || file.is_empty() {
        return Err(format!("File_name '{file_name}' has an empty folder or slice part"));
    }
    if file_name.contains('\\') || file_name.contains('\0') {
        return Err(format!("File_name '{file_name}' contains a backslash or NUL"));
    }
    let rel = PathBuf::from(dir).join(file);
    for c in rel.components() {
        match c {
            Component::Normal(_) => {}
            _ => return Err(format!("File_name '{file_name}' would escape the image folder (absolute path or '..')")),
        }
    }
    Ok(rel)
}

/// File name of another slice of the same series: `000089_01_01_037.png` with slice 38 gives
/// `000089_01_01_038.png` (three digits, as in the release).
pub fn sibling_file_name(file_name: &str, slice: u32) -> Option<String> {
    let idx = file_name.rfind('_')?;
    Some(format!("{}_{:03}.png", &file_name[..idx], slice))
}

fn sliceerr(kind: SliceProblem, location: &str, message: impl Into<String>) -> SliceError {
    SliceError { kind, location: location.to_string(), message: message.into() }
}

fn reader(bytes: &[u8]) -> ImageReader<Cursor<&[u8]>> {
    let mut r = ImageReader::with_format(Cursor::new(bytes), image::ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 << 20);
    r.limits(limits);
    r
}

fn check_header(
    color: ColorType,
    (w, h): (u32, u32),
    expected: Option<[u32; 2]>,
    location: &str,
) -> std::result::Result<(), SliceError> {
    if color != ColorType::L16 {
        let what = match color {
            ColorType::L8 => "8-bit grayscale".to_string(),
            ColorType::La8 | ColorType::La16 => "grayscale with alpha".to_string(),
            ColorType::Rgb8 | ColorType::Rgb16 | ColorType::Rgba8 | ColorType::Rgba16 => "RGB(A)".to_string(),
            other => format!("{other:?}"),
        };
        return Err(sliceerr(
            SliceProblem::NotGray16,
            location,
            format!("PNG is {what}, but DeepLesion slices are unsigned 16-bit grayscale (HU + 32768)"),
        ));
    }
    if let Some([ew, eh]) = expected {
        if (w, h) != (ew, eh) {
            return Err(sliceerr(
                SliceProblem::SizeMismatch,
                location,
                format!("PNG is {w}x{h} but Image_size says {ew}x{eh}"),
            ));
        }
    }
    Ok(())
}

/// Decode PNG bytes into HU. `expected` is Image_size (width, height) when known.
pub fn decode_slice(
    bytes: &[u8],
    location: &str,
    expected: Option<[u32; 2]>,
) -> std::result::Result<Slice, SliceError> {
    let dec = reader(bytes)
        .into_decoder()
        .map_err(|e| sliceerr(SliceProblem::Unreadable, location, format!("unreadable PNG: {e}")))?;
    let dims = dec.dimensions();
    check_header(dec.color_type(), dims, expected, location)?;
    let img = image::DynamicImage::from_decoder(dec)
        .map_err(|e| sliceerr(SliceProblem::Unreadable, location, format!("unreadable PNG: {e}")))?;
    let buf = match img {
        image::DynamicImage::ImageLuma16(b) => b,
        _ => return Err(sliceerr(SliceProblem::NotGray16, location, "PNG did not decode to 16-bit grayscale")),
    };
    let hu = buf.as_raw().iter().map(|&v| (v as i32 - HU_OFFSET) as f32).collect();
    Ok(Slice { width: dims.0 as usize, height: dims.1 as usize, hu })
}

/// Read and decode a slice file.
pub fn load_slice(path: &Path, expected: Option<[u32; 2]>) -> std::result::Result<Slice, SliceError> {
    let loc = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        let kind =
            if e.kind() == std::io::ErrorKind::NotFound { SliceProblem::Missing } else { SliceProblem::Unreadable };
        sliceerr(kind, &loc, format!("cannot read PNG: {e}"))
    })?;
    decode_slice(&bytes, &loc, expected)
}

/// Check a slice's header only (existence, 16-bit grayscale, size) without decoding pixels.
pub fn probe_slice(path: &Path, expected: Option<[u32; 2]>) -> std::result::Result<(), SliceError> {
    let loc = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| {
        let kind =
            if e.kind() == std::io::ErrorKind::NotFound { SliceProblem::Missing } else { SliceProblem::Unreadable };
        sliceerr(kind, &loc, format!("cannot open PNG: {e}"))
    })?;
    let dec = image::codecs::png::PngDecoder::new(std::io::BufReader::new(f))
        .map_err(|e| sliceerr(SliceProblem::Unreadable, &loc, format!("unreadable PNG: {e}")))?;
    check_header(dec.color_type(), dec.dimensions(), expected, &loc)
}

/// Encode HU values as a DeepLesion 16-bit PNG (values clamped to the u16 range after the offset).
pub fn encode_slice(width: u32, height: u32, hu: &[f32]) -> Result<Vec<u8>> {
    if hu.len() != (width as usize) * (height as usize) {
        return Err(Error::shape("encode_slice", format!("{} values for {width}x{height}", hu.len())));
    }
    let raw: Vec<u16> = hu.iter().map(|&v| (v.round() as i32 + HU_OFFSET).clamp(0, 65535) as u16).collect();
    let buf = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_raw(width, height, raw)
        .ok_or_else(|| Error::shape("encode_slice", "buffer size"))?;
    let mut out = Vec::new();
    let enc = image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    );
    buf.write_with_encoder(enc).map_err(|e| Error::data("encode_slice", e.to_string()))?;
    Ok(out)
}
