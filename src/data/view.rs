//! Drawing a windowed slice with its RECIST axes and boxes into an RGB image (for `deeplesion view`).

use image::{Rgb, RgbImage};

use super::dataset::{Dataset, ImageRecord};
use super::preprocess::{apply_window, Window};
use super::slice;
use crate::{Error, Result};

/// Colours: long axis, short axis, stored box, mined box.
pub const LONG: Rgb<u8> = Rgb([255, 64, 64]);
pub const SHORT: Rgb<u8> = Rgb([64, 160, 255]);
pub const BOX: Rgb<u8> = Rgb([64, 255, 64]);
pub const MINED: Rgb<u8> = Rgb([255, 220, 0]);

/// Draw a line with Bresenham steps (clipped to the image).
pub fn line(img: &mut RgbImage, (x0, y0): (f32, f32), (x1, y1): (f32, f32), c: Rgb<u8>) {
    let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).clamp(1, 100_000);
    for k in 0..=n {
        let t = k as f32 / n as f32;
        let (x, y) = ((x0 + (x1 - x0) * t).round(), (y0 + (y1 - y0) * t).round());
        if x >= 0.0 && y >= 0.0 && (x as u32) < img.width() && (y as u32) < img.height() {
            img.put_pixel(x as u32, y as u32, c);
        }
    }
}

/// Draw a box outline.
pub fn rect(img: &mut RgbImage, b: [f32; 4], c: Rgb<u8>) {
    line(img, (b[0], b[1]), (b[2], b[1]), c);
    line(img, (b[2], b[1]), (b[2], b[3]), c);
    line(img, (b[2], b[3]), (b[0], b[3]), c);
    line(img, (b[0], b[3]), (b[0], b[1]), c);
}

/// The key slice windowed to gray, scaled by an integer `zoom`, with each lesion's stored box,
/// mined box and RECIST axes drawn (coordinates 0-based pixel centres).
pub fn render(ds: &Dataset, image: &ImageRecord, window: Window, zoom: u32) -> Result<RgbImage> {
    let path = ds.slice_path(image, image.key_slice)?;
    let s = slice::load_slice(&path, Some(image.image_size)).map_err(Error::from)?;
    let (lo, hi) = window.bounds(image);
    let mut v = s.hu;
    apply_window(&mut v, lo, hi);
    let z = zoom.clamp(1, 16);
    let (w, h) = (s.width as u32 * z, s.height as u32 * z);
    let mut img = RgbImage::from_fn(w, h, |x, y| {
        let g = (v[(y / z) as usize * s.width + (x / z) as usize] * 255.0).round() as u8;
        Rgb([g, g, g])
    });
    let zf = z as f32;
    let p = |x: f32, y: f32| ((x + 0.5) * zf - 0.5, (y + 0.5) * zf - 0.5);
    for l in &image.lesions {
        let r = l.recist;
        let b = l.bbox;
        let (a0, a1) = (p(b[0], b[1]), p(b[2], b[3]));
        rect(&mut img, [a0.0, a0.1, a1.0, a1.1], BOX);
        let m = super::recist::mine_box(&r, super::recist::BOX_PADDING);
        let (m0, m1) = (p(m[0], m[1]), p(m[2], m[3]));
        if m.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1.0) {
            rect(&mut img, [m0.0, m0.1, m1.0, m1.1], MINED);
        }
        line(&mut img, p(r[0], r[1]), p(r[2], r[3]), LONG);
        line(&mut img, p(r[4], r[5]), p(r[6], r[7]), SHORT);
    }
    Ok(img)
}
