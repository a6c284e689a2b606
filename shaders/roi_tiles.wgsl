// Per-tile RoI lists for the RoI pooling / RoIAlign backward gathers.
// The feature map is cut into TxT-cell tiles; one thread an (image, tile) walks all RoIs in
// order and lists those of its image whose cell extent, widened by 2 cells of slack (bilinear
// taps, bin rounding), meets the tile. Lists keep RoI order, so a gather that walks them sums
// in a fixed order: deterministic, no atomics. A RoI with a non-finite coordinate is listed in
// every tile of its image (the gather's exact tests decide).
// Layout: lists[(n * tiles + t) * (r + 1)] = count, then the RoI indices.

struct Params {
    n: u32,
    r: u32,
    h: u32,
    w: u32,
    tile: u32,     // T, cells per tile side
    tiles_x: u32,
    tiles_y: u32,
    min1: u32,     // 1: the RoI is at least one cell wide (RoIAlign without `aligned`)
    scale: f32,
    offset: f32,   // subtracted from scaled coordinates (0.5 for aligned RoIAlign)
    _pad0: u32,
    _pad1: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rois: array<f32>;
@group(0) @binding(2) var<storage, read_write> lists: array<u32>;

const WG: u32 = 64u;

fn finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

// Tile range [lo, hi] along one axis met by the continuous span [a, b] (cells), or lo > hi.
fn tile_span(a: f32, b: f32, size: u32) -> vec2<i32> {
    if (!finite(a) || !finite(b)) { return vec2<i32>(0, i32((size - 1u) / p.tile)); }
    let lo = floor(min(a, b)) - 2.0;
    let hi = ceil(max(a, b)) + 2.0;
    if (hi < 0.0 || lo > f32(size - 1u)) { return vec2<i32>(1, 0); }
    let cl = i32(clamp(lo, 0.0, f32(size - 1u)));
    let ch = i32(clamp(hi, 0.0, f32(size - 1u)));
    return vec2<i32>(cl / i32(p.tile), ch / i32(p.tile));
}

@compute @workgroup_size(64)
fn build(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * nwg.x * WG;
    let tiles = p.tiles_x * p.tiles_y;
    if (t >= p.n * tiles) { return; }
    let n = t / tiles;
    let tile = t - n * tiles;
    let tx = i32(tile % p.tiles_x);
    let ty = i32(tile / p.tiles_x);
    let base = t * (p.r + 1u);
    var cnt = 0u;
    for (var r = 0u; r < p.r; r++) {
        let b = rois[r * 5u];
        if (!(b >= 0.0 && b < f32(p.n)) || u32(b) != n) { continue; }
        let x1 = rois[r * 5u + 1u] * p.scale - p.offset;
        let y1 = rois[r * 5u + 2u] * p.scale - p.offset;
        var x2 = rois[r * 5u + 3u] * p.scale - p.offset;
        var y2 = rois[r * 5u + 4u] * p.scale - p.offset;
        if (p.min1 != 0u) {
            x2 = max(x2, x1 + 1.0);
            y2 = max(y2, y1 + 1.0);
        }
        let sx = tile_span(x1, x2, p.w);
        let sy = tile_span(y1, y2, p.h);
        if (tx < sx.x || tx > sx.y || ty < sy.x || ty > sy.y) { continue; }
        lists[base + 1u + cnt] = r;
        cnt++;
    }
    lists[base] = cnt;
}
