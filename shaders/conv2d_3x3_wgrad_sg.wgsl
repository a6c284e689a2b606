// conv2d_3x3_wgrad.wgsl with dy shared across the subgroup (needs the SUBGROUP feature and
// subgroups of exactly 8 invocations: lavapipe, where every storage load is a per-lane gather).
// The invocations of a workgroup own the same 8 output channels and different input channels,
// so the 16 dy vec4 a step of 8 pixels needs are the same for every lane: lane j loads the two
// of output channel o0 + j and `subgroupBroadcast` hands them round (register shuffles); each
// input row comes as 2 vec4 and the 2 edge columns as scalars: 8 vec4 and 6 scalar gathers a
// step instead of 28 vec4 gathers. gid.x: input channel (workgroups of 8: one subgroup, so few
// channels waste no SIMD rows), gid.y: output-channel block, gid.z: the chunk of input rows.
// No invocation returns early (every lane must take part in the broadcasts): channels past C
// compute on the last one and store nothing.

struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    o: u32,
    // The N x H input rows are summed in chunks of this many (gid.z: the chunk), each chunk's
    // partial dw at chunk * O * C * 9, so that few channels still make enough workgroups.
    rows_per_chunk: u32,
    _pad0: u32,
    _pad1: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// The same buffer as `x`, bound again as scalars: the two edge columns of a window are loaded
// alone (a scalar gather costs a quarter of a vec4 one on lavapipe).
@group(0) @binding(4) var<storage, read> xs: array<f32>;

// Vec4 number q of the x row starting at vec4 `base`, zero outside the row (the padding).
fn xrow4(base: u32, q: i32) -> vec4<f32> {
    let wq = i32(p.w / 4u);
    return select(vec4<f32>(0.0), x[base + u32(clamp(q, 0, wq - 1))], q >= 0 && q < wq);
}

// Vec4 number q of the dy row starting at vec4 `base`, zero past the row end (a half block).
fn dyrow4(base: u32, q: u32) -> vec4<f32> {
    let wq = p.w / 4u;
    return select(vec4<f32>(0.0), dy[base + min(q, wq - 1u)], q < wq);
}

// s[2 t + h] (4 output channels each) += the dot products of the 8 dy rows in d with the window (la, lb).
fn tap(s: ptr<function, array<vec4<f32>, 18>>, t: u32, d: ptr<function, array<vec4<f32>, 16>>, la: vec4<f32>, lb: vec4<f32>) {
    (*s)[2u * t] += vec4<f32>(
        dot((*d)[0], la) + dot((*d)[1], lb),
        dot((*d)[2], la) + dot((*d)[3], lb),
        dot((*d)[4], la) + dot((*d)[5], lb),
        dot((*d)[6], la) + dot((*d)[7], lb),
    );
    (*s)[2u * t + 1u] += vec4<f32>(
        dot((*d)[8], la) + dot((*d)[9], lb),
        dot((*d)[10], la) + dot((*d)[11], lb),
        dot((*d)[12], la) + dot((*d)[13], lb),
        dot((*d)[14], la) + dot((*d)[15], lb),
    );
}

// One kernel row (taps t0 .. t0 + 2) over the x row at vec4 `base`, 8 pixels from vec4 q0.
fn krow(s: ptr<function, array<vec4<f32>, 18>>, t0: u32, d: ptr<function, array<vec4<f32>, 16>>, base: u32, q0: u32) {
    let qi = i32(q0);
    let wq = i32(p.w / 4u);
    let qa = x[base + q0];
    let qb = xrow4(base, qi + 1);
    // The single columns x0 - 1 and x0 + 8 (0 in the padding).
    let lm = select(0.0, xs[4u * (base + u32(max(qi - 1, 0))) + 3u], qi >= 1);
    let lc = select(0.0, xs[4u * (base + u32(min(qi + 2, wq - 1)))], qi + 2 < wq);
    // kx = 0: columns x0 - 1 .. x0 + 6; kx = 1: x0 .. x0 + 7; kx = 2: x0 + 1 .. x0 + 8.
    tap(s, t0, d, vec4<f32>(lm, qa.xyz), vec4<f32>(qa.w, qb.xyz));
    tap(s, t0 + 1u, d, qa, qb);
    tap(s, t0 + 2u, d, vec4<f32>(qa.yzw, qb.x), vec4<f32>(qb.yzw, lc));
}

fn store9(base: u32, o: u32, c: u32, t: u32, v: vec4<f32>) {
    let kk = 9u;
    if (o < p.o) { out[base + (o * p.c + c) * kk + t] = v.x; }
    if (o + 1u < p.o) { out[base + ((o + 1u) * p.c + c) * kk + t] = v.y; }
    if (o + 2u < p.o) { out[base + ((o + 2u) * p.c + c) * kk + t] = v.z; }
    if (o + 3u < p.o) { out[base + ((o + 3u) * p.c + c) * kk + t] = v.w; }
}

@compute @workgroup_size(8)
fn wgrad3x3_sg(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let live = gid.x < p.c;
    let c = min(gid.x, p.c - 1u);
    let o0 = gid.y * 8u;
    let wq = p.w / 4u;
    let plane = p.h * wq;
    // This lane's dy row: output channel o0 + lane (clamped past O: loaded, never stored).
    let orow = min(o0 + lane, p.o - 1u) * p.h;
    var s: array<vec4<f32>, 18>;
    for (var i = 0u; i < 18u; i++) { s[i] = vec4<f32>(0.0); }
    var d: array<vec4<f32>, 16>;
    let r0 = gid.z * p.rows_per_chunk;
    let r1 = min(r0 + p.rows_per_chunk, p.n * p.h);
    // This chunk's rows r0 .. r1 of the N x H input rows, walked as (image, row) loops: one
    // flattened row loop ran 14% slower on lavapipe.
    for (var nn = r0 / p.h; nn < p.n; nn++) {
        let xb = (nn * p.c + c) * plane;
        let db = nn * p.o * plane;
        for (var y = 0u; y < p.h; y++) {
            let row = nn * p.h + y;
            if (row < r0) { continue; }
            if (row >= r1) { break; }
            let r = db + (orow + y) * wq;
            for (var q0 = 0u; q0 < wq; q0 += 2u) {
                let v0 = dy[r + q0];
                let v1 = dyrow4(r, q0 + 1u);
                d[0] = subgroupBroadcast(v0, 0u); d[1] = subgroupBroadcast(v1, 0u);
                d[2] = subgroupBroadcast(v0, 1u); d[3] = subgroupBroadcast(v1, 1u);
                d[4] = subgroupBroadcast(v0, 2u); d[5] = subgroupBroadcast(v1, 2u);
                d[6] = subgroupBroadcast(v0, 3u); d[7] = subgroupBroadcast(v1, 3u);
                d[8] = subgroupBroadcast(v0, 4u); d[9] = subgroupBroadcast(v1, 4u);
                d[10] = subgroupBroadcast(v0, 5u); d[11] = subgroupBroadcast(v1, 5u);
                d[12] = subgroupBroadcast(v0, 6u); d[13] = subgroupBroadcast(v1, 6u);
                d[14] = subgroupBroadcast(v0, 7u); d[15] = subgroupBroadcast(v1, 7u);
                // Kernel rows written out (not a loop) so every accumulator index is a constant.
                if (y > 0u) { krow(&s, 0u, &d, xb + (y - 1u) * wq, q0); }
                krow(&s, 3u, &d, xb + y * wq, q0);
                if (y + 1u < p.h) { krow(&s, 6u, &d, xb + (y + 1u) * wq, q0); }
            }
        }
    }
    if (!live) { return; }
    let base = gid.z * p.o * p.c * 9u;
    for (var t = 0u; t < 9u; t++) {
        store9(base, o0, c, t, s[2u * t]);
        store9(base, o0 + 4u, c, t, s[2u * t + 1u]);
    }
}
