// RoIAlign (Mask R-CNN) forward and backward, torchvision semantics. RoIs are rows
// (batch, x1, y1, x2, y2) in image pixels. With `aligned` the RoI is shifted by -0.5 cell
// (pixel centres); without it the RoI is at least 1x1 cell. Each bin averages grid_h x grid_w
// bilinear samples (sampling_ratio, or ceil(roi size / bins) when it is 0).
// The bilinear weight of a sample factorises into a row weight and a column weight (axis_w),
// which the backward uses: it is a gather, one thread an input cell (n, h, w) and 8 channels,
// looping over the RoIs listed for its tile (those of image n that may reach it, roi_tiles.wgsl) and over the samples within one cell of (h, w) on each axis;
// the sum order is fixed (deterministic, no atomics).

struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    r: u32,
    out_h: u32,
    out_w: u32,
    sampling: u32,
    scale: f32,
    aligned: u32,
    tile: u32,     // backward: cells per tile side of the RoI lists
    tiles_x: u32,
};

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;
const CB: u32 = 8u;

fn linear(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

struct Roi {
    batch: i32,
    sx: f32,
    sy: f32,
    bw: f32,
    bh: f32,
    gw: u32,
    gh: u32,
};

@group(0) @binding(1) var<storage, read> rois: array<f32>;

fn load_roi(r: u32) -> Roi {
    let b = rois[r * 5u];
    var batch = -1;
    if (b >= 0.0 && b < f32(p.n)) { batch = i32(b); }
    let off = select(0.0, 0.5, p.aligned != 0u);
    let sx = rois[r * 5u + 1u] * p.scale - off;
    let sy = rois[r * 5u + 2u] * p.scale - off;
    var rw = rois[r * 5u + 3u] * p.scale - off - sx;
    var rh = rois[r * 5u + 4u] * p.scale - off - sy;
    if (p.aligned == 0u) {
        rw = max(rw, 1.0);
        rh = max(rh, 1.0);
    }
    let bw = rw / f32(p.out_w);
    let bh = rh / f32(p.out_h);
    var gw = p.sampling;
    var gh = p.sampling;
    if (p.sampling == 0u) {
        gw = u32(clamp(ceil(rw / f32(p.out_w)), 0.0, 1024.0));
        gh = u32(clamp(ceil(rh / f32(p.out_h)), 0.0, 1024.0));
    }
    return Roi(batch, sx, sy, bw, bh, gw, gh);
}

// Sample coordinate: bin i, sample j of g (identical in forward and backward).
fn sample_at(start: f32, bin: f32, i: u32, j: u32, g: u32) -> f32 {
    return start + f32(i) * bin + (f32(j) + 0.5) * bin / f32(g);
}

// Weight of cell `cell` (0..size) along one axis for a sample at `v`.
fn axis_w(v: f32, size: u32, cell: i32) -> f32 {
    if (v < -1.0 || v > f32(size)) { return 0.0; }
    let y = max(v, 0.0);
    let lo = i32(y);
    if (lo >= i32(size) - 1) { return select(0.0, 1.0, cell == i32(size) - 1); }
    let l = y - f32(lo);
    if (cell == lo) { return 1.0 - l; }
    if (cell == lo + 1) { return l; }
    return 0.0;
}

@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn bilinear(base: u32, yy: f32, xx: f32) -> f32 {
    if (yy < -1.0 || yy > f32(p.h) || xx < -1.0 || xx > f32(p.w)) { return 0.0; }
    var fy = max(yy, 0.0);
    var fx = max(xx, 0.0);
    var y0 = u32(fy);
    var x0 = u32(fx);
    var y1: u32;
    var x1: u32;
    if (y0 >= p.h - 1u) { y0 = p.h - 1u; y1 = y0; fy = f32(y0); } else { y1 = y0 + 1u; }
    if (x0 >= p.w - 1u) { x0 = p.w - 1u; x1 = x0; fx = f32(x0); } else { x1 = x0 + 1u; }
    let ly = fy - f32(y0);
    let lx = fx - f32(x0);
    let hy = 1.0 - ly;
    let hx = 1.0 - lx;
    return hy * hx * x[base + y0 * p.w + x0] + hy * lx * x[base + y0 * p.w + x1]
        + ly * hx * x[base + y1 * p.w + x0] + ly * lx * x[base + y1 * p.w + x1];
}

// Forward: one thread an output (r, c, ph, pw).
@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = linear(gid, nwg);
    if (t >= p.r * p.c * p.out_h * p.out_w) { return; }
    let pw = t % p.out_w;
    let ph = (t / p.out_w) % p.out_h;
    let c = (t / (p.out_w * p.out_h)) % p.c;
    let r = t / (p.out_w * p.out_h * p.c);
    let roi = load_roi(r);
    var acc = 0.0;
    if (roi.batch >= 0) {
        let base = (u32(roi.batch) * p.c + c) * p.h * p.w;
        for (var iy = 0u; iy < roi.gh; iy++) {
            let yy = sample_at(roi.sy, roi.bh, ph, iy, roi.gh);
            for (var ix = 0u; ix < roi.gw; ix++) {
                acc += bilinear(base, yy, sample_at(roi.sx, roi.bw, pw, ix, roi.gw));
            }
        }
    }
    y[t] = acc / f32(max(roi.gh * roi.gw, 1u));
}

@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read> lists: array<u32>;

// Range [lo, hi) of flat sample indices k = bin * g + j whose coordinate may lie within one cell
// of `cell` (one index of slack each side; axis_w makes the exact decision).
fn sample_range(start: f32, bin: f32, g: u32, bins: u32, cell: u32) -> vec2<u32> {
    let total = bins * g;
    let step = bin / f32(max(g, 1u));
    if (g == 0u) { return vec2<u32>(0u, 0u); }
    if (!(step > 0.0)) { return vec2<u32>(0u, total); }
    let lo = floor((f32(cell) - 1.0 - start) / step - 0.5) - 1.0;
    let hi = ceil((f32(cell) + 1.0 - start) / step - 0.5) + 2.0;
    let lo_c = u32(clamp(lo, 0.0, f32(total)));
    let hi_c = u32(clamp(hi, 0.0, f32(total)));
    return vec2<u32>(lo_c, hi_c);
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = linear(gid, nwg);
    let cblocks = (p.c + CB - 1u) / CB;
    if (t >= p.n * cblocks * p.h * p.w) { return; }
    let ww = t % p.w;
    let hh = (t / p.w) % p.h;
    let cb = (t / (p.w * p.h)) % cblocks;
    let n = t / (p.w * p.h * cblocks);
    let c0 = cb * CB;
    let cn = min(CB, p.c - c0);
    var acc: array<f32, 8>;
    for (var k = 0u; k < CB; k++) { acc[k] = 0.0; }
    // Only the RoIs listed for this cell's tile (roi_tiles.wgsl), in RoI order.
    let lb = (n * p.tiles_x * ((p.h + p.tile - 1u) / p.tile) + (hh / p.tile) * p.tiles_x + ww / p.tile) * (p.r + 1u);
    let nl = lists[lb];
    for (var q = 0u; q < nl; q++) {
        let r = lists[lb + 1u + q];
        let roi = load_roi(r);
        if (roi.batch != i32(n)) { continue; }
        let ry = sample_range(roi.sy, roi.bh, roi.gh, p.out_h, hh);
        let rx = sample_range(roi.sx, roi.bw, roi.gw, p.out_w, ww);
        if (ry.x >= ry.y || rx.x >= rx.y) { continue; }
        let inv = 1.0 / f32(max(roi.gh * roi.gw, 1u));
        for (var ky = ry.x; ky < ry.y; ky++) {
            let ph = ky / roi.gh;
            let wy = axis_w(sample_at(roi.sy, roi.bh, ph, ky - ph * roi.gh, roi.gh), p.h, i32(hh));
            if (wy == 0.0) { continue; }
            for (var kx = rx.x; kx < rx.y; kx++) {
                let pw = kx / roi.gw;
                let wx = axis_w(sample_at(roi.sx, roi.bw, pw, kx - pw * roi.gw, roi.gw), p.w, i32(ww));
                if (wx == 0.0) { continue; }
                let wgt = wy * wx * inv;
                for (var k = 0u; k < cn; k++) {
                    acc[k] += wgt * dy[((r * p.c + c0 + k) * p.out_h + ph) * p.out_w + pw];
                }
            }
        }
    }
    for (var k = 0u; k < cn; k++) {
        dx[((n * p.c + c0 + k) * p.h + hh) * p.w + ww] = acc[k];
    }
}
