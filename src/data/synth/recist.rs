//! RECIST as a radiologist draws it: long axis = longest chord of the outline, short axis = longest chord perpendicular to it.

/// Longest chord between outline vertices: the two endpoints.
pub fn longest_chord(poly: &[(f32, f32)]) -> ((f32, f32), (f32, f32)) {
    let mut best = (0.0f32, 0usize, 0usize);
    for i in 0..poly.len() {
        for j in i + 1..poly.len() {
            let d = (poly[i].0 - poly[j].0).powi(2) + (poly[i].1 - poly[j].1).powi(2);
            if d > best.0 {
                best = (d, i, j);
            }
        }
    }
    (poly[best.1], poly[best.2])
}

/// Longest chord perpendicular to the segment `a`-`b`: lines normal to it are cast at many
/// positions along it and cut against the outline's edges.
pub fn perpendicular_chord(poly: &[(f32, f32)], a: (f32, f32), b: (f32, f32)) -> ((f32, f32), (f32, f32)) {
    let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt().max(1e-6);
    let u = ((b.0 - a.0) / len, (b.1 - a.1) / len);
    let n = (-u.1, u.0);
    // Outline in the (t along u, s along n) frame.
    let ts: Vec<(f32, f32)> =
        poly.iter().map(|p| ((p.0 - a.0) * u.0 + (p.1 - a.1) * u.1, (p.0 - a.0) * n.0 + (p.1 - a.1) * n.1)).collect();
    let mut best = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    let steps = 96;
    for k in 1..steps {
        let t = len * k as f32 / steps as f32;
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for i in 0..ts.len() {
            let (p, q) = (ts[i], ts[(i + 1) % ts.len()]);
            if (p.0 - t) * (q.0 - t) <= 0.0 && p.0 != q.0 {
                let s = p.1 + (q.1 - p.1) * (t - p.0) / (q.0 - p.0);
                lo = lo.min(s);
                hi = hi.max(s);
            }
        }
        if hi > lo && hi - lo > best.0 {
            best = (hi - lo, t, lo, hi);
        }
    }
    let (_, t, lo, hi) = best;
    let at = |s: f32| (a.0 + u.0 * t + n.0 * s, a.1 + u.1 * t + n.1 * s);
    (at(lo), at(hi))
}

/// Long and short axis endpoints `[x11,y11,x12,y12,x21,y21,x22,y22]` of an outline.
pub fn recist_of(poly: &[(f32, f32)]) -> [f32; 8] {
    let (a, b) = longest_chord(poly);
    let (c, d) = perpendicular_chord(poly, a, b);
    [a.0, a.1, b.0, b.1, c.0, c.1, d.0, d.1]
}
