// RoI max pooling (Fast R-CNN) forward with argmax, and its backward as a gather.
// RoIs are rows (batch, x1, y1, x2, y2) in image pixels (continuous box convention). In feature
// cells the RoI spans [x1 * scale, x2 * scale); bin j of out_w spans [s + j * b, s + (j + 1) * b)
// with b = width / out_w and pools the cells floor(lo) .. max(ceil(hi), floor(lo) + 1) (so every bin
// of a RoI smaller than a cell still sees the cell it lies in), clamped to the map. An empty bin
// (wholly outside the map) outputs 0 with argmax 0xffffffff. argmax is the cell index h * W + w.

struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    r: u32,
    out_h: u32,
    out_w: u32,
    scale: f32,
    tile: u32,     // backward: cells per tile side of the RoI lists
    tiles_x: u32,
    _pad0: u32,
    _pad1: u32,
};

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;
// Channels one backward thread handles: the RoI and bin tests are shared by them.
const CB: u32 = 16u;

fn linear(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// Cell range [lo, hi) of bin i of a RoI starting at `start` with bin size `bin`, clamped to [0, size].
fn bin_range(start: f32, bin: f32, i: u32, size: u32) -> vec2<i32> {
    let lim = f32(size) + 1.0;
    let lo = clamp(floor(start + f32(i) * bin), -1.0, lim);
    let hi = max(clamp(ceil(start + f32(i + 1u) * bin), -1.0, lim), lo + 1.0);
    return clamp(vec2<i32>(i32(lo), i32(hi)), vec2<i32>(0), vec2<i32>(i32(size)));
}

// (batch, start x, start y, bin w, bin h) of RoI r; batch < 0 when the batch index is invalid.
struct Roi {
    batch: i32,
    sx: f32,
    sy: f32,
    bw: f32,
    bh: f32,
};

fn load_roi(r: u32) -> Roi {
    let b = rois[r * 5u];
    var batch = -1;
    if (b >= 0.0 && b < f32(p.n)) { batch = i32(b); }
    let sx = rois[r * 5u + 1u] * p.scale;
    let sy = rois[r * 5u + 2u] * p.scale;
    let ex = rois[r * 5u + 3u] * p.scale;
    let ey = rois[r * 5u + 4u] * p.scale;
    return Roi(batch, sx, sy, max(ex - sx, 0.0) / f32(p.out_w), max(ey - sy, 0.0) / f32(p.out_h));
}

@group(0) @binding(1) var<storage, read> rois: array<f32>;

// Forward: one thread an output (r, c, ph, pw).
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> amax: array<u32>;

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = linear(gid, nwg);
    if (t >= p.r * p.c * p.out_h * p.out_w) { return; }
    let pw = t % p.out_w;
    let ph = (t / p.out_w) % p.out_h;
    let c = (t / (p.out_w * p.out_h)) % p.c;
    let r = t / (p.out_w * p.out_h * p.c);
    let roi = load_roi(r);
    var best = 0.0;
    var arg = NONE;
    if (roi.batch >= 0) {
        let ry = bin_range(roi.sy, roi.bh, ph, p.h);
        let rx = bin_range(roi.sx, roi.bw, pw, p.w);
        let base = (u32(roi.batch) * p.c + c) * p.h * p.w;
        for (var hh = ry.x; hh < ry.y; hh++) {
            for (var ww = rx.x; ww < rx.y; ww++) {
                let cell = u32(hh) * p.w + u32(ww);
                let v = x[base + cell];
                if (arg == NONE || v > best) {
                    best = v;
                    arg = cell;
                }
            }
        }
    }
    y[t] = best;
    amax[t] = arg;
}

// Backward (gather): one thread an input cell (n, h, w) and CB channels. It loops over the RoIs
// listed for its tile (those of image n that may reach the tile, in RoI order; see
// roi_tiles.wgsl), over the bins whose cell range holds (h, w), and sums dy where argmax == this
// cell. Fixed loop order: deterministic, no atomics.
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> bamax: array<u32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read> lists: array<u32>;

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = linear(gid, nwg);
    let cblocks = (p.c + CB - 1u) / CB;
    if (t >= p.n * cblocks * p.h * p.w) { return; }
    let ww = t % p.w;
    let hh = (t / p.w) % p.h;
    let cb = (t / (p.w * p.h)) % cblocks;
    let n = t / (p.w * p.h * cblocks);
    let cell = hh * p.w + ww;
    let c0 = cb * CB;
    let cn = min(CB, p.c - c0);
    var acc: array<f32, 16>;
    for (var k = 0u; k < CB; k++) { acc[k] = 0.0; }
    let lb = (n * p.tiles_x * ((p.h + p.tile - 1u) / p.tile) + (hh / p.tile) * p.tiles_x + ww / p.tile) * (p.r + 1u);
    let nl = lists[lb];
    for (var q = 0u; q < nl; q++) {
        let r = lists[lb + 1u + q];
        let roi = load_roi(r);
        if (roi.batch != i32(n)) { continue; }
        // Quick reject on the RoI's whole cell range (one cell of slack against rounding).
        let ay = bin_range(roi.sy, roi.bh * f32(p.out_h), 0u, p.h);
        let ax = bin_range(roi.sx, roi.bw * f32(p.out_w), 0u, p.w);
        if (i32(hh) + 1 < ay.x || i32(hh) > ay.y || i32(ww) + 1 < ax.x || i32(ww) > ax.y) { continue; }
        var xbins = 0u; // bit pw set when bin pw's cell range holds ww (out_w <= 32)
        for (var pw = 0u; pw < p.out_w; pw++) {
            let rx = bin_range(roi.sx, roi.bw, pw, p.w);
            if (i32(ww) >= rx.x && i32(ww) < rx.y) { xbins |= 1u << pw; }
        }
        if (xbins == 0u) { continue; }
        for (var ph = 0u; ph < p.out_h; ph++) {
            let ry = bin_range(roi.sy, roi.bh, ph, p.h);
            if (i32(hh) < ry.x || i32(hh) >= ry.y) { continue; }
            for (var pw = 0u; pw < p.out_w; pw++) {
                if ((xbins & (1u << pw)) == 0u) { continue; }
                for (var k = 0u; k < cn; k++) {
                    let o = ((r * p.c + c0 + k) * p.out_h + ph) * p.out_w + pw;
                    if (bamax[o] == cell) { acc[k] += dy[o]; }
                }
            }
        }
    }
    for (var k = 0u; k < cn; k++) {
        dx[((n * p.c + c0 + k) * p.h + hh) * p.w + ww] = acc[k];
    }
}
