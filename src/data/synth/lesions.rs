//! Synthetic lesions of the 8 coarse types: host tissue, z range, size and contrast per type; lobulated 3-D shapes with rim and necrosis.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::anatomy::{Anatomy, Tissue};

/// Labelled counts of the release per type 1..=8 (bone, abdomen, mediastinum, liver, lung,
/// kidney, soft tissue, pelvis).
pub const REAL_COUNTS: [f32; 8] = [232.0, 2166.0, 1638.0, 1318.0, 2426.0, 490.0, 677.0, 869.0];

/// Share under which a type is lifted so that small sets still hold every type.
pub const MIN_SHARE: f32 = 0.06;

/// Draw a coarse type (1..=8) with the release's mix, rare types lifted to [`MIN_SHARE`].
pub fn draw_type(rng: &mut ChaCha8Rng) -> i32 {
    let total: f32 = REAL_COUNTS.iter().sum();
    let w: Vec<f32> = REAL_COUNTS.iter().map(|c| (c / total).max(MIN_SHARE)).collect();
    let sum: f32 = w.iter().sum();
    let mut u = rng.gen_range(0.0..sum);
    for (i, wi) in w.iter().enumerate() {
        if u < *wi {
            return i as i32 + 1;
        }
        u -= wi;
    }
    8
}

/// Host tissues and z range (mm) where a type lives.
pub fn habitat(t: i32) -> (&'static [Tissue], f32, f32) {
    match t {
        1 => (&[Tissue::Vertebra, Tissue::PelvicBone], 20.0, 630.0),
        2 => (&[Tissue::MesentericFat], 330.0, 540.0),
        3 => (&[Tissue::MediastinalFat], 40.0, 215.0),
        4 => (&[Tissue::Liver], 250.0, 380.0),
        5 => (&[Tissue::Lung], 25.0, 235.0),
        6 => (&[Tissue::Kidney], 325.0, 410.0),
        7 => (&[Tissue::SubcutFat, Tissue::Muscle], 20.0, 630.0),
        _ => (&[Tissue::PelvicFat], 575.0, 640.0),
    }
}

/// Largest long axis a type gets (its host must hold it).
fn max_long_mm(t: i32) -> f32 {
    match t {
        1 => 30.0,
        3 => 45.0,
        6 => 45.0,
        7 => 50.0,
        _ => 80.0,
    }
}

/// One lesion in patient space (mm, z from the top of the body).
#[derive(Clone, Debug)]
pub struct Lesion {
    pub coarse_type: i32,
    pub cx: f32,
    pub cy: f32,
    pub cz: f32,
    /// Semi-axes: in-plane major, minor, and along z.
    pub ra: f32,
    pub rb: f32,
    pub rc: f32,
    pub angle: f32,
    /// Lobulation harmonics (k, amplitude, phase).
    pub lobes: Vec<(f32, f32, f32)>,
    pub hu: f32,
    /// Extra HU on the rim (enhancement) and in the centre (negative: necrosis).
    pub rim_hu: f32,
    pub core_hu: f32,
    pub texture: (f32, f32, f32, f32),
}

impl Lesion {
    /// Outline radius factor at parametric angle `phi`.
    #[inline]
    pub fn lobe(&self, phi: f32) -> f32 {
        1.0 + self.lobes.iter().map(|&(k, a, p)| a * (k * phi + p).cos()).sum::<f32>()
    }

    /// In-plane scale of the cross-section at z (0 outside).
    #[inline]
    pub fn section(&self, z: f32) -> f32 {
        let t = (z - self.cz) / self.rc;
        if t.abs() >= 1.0 {
            0.0
        } else {
            (1.0 - t * t).sqrt()
        }
    }

    /// Normalised radius of a point (< 1 inside) at z, or None when z misses the lesion.
    #[inline]
    pub fn rho(&self, x: f32, y: f32, z: f32) -> Option<f32> {
        let s = self.section(z);
        if s <= 0.0 {
            return None;
        }
        let (sn, cs) = self.angle.sin_cos();
        let (dx, dy) = (x - self.cx, y - self.cy);
        let u = (dx * cs + dy * sn) / self.ra;
        let v = (-dx * sn + dy * cs) / self.rb;
        let r = (u * u + v * v).sqrt();
        let phi = v.atan2(u);
        Some(r / (self.lobe(phi) * s))
    }

    /// The outline at z as `n` points in mm (empty when z misses the lesion).
    pub fn outline(&self, z: f32, n: usize) -> Vec<(f32, f32)> {
        let s = self.section(z);
        if s <= 0.0 {
            return Vec::new();
        }
        let (sn, cs) = self.angle.sin_cos();
        (0..n)
            .map(|i| {
                let phi = std::f32::consts::TAU * i as f32 / n as f32;
                let g = self.lobe(phi) * s;
                let (u, v) = (self.ra * g * phi.cos(), self.rb * g * phi.sin());
                (self.cx + u * cs - v * sn, self.cy + u * sn + v * cs)
            })
            .collect()
    }

    /// Blend the lesion into `base` HU at a point; `px_mm` softens the edge over one pixel.
    #[inline]
    pub fn paint(&self, x: f32, y: f32, z: f32, base: f32, px_mm: f32) -> f32 {
        let Some(rho) = self.rho(x, y, z) else { return base };
        let radius = self.rb.min(self.ra) * self.section(z);
        let edge = ((1.0 - rho) * radius / px_mm + 0.5).clamp(0.0, 1.0);
        if edge <= 0.0 {
            return base;
        }
        let mut hu = self.hu;
        if rho > 0.7 {
            hu += self.rim_hu;
        } else if rho < 0.45 {
            hu += self.core_hu;
        }
        let (kx, ky, ph, a) = self.texture;
        hu += a * (kx * x + ph).sin() * (ky * y).cos();
        base + (hu - base) * edge
    }
}

/// Lesion HU and heterogeneity for a type on its host (`host_hu` = HU of the host there).
fn contrast(rng: &mut ChaCha8Rng, t: i32, host: Tissue, host_hu: f32) -> (f32, f32, f32) {
    match t {
        1 => {
            if rng.gen_bool(0.6) {
                (rng.gen_range(20.0..90.0), 0.0, 0.0) // lytic
            } else {
                (rng.gen_range(900.0..1300.0), 0.0, 0.0) // sclerotic
            }
        }
        4 => (host_hu - rng.gen_range(20.0..40.0), rng.gen_range(0.0..12.0), -rng.gen_range(0.0..10.0)),
        6 => {
            if rng.gen_bool(0.5) {
                (rng.gen_range(0.0..15.0), 0.0, 0.0) // cyst
            } else {
                (rng.gen_range(30.0..70.0), rng.gen_range(0.0..25.0), -rng.gen_range(0.0..25.0))
            }
        }
        5 => (rng.gen_range(10.0..50.0), 0.0, 0.0),
        7 if host == Tissue::Muscle => {
            (rng.gen_range(10.0..30.0), rng.gen_range(10.0..40.0), -rng.gen_range(0.0..20.0))
        }
        _ => (rng.gen_range(25.0..55.0), rng.gen_range(0.0..35.0), -rng.gen_range(0.0..35.0)),
    }
}

/// A long axis in mm: log-normal around 17 mm (the release is skewed toward small lesions).
pub fn draw_long_axis(rng: &mut ChaCha8Rng, t: i32) -> f32 {
    let u1: f32 = rng.gen_range(1e-6..1.0);
    let u2: f32 = rng.gen_range(0.0..1.0);
    let g = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
    (17.0 * (0.55 * g).exp()).clamp(5.0, max_long_mm(t))
}

/// Try to place a lesion of type `t` centred near z in the anatomy; its centre and a ring at
/// 60% of its size must lie in the host. Returns None after the tries run out.
pub fn place(rng: &mut ChaCha8Rng, anat: &Anatomy, t: i32, z: f32) -> Option<Lesion> {
    let (hosts, _, _) = habitat(t);
    let (a, b) = anat.body_at(z);
    for attempt in 0..400 {
        let shrink = 1.0 - (attempt as f32 / 400.0) * 0.7;
        let long = (draw_long_axis(rng, t) * shrink).max(5.0);
        let cx = rng.gen_range(-a..a);
        let cy = rng.gen_range(-b..b);
        let (host, host_hu) = anat.sample(cx, cy, z);
        if !hosts.contains(&host) {
            continue;
        }
        let ra = long / 2.0;
        let rb = ra * rng.gen_range(0.55..1.0);
        let angle = rng.gen_range(0.0..std::f32::consts::PI);
        let ok = (0..12).all(|k| {
            let phi = std::f32::consts::TAU * k as f32 / 12.0;
            let (u, v) = (0.6 * ra * phi.cos(), 0.6 * rb * phi.sin());
            let (sn, cs) = angle.sin_cos();
            let (tissue, _) = anat.sample(cx + u * cs - v * sn, cy + u * sn + v * cs, z);
            hosts.contains(&tissue) || (t == 5 && tissue == Tissue::Lung)
        });
        if !ok {
            continue;
        }
        let amp = if t == 5 { 0.14 } else { 0.08 };
        let lobes =
            (2..=5).map(|k| (k as f32, rng.gen_range(0.0..amp), rng.gen_range(0.0..std::f32::consts::TAU))).collect();
        let (hu, rim_hu, core_hu) = contrast(rng, t, host, host_hu);
        // Small lesions are homogeneous; heterogeneity shows from about 2 cm.
        let (rim_hu, core_hu) = if long < 20.0 { (0.0, 0.0) } else { (rim_hu, core_hu) };
        let rc = (ra * rng.gen_range(0.7..1.1)).max(2.0);
        let texture =
            (rng.gen_range(0.2..0.6), rng.gen_range(0.2..0.6), rng.gen_range(0.0..6.0), rng.gen_range(0.0..8.0));
        return Some(Lesion { coarse_type: t, cx, cy, cz: z, ra, rb, rc, angle, lobes, hu, rim_hu, core_hu, texture });
    }
    None
}
