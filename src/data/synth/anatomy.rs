//! Synthetic CT anatomy: a patient's body, organs and bones as analytic shapes along z, rendered to HU with tissue labels.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Length of the scanned body along z in mm (neck to pelvis floor); z = 0 is the top.
pub const BODY_LENGTH_MM: f32 = 650.0;

/// Tissue classes that lesions are placed in (and a few that only colour the image).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tissue {
    /// Outside the body (the scanner's air, drawn without noise).
    Outside = 0,
    Air,
    Skin,
    SubcutFat,
    Muscle,
    Lung,
    MediastinalFat,
    Heart,
    Vessel,
    Liver,
    Spleen,
    Kidney,
    Bowel,
    MesentericFat,
    Bladder,
    PelvicFat,
    Vertebra,
    PelvicBone,
    Rib,
    Other,
}

/// An elliptic shape at one z: centre and half axes in mm, rotation in radians.
#[derive(Clone, Copy, Debug)]
pub struct Ellipse {
    pub cx: f32,
    pub cy: f32,
    pub ax: f32,
    pub ay: f32,
    pub angle: f32,
}

impl Ellipse {
    /// Normalised radius of a point (< 1 inside).
    #[inline]
    pub fn rho(&self, x: f32, y: f32) -> f32 {
        let (s, c) = self.angle.sin_cos();
        let dx = x - self.cx;
        let dy = y - self.cy;
        let u = (dx * c + dy * s) / self.ax;
        let v = (-dx * s + dy * c) / self.ay;
        (u * u + v * v).sqrt()
    }
}

/// An organ: an ellipsoid-like solid along z with a rim (cortex, wall) and an inner value.
#[derive(Clone, Debug)]
pub struct Organ {
    pub tissue: Tissue,
    /// Centre at `z_mid`, drift per mm of z.
    pub cx: f32,
    pub cy: f32,
    pub drift: (f32, f32),
    pub ax: f32,
    pub ay: f32,
    pub angle: f32,
    /// Extent along z; the cross-section shrinks as an ellipsoid towards the ends.
    pub z0: f32,
    pub z1: f32,
    /// Minimum relative size at the ends (1 = a cylinder, 0 = an ellipsoid).
    pub floor: f32,
    pub hu: f32,
    pub rim_mm: f32,
    pub rim_hu: f32,
    /// Optional core (kidney sinus fat, bowel content): relative radius and HU.
    pub core: Option<(f32, f32)>,
}

impl Organ {
    /// Cross-section at z, or None outside the organ's extent.
    pub fn at(&self, z: f32) -> Option<Ellipse> {
        if z < self.z0 || z > self.z1 {
            return None;
        }
        let mid = 0.5 * (self.z0 + self.z1);
        let half = 0.5 * (self.z1 - self.z0);
        let t = ((z - mid) / half).clamp(-1.0, 1.0);
        let s = self.floor + (1.0 - self.floor) * (1.0 - t * t).max(0.0).sqrt();
        if s < 0.05 {
            return None;
        }
        Some(Ellipse {
            cx: self.cx + self.drift.0 * (z - mid),
            cy: self.cy + self.drift.1 * (z - mid),
            ax: self.ax * s,
            ay: self.ay * s,
            angle: self.angle,
        })
    }

    /// HU of a point inside the cross-section `e` (rho < 1).
    fn value(&self, e: &Ellipse, rho: f32) -> f32 {
        let minor = e.ax.min(e.ay);
        if self.rim_mm > 0.0 && (1.0 - rho) * minor < self.rim_mm {
            return self.rim_hu;
        }
        if let Some((r, hu)) = self.core {
            if rho < r {
                return hu;
            }
        }
        self.hu
    }
}

/// Smooth low-frequency texture: a sum of a few plane waves (HU).
#[derive(Clone, Debug)]
pub struct Texture {
    waves: Vec<(f32, f32, f32, f32, f32)>,
}

impl Texture {
    pub fn new(rng: &mut ChaCha8Rng, n: usize, amplitude: f32, min_wavelength_mm: f32) -> Texture {
        let waves = (0..n)
            .map(|_| {
                let ang: f32 = rng.gen_range(0.0..std::f32::consts::TAU);
                let k = std::f32::consts::TAU / rng.gen_range(min_wavelength_mm..min_wavelength_mm * 4.0);
                let kz = std::f32::consts::TAU / rng.gen_range(40.0..160.0f32);
                (k * ang.cos(), k * ang.sin(), kz, rng.gen_range(0.0..std::f32::consts::TAU), amplitude / n as f32)
            })
            .collect();
        Texture { waves }
    }
    #[inline]
    pub fn at(&self, x: f32, y: f32, z: f32) -> f32 {
        self.waves.iter().map(|&(kx, ky, kz, ph, a)| a * (kx * x + ky * y + kz * z + ph).sin()).sum()
    }
}

/// A thin tube (lung vessel, bowel loop path) through z.
#[derive(Clone, Debug)]
pub struct Tube {
    pub x0: f32,
    pub y0: f32,
    pub z0: f32,
    pub z1: f32,
    pub vx: f32,
    pub vy: f32,
    pub r: f32,
}

impl Tube {
    #[inline]
    fn centre(&self, z: f32) -> Option<(f32, f32)> {
        (z >= self.z0 && z <= self.z1).then_some((self.x0 + self.vx * (z - self.z0), self.y0 + self.vy * (z - self.z0)))
    }
}

/// One patient's anatomy, fixed for all studies and slices.
#[derive(Clone, Debug)]
pub struct Anatomy {
    /// Body half width and half depth (mm) at the widest.
    pub body_a: f32,
    pub body_b: f32,
    pub fat_mm: f32,
    pub muscle_mm: f32,
    /// Organs painted in order (later ones over earlier ones).
    pub organs: Vec<Organ>,
    pub vessels: Vec<Tube>,
    pub bowel: Vec<(Tube, f32)>,
    pub ribs: Vec<(f32, f32)>,
    pub texture: Texture,
}

/// Body outline scale along z: chest wide, waist narrower, pelvis wide again.
fn body_profile(z: f32) -> (f32, f32) {
    let t = z / BODY_LENGTH_MM;
    let w = 0.93 + 0.07 * (t * 9.0).cos() * (1.0 - t);
    let d = 0.95 + 0.05 * (t * 6.0).sin();
    (w, d)
}

impl Anatomy {
    /// Draw a patient. `fov_mm` is the field of view of the smallest scan so the body fits.
    pub fn random(rng: &mut ChaCha8Rng, fov_mm: f32) -> Anatomy {
        let body_a = rng.gen_range(140.0..172.0f32).min(0.44 * fov_mm);
        let body_b = body_a * rng.gen_range(0.64..0.78);
        let fat_mm = rng.gen_range(7.0..24.0);
        let muscle_mm = rng.gen_range(9.0..14.0);
        let ca = body_a - fat_mm - muscle_mm;
        let cb = body_b - fat_mm - muscle_mm;
        let j = |rng: &mut ChaCha8Rng, s: f32| rng.gen_range(1.0 - s..1.0 + s);
        let mut organs = Vec::new();
        let mut o = |tissue, cx, cy, ax, ay, angle, z0, z1, floor, hu, rim_mm, rim_hu, core| {
            organs.push(Organ {
                tissue,
                cx,
                cy,
                drift: (0.0, 0.0),
                ax,
                ay,
                angle,
                z0,
                z1,
                floor,
                hu,
                rim_mm,
                rim_hu,
                core,
            })
        };
        // Chest: lungs, mediastinal fat between them, heart, aorta, trachea.
        let lung_ax = 0.40 * ca * j(rng, 0.06);
        let lung_ay = 0.80 * cb * j(rng, 0.06);
        for side in [-1.0f32, 1.0] {
            o(
                Tissue::Lung,
                side * 0.50 * ca,
                0.02 * cb,
                lung_ax,
                lung_ay,
                side * 0.08,
                0.0,
                275.0,
                0.3,
                -850.0,
                0.0,
                0.0,
                None,
            );
        }
        o(Tissue::MediastinalFat, 0.0, -0.08 * cb, 0.22 * ca, 0.62 * cb, 0.0, 10.0, 250.0, 0.6, -85.0, 0.0, 0.0, None);
        let heart_z0 = rng.gen_range(120.0..140.0);
        o(
            Tissue::Heart,
            0.12 * ca,
            -0.18 * cb,
            0.36 * ca,
            0.42 * cb,
            0.5,
            heart_z0,
            heart_z0 + 125.0,
            0.2,
            140.0,
            6.0,
            55.0,
            None,
        );
        o(Tissue::Vessel, -0.03 * ca, -0.32 * cb, 14.0, 14.0, 0.0, 30.0, 100.0, 1.0, 150.0, 0.0, 0.0, None);
        o(Tissue::Air, 0.0, -0.38 * cb, 9.0, 8.0, 0.0, 0.0, 90.0, 1.0, -1000.0, 2.0, 40.0, None);
        // Upper abdomen: liver, spleen, stomach, kidneys.
        let liver_z0 = rng.gen_range(215.0..240.0);
        o(
            Tissue::Liver,
            -0.36 * ca,
            -0.05 * cb,
            0.58 * ca,
            0.78 * cb,
            -0.15,
            liver_z0,
            liver_z0 + 175.0,
            0.25,
            60.0,
            0.0,
            0.0,
            None,
        );
        o(Tissue::Spleen, 0.62 * ca, 0.30 * cb, 0.20 * ca, 0.34 * cb, 0.6, 250.0, 345.0, 0.2, 50.0, 0.0, 0.0, None);
        o(
            Tissue::Bowel,
            0.28 * ca,
            -0.40 * cb,
            0.26 * ca,
            0.26 * cb,
            0.3,
            245.0,
            330.0,
            0.3,
            10.0,
            4.0,
            45.0,
            Some((0.45, -900.0)),
        );
        let kz0 = rng.gen_range(300.0..320.0);
        for side in [-1.0f32, 1.0] {
            let kz = kz0 + if side > 0.0 { -10.0 } else { 0.0 };
            o(
                Tissue::Kidney,
                side * 0.42 * ca,
                0.42 * cb,
                30.0,
                40.0,
                side * 0.45,
                kz,
                kz + 115.0,
                0.25,
                45.0,
                6.0,
                150.0,
                Some((0.3, -60.0)),
            );
        }
        // Psoas muscles beside the spine, lower abdomen to pelvis.
        for side in [-1.0f32, 1.0] {
            o(Tissue::Muscle, side * 0.2 * ca, 0.52 * cb, 20.0, 18.0, 0.0, 360.0, 600.0, 0.4, 50.0, 0.0, 0.0, None);
        }
        // Pelvis: pelvic fat, bladder, pelvic bones, rectum.
        o(Tissue::PelvicFat, 0.0, 0.0, 0.80 * ca, 0.80 * cb, 0.0, 540.0, BODY_LENGTH_MM, 1.0, -95.0, 0.0, 0.0, None);
        let fill = rng.gen_range(0.6..1.1);
        o(
            Tissue::Bladder,
            0.0,
            -0.42 * cb,
            50.0 * fill,
            38.0 * fill,
            0.0,
            565.0,
            BODY_LENGTH_MM + 20.0,
            0.4,
            5.0,
            2.5,
            35.0,
            None,
        );
        for side in [-1.0f32, 1.0] {
            o(
                Tissue::PelvicBone,
                side * 0.62 * ca,
                0.18 * cb,
                22.0,
                62.0,
                side * -0.35,
                520.0,
                BODY_LENGTH_MM + 10.0,
                0.55,
                300.0,
                3.5,
                950.0,
                None,
            );
        }
        o(
            Tissue::Bowel,
            0.0,
            0.40 * cb,
            16.0,
            15.0,
            0.0,
            560.0,
            BODY_LENGTH_MM + 20.0,
            1.0,
            20.0,
            3.5,
            45.0,
            Some((0.5, -700.0)),
        );
        // Spine: vertebral bodies down to the sacrum, the canal behind.
        let vr = rng.gen_range(15.0..19.0);
        o(Tissue::Vertebra, 0.0, 0.60 * cb, vr, vr * 0.92, 0.0, -20.0, 540.0, 1.0, 320.0, 2.0, 900.0, None);
        o(
            Tissue::Vertebra,
            0.0,
            0.60 * cb + 0.05 * vr,
            44.0,
            22.0,
            0.0,
            540.0,
            BODY_LENGTH_MM + 20.0,
            1.0,
            330.0,
            2.5,
            900.0,
            None,
        );
        o(Tissue::Other, 0.0, 0.60 * cb + vr + 8.0, 7.5, 7.5, 0.0, -20.0, 560.0, 1.0, 20.0, 3.0, 700.0, None);
        // Descending aorta beside the spine (chest to bifurcation) and the IVC.
        o(Tissue::Vessel, 0.10 * ca, 0.60 * cb - vr - 11.0, 11.5, 11.5, 0.0, 70.0, 520.0, 1.0, 150.0, 0.0, 0.0, None);
        o(Tissue::Vessel, -0.14 * ca, 0.60 * cb - vr - 9.0, 10.0, 12.0, 0.0, 250.0, 520.0, 1.0, 120.0, 0.0, 0.0, None);

        // Lung vessels: tubes running mostly along z, visible only inside lung.
        let vessels = (0..60)
            .map(|_| {
                let side = if rng.gen_bool(0.5) { -1.0 } else { 1.0 };
                Tube {
                    x0: side * 0.5 * ca + rng.gen_range(-0.8..0.8) * lung_ax,
                    y0: rng.gen_range(-0.7..0.7) * lung_ay,
                    z0: rng.gen_range(0.0..150.0),
                    z1: rng.gen_range(150.0..280.0),
                    vx: rng.gen_range(-0.25..0.25),
                    vy: rng.gen_range(-0.25..0.25),
                    r: rng.gen_range(0.8..3.0),
                }
            })
            .collect();
        // Bowel loops in the mesenteric fat (lower abdomen).
        let bowel = (0..26)
            .map(|_| {
                let t = Tube {
                    x0: rng.gen_range(-0.7..0.7) * ca,
                    y0: rng.gen_range(-0.7..0.35) * cb,
                    z0: rng.gen_range(320.0..470.0),
                    z1: rng.gen_range(470.0..600.0),
                    vx: rng.gen_range(-0.3..0.3),
                    vy: rng.gen_range(-0.3..0.3),
                    r: rng.gen_range(8.0..16.0),
                };
                let content = if rng.gen_bool(0.3) { -850.0 } else { rng.gen_range(5.0..30.0) };
                (t, content)
            })
            .collect();
        let ribs = (0..10)
            .map(|i| {
                let ang = std::f32::consts::PI * (0.05 + 0.09 * i as f32) + rng.gen_range(-0.04..0.04);
                (ang, rng.gen_range(4.0..6.0))
            })
            .collect();
        let texture = Texture::new(rng, 6, 10.0, 15.0);
        Anatomy { body_a, body_b, fat_mm, muscle_mm, organs, vessels, bowel, ribs, texture }
    }

    /// Body outline at z (half axes, mm).
    pub fn body_at(&self, z: f32) -> (f32, f32) {
        let (w, d) = body_profile(z);
        (self.body_a * w, self.body_b * d)
    }

    /// Tissue and HU (before noise) at a point (mm, body centre at 0, y towards the back).
    pub fn sample(&self, x: f32, y: f32, z: f32) -> (Tissue, f32) {
        let (a, b) = self.body_at(z);
        let r = ((x / a).powi(2) + (y / b).powi(2)).sqrt();
        if r >= 1.0 {
            return (Tissue::Outside, -1000.0);
        }
        let depth = (1.0 - r) * b.min(a); // approximate distance from skin, mm
        let tex = self.texture.at(x, y, z);
        if depth < 1.5 {
            return (Tissue::Skin, 30.0 + tex);
        }
        if depth < self.fat_mm {
            return (Tissue::SubcutFat, -100.0 + tex);
        }
        if depth < self.fat_mm + self.muscle_mm {
            // Ribs sit in the chest wall.
            if z < 300.0 {
                for &(ang, rr) in &self.ribs {
                    for side in [-1.0f32, 1.0] {
                        let mid = self.fat_mm + 0.5 * self.muscle_mm;
                        let (rx, ry) = ((a - mid) * ang.cos() * side, (b - mid) * ang.sin().abs() * 0.95);
                        let d2 = (x - rx).powi(2) + (y - ry).powi(2);
                        if d2 < rr * rr {
                            let hu = if d2 > (rr - 1.5).powi(2) { 850.0 } else { 350.0 };
                            return (Tissue::Rib, hu + tex);
                        }
                    }
                }
            }
            return (Tissue::Muscle, 50.0 + tex);
        }
        // Inside the cavity: last organ containing the point wins; default mesenteric fat.
        let mut best = (Tissue::MesentericFat, -90.0);
        for organ in &self.organs {
            if let Some(e) = organ.at(z) {
                let rho = e.rho(x, y);
                if rho < 1.0 {
                    best = (organ.tissue, organ.value(&e, rho));
                }
            }
        }
        match best.0 {
            Tissue::Lung => {
                for v in &self.vessels {
                    if let Some((vx, vy)) = v.centre(z) {
                        if (x - vx).powi(2) + (y - vy).powi(2) < v.r * v.r {
                            return (Tissue::Lung, 40.0);
                        }
                    }
                }
                (Tissue::Lung, best.1 + 3.0 * tex)
            }
            Tissue::MesentericFat => {
                for (t, content) in &self.bowel {
                    if let Some((bx, by)) = t.centre(z) {
                        let d = ((x - bx).powi(2) + (y - by).powi(2)).sqrt();
                        if d < t.r {
                            let hu = if d > t.r - 3.0 { 45.0 } else { *content };
                            return (Tissue::Bowel, hu + tex);
                        }
                    }
                }
                (Tissue::MesentericFat, best.1 + tex)
            }
            Tissue::Air => best,
            _ => (best.0, best.1 + tex),
        }
    }
}
