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
    // Constant indices only: a loop index into `s` would keep the accumulators in memory.
    store9(base, o0, c, 0u, s[0]); store9(base, o0 + 4u, c, 0u, s[1]);
    store9(base, o0, c, 1u, s[2]); store9(base, o0 + 4u, c, 1u, s[3]);
    store9(base, o0, c, 2u, s[4]); store9(base, o0 + 4u, c, 2u, s[5]);
    store9(base, o0, c, 3u, s[6]); store9(base, o0 + 4u, c, 3u, s[7]);
    store9(base, o0, c, 4u, s[8]); store9(base, o0 + 4u, c, 4u, s[9]);
    store9(base, o0, c, 5u, s[10]); store9(base, o0 + 4u, c, 5u, s[11]);
    store9(base, o0, c, 6u, s[12]); store9(base, o0 + 4u, c, 6u, s[13]);
    store9(base, o0, c, 7u, s[14]); store9(base, o0 + 4u, c, 7u, s[15]);
    store9(base, o0, c, 8u, s[16]); store9(base, o0 + 4u, c, 8u, s[17]);
}

// ---- wgrad3x3_sg16: 16 output channels a lane (gid.y blocks of 16) ----
// The same pass with twice the output channels: lane j loads the dy rows of channels o0 + j and
// o0 + 8 + j, so a step of 8 pixels loads 4 dy vec4, 2 x vec4 and 2 edge scalars per kernel row
// for 1,152 multiply-adds (against 2 dy vec4 for 576): on lavapipe every storage load costs tens
// of instructions, so multiply-adds per load decide the speed. Accumulators s[4 t + q]: tap t,
// output channels o0 + 4 q .. o0 + 4 q + 3.

// s[4 t + q] += the dot products of dy channels 4 q .. 4 q + 3 (d[8 q .. 8 q + 8]) with (la, lb).
fn tap16(s: ptr<function, array<vec4<f32>, 36>>, t: u32, d: ptr<function, array<vec4<f32>, 32>>, la: vec4<f32>, lb: vec4<f32>) {
    (*s)[4u * t + 0u] += vec4<f32>(
        dot((*d)[0], la) + dot((*d)[1], lb),
        dot((*d)[2], la) + dot((*d)[3], lb),
        dot((*d)[4], la) + dot((*d)[5], lb),
        dot((*d)[6], la) + dot((*d)[7], lb),
    );
    (*s)[4u * t + 1u] += vec4<f32>(
        dot((*d)[8], la) + dot((*d)[9], lb),
        dot((*d)[10], la) + dot((*d)[11], lb),
        dot((*d)[12], la) + dot((*d)[13], lb),
        dot((*d)[14], la) + dot((*d)[15], lb),
    );
    (*s)[4u * t + 2u] += vec4<f32>(
        dot((*d)[16], la) + dot((*d)[17], lb),
        dot((*d)[18], la) + dot((*d)[19], lb),
        dot((*d)[20], la) + dot((*d)[21], lb),
        dot((*d)[22], la) + dot((*d)[23], lb),
    );
    (*s)[4u * t + 3u] += vec4<f32>(
        dot((*d)[24], la) + dot((*d)[25], lb),
        dot((*d)[26], la) + dot((*d)[27], lb),
        dot((*d)[28], la) + dot((*d)[29], lb),
        dot((*d)[30], la) + dot((*d)[31], lb),
    );
}

// krow for 16 output channels.
fn krow16(s: ptr<function, array<vec4<f32>, 36>>, t0: u32, d: ptr<function, array<vec4<f32>, 32>>, base: u32, q0: u32) {
    let qi = i32(q0);
    let wq = i32(p.w / 4u);
    let qa = x[base + q0];
    let qb = xrow4(base, qi + 1);
    let lm = select(0.0, xs[4u * (base + u32(max(qi - 1, 0))) + 3u], qi >= 1);
    let lc = select(0.0, xs[4u * (base + u32(min(qi + 2, wq - 1)))], qi + 2 < wq);
    tap16(s, t0, d, vec4<f32>(lm, qa.xyz), vec4<f32>(qa.w, qb.xyz));
    tap16(s, t0 + 1u, d, qa, qb);
    tap16(s, t0 + 2u, d, vec4<f32>(qa.yzw, qb.x), vec4<f32>(qb.yzw, lc));
}

@compute @workgroup_size(8)
fn wgrad3x3_sg16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let live = gid.x < p.c;
    let c = min(gid.x, p.c - 1u);
    let o0 = gid.y * 16u;
    let wq = p.w / 4u;
    let plane = p.h * wq;
    // This lane's dy rows: output channels o0 + lane and o0 + 8 + lane (clamped past O).
    let orow = min(o0 + lane, p.o - 1u) * p.h;
    let orow2 = min(o0 + 8u + lane, p.o - 1u) * p.h;
    var s: array<vec4<f32>, 36>;
    var d: array<vec4<f32>, 32>;
    let r0 = gid.z * p.rows_per_chunk;
    let r1 = min(r0 + p.rows_per_chunk, p.n * p.h);
    for (var nn = r0 / p.h; nn < p.n; nn++) {
        let xb = (nn * p.c + c) * plane;
        let db = nn * p.o * plane;
        for (var y = 0u; y < p.h; y++) {
            let row = nn * p.h + y;
            if (row < r0) { continue; }
            if (row >= r1) { break; }
            let r = db + (orow + y) * wq;
            let r2 = db + (orow2 + y) * wq;
            for (var q0 = 0u; q0 < wq; q0 += 2u) {
                let v0 = dy[r + q0];
                let v1 = dyrow4(r, q0 + 1u);
                let u0 = dy[r2 + q0];
                let u1 = dyrow4(r2, q0 + 1u);
            d[0] = subgroupBroadcast(v0, 0u); d[1] = subgroupBroadcast(v1, 0u); d[16] = subgroupBroadcast(u0, 0u); d[17] = subgroupBroadcast(u1, 0u);
            d[2] = subgroupBroadcast(v0, 1u); d[3] = subgroupBroadcast(v1, 1u); d[18] = subgroupBroadcast(u0, 1u); d[19] = subgroupBroadcast(u1, 1u);
            d[4] = subgroupBroadcast(v0, 2u); d[5] = subgroupBroadcast(v1, 2u); d[20] = subgroupBroadcast(u0, 2u); d[21] = subgroupBroadcast(u1, 2u);
            d[6] = subgroupBroadcast(v0, 3u); d[7] = subgroupBroadcast(v1, 3u); d[22] = subgroupBroadcast(u0, 3u); d[23] = subgroupBroadcast(u1, 3u);
            d[8] = subgroupBroadcast(v0, 4u); d[9] = subgroupBroadcast(v1, 4u); d[24] = subgroupBroadcast(u0, 4u); d[25] = subgroupBroadcast(u1, 4u);
            d[10] = subgroupBroadcast(v0, 5u); d[11] = subgroupBroadcast(v1, 5u); d[26] = subgroupBroadcast(u0, 5u); d[27] = subgroupBroadcast(u1, 5u);
            d[12] = subgroupBroadcast(v0, 6u); d[13] = subgroupBroadcast(v1, 6u); d[28] = subgroupBroadcast(u0, 6u); d[29] = subgroupBroadcast(u1, 6u);
            d[14] = subgroupBroadcast(v0, 7u); d[15] = subgroupBroadcast(v1, 7u); d[30] = subgroupBroadcast(u0, 7u); d[31] = subgroupBroadcast(u1, 7u);
                if (y > 0u) { krow16(&s, 0u, &d, xb + (y - 1u) * wq, q0); }
                krow16(&s, 3u, &d, xb + y * wq, q0);
                if (y + 1u < p.h) { krow16(&s, 6u, &d, xb + (y + 1u) * wq, q0); }
            }
        }
    }
    if (!live) { return; }
    let base = gid.z * p.o * p.c * 9u;
    store9(base, o0, c, 0u, s[0]); store9(base, o0 + 4u, c, 0u, s[1]); store9(base, o0 + 8u, c, 0u, s[2]); store9(base, o0 + 12u, c, 0u, s[3]);
    store9(base, o0, c, 1u, s[4]); store9(base, o0 + 4u, c, 1u, s[5]); store9(base, o0 + 8u, c, 1u, s[6]); store9(base, o0 + 12u, c, 1u, s[7]);
    store9(base, o0, c, 2u, s[8]); store9(base, o0 + 4u, c, 2u, s[9]); store9(base, o0 + 8u, c, 2u, s[10]); store9(base, o0 + 12u, c, 2u, s[11]);
    store9(base, o0, c, 3u, s[12]); store9(base, o0 + 4u, c, 3u, s[13]); store9(base, o0 + 8u, c, 3u, s[14]); store9(base, o0 + 12u, c, 3u, s[15]);
    store9(base, o0, c, 4u, s[16]); store9(base, o0 + 4u, c, 4u, s[17]); store9(base, o0 + 8u, c, 4u, s[18]); store9(base, o0 + 12u, c, 4u, s[19]);
    store9(base, o0, c, 5u, s[20]); store9(base, o0 + 4u, c, 5u, s[21]); store9(base, o0 + 8u, c, 5u, s[22]); store9(base, o0 + 12u, c, 5u, s[23]);
    store9(base, o0, c, 6u, s[24]); store9(base, o0 + 4u, c, 6u, s[25]); store9(base, o0 + 8u, c, 6u, s[26]); store9(base, o0 + 12u, c, 6u, s[27]);
    store9(base, o0, c, 7u, s[28]); store9(base, o0 + 4u, c, 7u, s[29]); store9(base, o0 + 8u, c, 7u, s[30]); store9(base, o0 + 12u, c, 7u, s[31]);
    store9(base, o0, c, 8u, s[32]); store9(base, o0 + 4u, c, 8u, s[33]); store9(base, o0 + 8u, c, 8u, s[34]); store9(base, o0 + 12u, c, 8u, s[35]);
}
