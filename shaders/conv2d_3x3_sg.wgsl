// conv2d_3x3.wgsl with the weights shared across the subgroup (needs the SUBGROUP feature and
// subgroups of exactly 8 invocations: lavapipe, where every storage load is a per-lane gather).
// All invocations of a workgroup own the same 8 output channels, so the 6 weight vec4 a
// (channel, kernel row) step needs are the same for every lane: lanes 0-5 load one each and
// `subgroupBroadcast` hands them round (register shuffles); the input row comes as 2 vec4 and 2
// scalars: 3 vec4 gathers and 2 scalar ones a step instead of 10 vec4 gathers. Kernel rows are
// written out, not looped (1.2x), and the edge columns loaded as scalars (1.1x more), side by side.
// No invocation returns early (every lane must take part in the broadcasts): invocations past
// the last pixel block compute on the last one and store nothing. Grid and `Params` as in
// conv2d_3x3.wgsl; backward-data uses it the same way (weights packed transposed and flipped).

struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    o: u32,
    kh: u32,
    kw: u32,
    oh: u32,
    ow: u32,
    stride: u32,
    pad: u32,
    flags: u32,
    mode: u32,
    gm: u32,
    gn: u32,
    gk: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// The same buffer as `x`, bound again as scalars: the two edge columns of a window are loaded
// alone (a scalar gather costs a quarter of a vec4 one on lavapipe).
@group(0) @binding(5) var<storage, read> xs: array<f32>;

// Vec4 number q of the row starting at vec4 `base`, zero outside the row (the padding).
fn row4(base: u32, q: i32) -> vec4<f32> {
    let wq = i32(p.w / 4u);
    return select(vec4<f32>(0.0), x[base + u32(clamp(q, 0, wq - 1))], q >= 0 && q < wq);
}

// s[2 i + h] += weight of channel i * window half h, for the 8 channels of (wl, wh).
fn tap(s: ptr<function, array<vec4<f32>, 16>>, wl: vec4<f32>, wh: vec4<f32>, la: vec4<f32>, lb: vec4<f32>) {
    (*s)[0] += wl.x * la; (*s)[1] += wl.x * lb;
    (*s)[2] += wl.y * la; (*s)[3] += wl.y * lb;
    (*s)[4] += wl.z * la; (*s)[5] += wl.z * lb;
    (*s)[6] += wl.w * la; (*s)[7] += wl.w * lb;
    (*s)[8] += wh.x * la; (*s)[9] += wh.x * lb;
    (*s)[10] += wh.y * la; (*s)[11] += wh.y * lb;
    (*s)[12] += wh.z * la; (*s)[13] += wh.z * lb;
    (*s)[14] += wh.w * la; (*s)[15] += wh.w * lb;
}

fn epilogue(v: vec4<f32>, o: u32) -> vec4<f32> {
    var r = v;
    if ((p.flags & 1u) != 0u) { r += vec4<f32>(bias[o]); }
    if ((p.flags & 2u) != 0u) { r = max(r, vec4<f32>(0.0)); }
    return r;
}

fn store8(o: u32, base: u32, x0: u32, v0: vec4<f32>, v1: vec4<f32>) {
    if (o >= p.o) { return; }
    let e0 = epilogue(v0, o);
    let e1 = epilogue(v1, o);
    let v = array<f32, 8>(e0.x, e0.y, e0.z, e0.w, e1.x, e1.y, e1.z, e1.w);
    for (var j = 0u; j < 8u; j++) {
        if (x0 + j < p.w) { out[base + x0 + j] = v[j]; }
    }
}

// One kernel row: the lanes' weight vec4 `wv` (tap kx = lane / 2, channel half lane % 2) broadcast to
// all lanes, then, where the input row is inside the image, its 4 vec4 and the three taps. The
// broadcasts come first because the row test may differ between lanes.
fn frow(s: ptr<function, array<vec4<f32>, 16>>, wv: vec4<f32>, base: u32, q0: i32, live_row: bool) {
    let w0l = subgroupBroadcast(wv, 0u);
    let w0h = subgroupBroadcast(wv, 1u);
    let w1l = subgroupBroadcast(wv, 2u);
    let w1h = subgroupBroadcast(wv, 3u);
    let w2l = subgroupBroadcast(wv, 4u);
    let w2h = subgroupBroadcast(wv, 5u);
    if (!live_row) { return; }
    // Columns x0 .. x0 + 7 as two vec4, and the single columns x0 - 1 and x0 + 8 (0 in the padding).
    let wq = i32(p.w / 4u);
    let qa = x[base + u32(q0)];
    let qb = row4(base, q0 + 1);
    let lm = select(0.0, xs[4u * (base + u32(max(q0 - 1, 0))) + 3u], q0 >= 1);
    let lc = select(0.0, xs[4u * (base + u32(min(q0 + 2, wq - 1)))], q0 + 2 < wq);
    tap(s, w0l, w0h, vec4<f32>(lm, qa.xyz), vec4<f32>(qa.w, qb.xyz));
    tap(s, w1l, w1h, qa, qb);
    tap(s, w2l, w2h, vec4<f32>(qa.yzw, qb.x), vec4<f32>(qb.yzw, lc));
}

@compute @workgroup_size(32)
fn fwd3x3_sg(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let xbn = (p.w + 7u) / 8u;
    let o0 = gid.y * 8u;
    let total = p.n * p.h * xbn;
    let live = gid.x < total;
    let g = min(gid.x, total - 1u);
    let xb = g % xbn;
    let t = g / xbn;
    let y = t % p.h;
    let nn = t / p.h;
    let x0 = xb * 8u;
    let q0 = i32(x0 / 4u);
    let wq = p.w / 4u;
    let o4 = p.gk / 4u;
    // Lane l < 6 loads the weight vec4 of tap kx = l / 2, channel half l % 2 (lanes 6, 7 repeat 5).
    let ll = min(lane, 5u);
    let wofs = (ll / 2u) * o4 + min(o0 / 4u + (ll & 1u), o4 - 1u);
    let ym = select(y - 1u, 0u, y == 0u);
    let yp = min(y + 1u, p.h - 1u);
    var s: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i++) { s[i] = vec4<f32>(0.0); }
    // Kernel rows written out (not a loop); rows in the padding are clamped, then skipped in frow.
    for (var c = 0u; c < p.c; c++) {
        let cb = (nn * p.c + c) * p.h;
        let tb = c * 9u * o4 + wofs;
        frow(&s, wt[tb], (cb + ym) * wq, q0, y > 0u);
        frow(&s, wt[tb + 3u * o4], (cb + y) * wq, q0, true);
        frow(&s, wt[tb + 6u * o4], (cb + yp) * wq, q0, y + 1u < p.h);
    }
    if (!live) { return; }
    let plane = p.h * p.w;
    let ob = (nn * p.o + o0) * plane + y * p.w;
    store8(o0, ob, x0, s[0], s[1]);
    store8(o0 + 1u, ob + plane, x0, s[2], s[3]);
    store8(o0 + 2u, ob + 2u * plane, x0, s[4], s[5]);
    store8(o0 + 3u, ob + 3u * plane, x0, s[6], s[7]);
    store8(o0 + 4u, ob + 4u * plane, x0, s[8], s[9]);
    store8(o0 + 5u, ob + 5u * plane, x0, s[10], s[11]);
    store8(o0 + 6u, ob + 6u * plane, x0, s[12], s[13]);
    store8(o0 + 7u, ob + 7u * plane, x0, s[14], s[15]);
}


// ---- fwd3x3_sg16 and fwd3x3_sg32: 16 or 32 output channels a lane, summed channel by channel ----
// The same pass, reordered for lavapipe's registers. fwd3x3_sg updates all its accumulators once
// per tap, and 64 of them (plus the windows) do not fit in the 32 vector registers, so every
// multiply-add also loads and stores its accumulator. Here a step is one input channel: its 3
// input rows (2 vec4 and 2 edge scalars each; the shifted windows are free swizzles, each vec4
// component being its own SIMD register on lavapipe) and its 9 weights for each output channel
// (36 or 72 vec4, loaded 5 or 9 a lane and handed round by `subgroupBroadcast`), then each output
// channel's 9 taps in one chain: one accumulator load and store per 9 multiply-adds. The sum order
// (channel, kernel row, kernel column) is the other kernels'. gid.y: blocks of 16 or 32 channels.
// 64->64 on 128x128 (idle, side by side): fwd3x3_sg 39.5, sg16 51, sg32 55 GFLOP/s.

// The 6 windows of an input row over output columns x0 .. x0 + 7: taps kx = 0, 1, 2, each as two
// vec4 halves ([2 kx + h]); zero when the row is in the padding.
fn windows(base: u32, q0: i32, live_row: bool) -> array<vec4<f32>, 6> {
    if (!live_row) { return array<vec4<f32>, 6>(); }
    let wq = i32(p.w / 4u);
    let qa = x[base + u32(q0)];
    let qb = row4(base, q0 + 1);
    let lm = select(0.0, xs[4u * (base + u32(max(q0 - 1, 0))) + 3u], q0 >= 1);
    let lc = select(0.0, xs[4u * (base + u32(min(q0 + 2, wq - 1)))], q0 + 2 < wq);
    return array<vec4<f32>, 6>(
        vec4<f32>(lm, qa.xyz), vec4<f32>(qa.w, qb.xyz),
        qa, qb,
        vec4<f32>(qa.yzw, qb.x), vec4<f32>(qb.yzw, lc),
    );
}

// One output channel's two halves += its 9 weights (tap ky * 3 + kx) times the windows of rows
// y - 1, y, y + 1.
fn chan(s0: vec4<f32>, s1: vec4<f32>, w: array<f32, 9>, r0: array<vec4<f32>, 6>, r1: array<vec4<f32>, 6>, r2: array<vec4<f32>, 6>) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(
        s0 + w[0] * r0[0] + w[1] * r0[2] + w[2] * r0[4] + w[3] * r1[0] + w[4] * r1[2] + w[5] * r1[4]
            + w[6] * r2[0] + w[7] * r2[2] + w[8] * r2[4],
        s1 + w[0] * r0[1] + w[1] * r0[3] + w[2] * r0[5] + w[3] * r1[1] + w[4] * r1[3] + w[5] * r1[5]
            + w[6] * r2[1] + w[7] * r2[3] + w[8] * r2[5],
    );
}

// Packed-weight offset of weight vec4 v of an input channel (tap v / (CH / 4), channels
// o0 + 4 (v % (CH / 4)) ..), clamped to the last vec4 of the row past the output channels.
fn wofs16(v: u32, o0: u32, o4: u32) -> u32 {
    return (v / 4u) * o4 + min(o0 / 4u + (v % 4u), o4 - 1u);
}

@compute @workgroup_size(32)
fn fwd3x3_sg16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let xbn = (p.w + 7u) / 8u;
    let o0 = gid.y * 16u;
    let total = p.n * p.h * xbn;
    let live = gid.x < total;
    let g = min(gid.x, total - 1u);
    let xb = g % xbn;
    let t = g / xbn;
    let y = t % p.h;
    let nn = t / p.h;
    let x0 = xb * 8u;
    let q0 = i32(x0 / 4u);
    let wq = p.w / 4u;
    let o4 = p.gk / 4u;
    let f0 = wofs16(min(0u + lane, 35u), o0, o4);
    let f1 = wofs16(min(8u + lane, 35u), o0, o4);
    let f2 = wofs16(min(16u + lane, 35u), o0, o4);
    let f3 = wofs16(min(24u + lane, 35u), o0, o4);
    let f4 = wofs16(min(32u + lane, 35u), o0, o4);
    let ym = select(y - 1u, 0u, y == 0u);
    let yp = min(y + 1u, p.h - 1u);
    var s: array<vec4<f32>, 32>;
    var bw: array<vec4<f32>, 36>;
    var r: array<vec4<f32>, 2>;
    for (var c = 0u; c < p.c; c++) {
        let tb = c * 9u * o4;
        let l0 = wt[tb + f0];
        let l1 = wt[tb + f1];
        let l2 = wt[tb + f2];
        let l3 = wt[tb + f3];
        let l4 = wt[tb + f4];
        bw[0] = subgroupBroadcast(l0, 0u);
        bw[1] = subgroupBroadcast(l0, 1u);
        bw[2] = subgroupBroadcast(l0, 2u);
        bw[3] = subgroupBroadcast(l0, 3u);
        bw[4] = subgroupBroadcast(l0, 4u);
        bw[5] = subgroupBroadcast(l0, 5u);
        bw[6] = subgroupBroadcast(l0, 6u);
        bw[7] = subgroupBroadcast(l0, 7u);
        bw[8] = subgroupBroadcast(l1, 0u);
        bw[9] = subgroupBroadcast(l1, 1u);
        bw[10] = subgroupBroadcast(l1, 2u);
        bw[11] = subgroupBroadcast(l1, 3u);
        bw[12] = subgroupBroadcast(l1, 4u);
        bw[13] = subgroupBroadcast(l1, 5u);
        bw[14] = subgroupBroadcast(l1, 6u);
        bw[15] = subgroupBroadcast(l1, 7u);
        bw[16] = subgroupBroadcast(l2, 0u);
        bw[17] = subgroupBroadcast(l2, 1u);
        bw[18] = subgroupBroadcast(l2, 2u);
        bw[19] = subgroupBroadcast(l2, 3u);
        bw[20] = subgroupBroadcast(l2, 4u);
        bw[21] = subgroupBroadcast(l2, 5u);
        bw[22] = subgroupBroadcast(l2, 6u);
        bw[23] = subgroupBroadcast(l2, 7u);
        bw[24] = subgroupBroadcast(l3, 0u);
        bw[25] = subgroupBroadcast(l3, 1u);
        bw[26] = subgroupBroadcast(l3, 2u);
        bw[27] = subgroupBroadcast(l3, 3u);
        bw[28] = subgroupBroadcast(l3, 4u);
        bw[29] = subgroupBroadcast(l3, 5u);
        bw[30] = subgroupBroadcast(l3, 6u);
        bw[31] = subgroupBroadcast(l3, 7u);
        bw[32] = subgroupBroadcast(l4, 0u);
        bw[33] = subgroupBroadcast(l4, 1u);
        bw[34] = subgroupBroadcast(l4, 2u);
        bw[35] = subgroupBroadcast(l4, 3u);
        let cb = (nn * p.c + c) * p.h;
        let w0 = windows((cb + ym) * wq, q0, y > 0u);
        let w1 = windows((cb + y) * wq, q0, true);
        let w2 = windows((cb + yp) * wq, q0, y + 1u < p.h);
        r = chan(s[0], s[1], array<f32, 9>(bw[0].x, bw[4].x, bw[8].x, bw[12].x, bw[16].x, bw[20].x, bw[24].x, bw[28].x, bw[32].x), w0, w1, w2); s[0] = r[0]; s[1] = r[1];
        r = chan(s[2], s[3], array<f32, 9>(bw[0].y, bw[4].y, bw[8].y, bw[12].y, bw[16].y, bw[20].y, bw[24].y, bw[28].y, bw[32].y), w0, w1, w2); s[2] = r[0]; s[3] = r[1];
        r = chan(s[4], s[5], array<f32, 9>(bw[0].z, bw[4].z, bw[8].z, bw[12].z, bw[16].z, bw[20].z, bw[24].z, bw[28].z, bw[32].z), w0, w1, w2); s[4] = r[0]; s[5] = r[1];
        r = chan(s[6], s[7], array<f32, 9>(bw[0].w, bw[4].w, bw[8].w, bw[12].w, bw[16].w, bw[20].w, bw[24].w, bw[28].w, bw[32].w), w0, w1, w2); s[6] = r[0]; s[7] = r[1];
        r = chan(s[8], s[9], array<f32, 9>(bw[1].x, bw[5].x, bw[9].x, bw[13].x, bw[17].x, bw[21].x, bw[25].x, bw[29].x, bw[33].x), w0, w1, w2); s[8] = r[0]; s[9] = r[1];
        r = chan(s[10], s[11], array<f32, 9>(bw[1].y, bw[5].y, bw[9].y, bw[13].y, bw[17].y, bw[21].y, bw[25].y, bw[29].y, bw[33].y), w0, w1, w2); s[10] = r[0]; s[11] = r[1];
        r = chan(s[12], s[13], array<f32, 9>(bw[1].z, bw[5].z, bw[9].z, bw[13].z, bw[17].z, bw[21].z, bw[25].z, bw[29].z, bw[33].z), w0, w1, w2); s[12] = r[0]; s[13] = r[1];
        r = chan(s[14], s[15], array<f32, 9>(bw[1].w, bw[5].w, bw[9].w, bw[13].w, bw[17].w, bw[21].w, bw[25].w, bw[29].w, bw[33].w), w0, w1, w2); s[14] = r[0]; s[15] = r[1];
        r = chan(s[16], s[17], array<f32, 9>(bw[2].x, bw[6].x, bw[10].x, bw[14].x, bw[18].x, bw[22].x, bw[26].x, bw[30].x, bw[34].x), w0, w1, w2); s[16] = r[0]; s[17] = r[1];
        r = chan(s[18], s[19], array<f32, 9>(bw[2].y, bw[6].y, bw[10].y, bw[14].y, bw[18].y, bw[22].y, bw[26].y, bw[30].y, bw[34].y), w0, w1, w2); s[18] = r[0]; s[19] = r[1];
        r = chan(s[20], s[21], array<f32, 9>(bw[2].z, bw[6].z, bw[10].z, bw[14].z, bw[18].z, bw[22].z, bw[26].z, bw[30].z, bw[34].z), w0, w1, w2); s[20] = r[0]; s[21] = r[1];
        r = chan(s[22], s[23], array<f32, 9>(bw[2].w, bw[6].w, bw[10].w, bw[14].w, bw[18].w, bw[22].w, bw[26].w, bw[30].w, bw[34].w), w0, w1, w2); s[22] = r[0]; s[23] = r[1];
        r = chan(s[24], s[25], array<f32, 9>(bw[3].x, bw[7].x, bw[11].x, bw[15].x, bw[19].x, bw[23].x, bw[27].x, bw[31].x, bw[35].x), w0, w1, w2); s[24] = r[0]; s[25] = r[1];
        r = chan(s[26], s[27], array<f32, 9>(bw[3].y, bw[7].y, bw[11].y, bw[15].y, bw[19].y, bw[23].y, bw[27].y, bw[31].y, bw[35].y), w0, w1, w2); s[26] = r[0]; s[27] = r[1];
        r = chan(s[28], s[29], array<f32, 9>(bw[3].z, bw[7].z, bw[11].z, bw[15].z, bw[19].z, bw[23].z, bw[27].z, bw[31].z, bw[35].z), w0, w1, w2); s[28] = r[0]; s[29] = r[1];
        r = chan(s[30], s[31], array<f32, 9>(bw[3].w, bw[7].w, bw[11].w, bw[15].w, bw[19].w, bw[23].w, bw[27].w, bw[31].w, bw[35].w), w0, w1, w2); s[30] = r[0]; s[31] = r[1];
    }
    if (!live) { return; }
    let plane = p.h * p.w;
    let ob = (nn * p.o + o0) * plane + y * p.w;
    store8(o0, ob, x0, s[0], s[1]);
    store8(o0 + 1u, ob + 1u * plane, x0, s[2], s[3]);
    store8(o0 + 2u, ob + 2u * plane, x0, s[4], s[5]);
    store8(o0 + 3u, ob + 3u * plane, x0, s[6], s[7]);
    store8(o0 + 4u, ob + 4u * plane, x0, s[8], s[9]);
    store8(o0 + 5u, ob + 5u * plane, x0, s[10], s[11]);
    store8(o0 + 6u, ob + 6u * plane, x0, s[12], s[13]);
    store8(o0 + 7u, ob + 7u * plane, x0, s[14], s[15]);
    store8(o0 + 8u, ob + 8u * plane, x0, s[16], s[17]);
    store8(o0 + 9u, ob + 9u * plane, x0, s[18], s[19]);
    store8(o0 + 10u, ob + 10u * plane, x0, s[20], s[21]);
    store8(o0 + 11u, ob + 11u * plane, x0, s[22], s[23]);
    store8(o0 + 12u, ob + 12u * plane, x0, s[24], s[25]);
    store8(o0 + 13u, ob + 13u * plane, x0, s[26], s[27]);
    store8(o0 + 14u, ob + 14u * plane, x0, s[28], s[29]);
    store8(o0 + 15u, ob + 15u * plane, x0, s[30], s[31]);
}

fn wofs32(v: u32, o0: u32, o4: u32) -> u32 {
    return (v / 8u) * o4 + min(o0 / 4u + (v % 8u), o4 - 1u);
}

@compute @workgroup_size(32)
fn fwd3x3_sg32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let xbn = (p.w + 7u) / 8u;
    let o0 = gid.y * 32u;
    let total = p.n * p.h * xbn;
    let live = gid.x < total;
    let g = min(gid.x, total - 1u);
    let xb = g % xbn;
    let t = g / xbn;
    let y = t % p.h;
    let nn = t / p.h;
    let x0 = xb * 8u;
    let q0 = i32(x0 / 4u);
    let wq = p.w / 4u;
    let o4 = p.gk / 4u;
    let f0 = wofs32(min(0u + lane, 71u), o0, o4);
    let f1 = wofs32(min(8u + lane, 71u), o0, o4);
    let f2 = wofs32(min(16u + lane, 71u), o0, o4);
    let f3 = wofs32(min(24u + lane, 71u), o0, o4);
    let f4 = wofs32(min(32u + lane, 71u), o0, o4);
    let f5 = wofs32(min(40u + lane, 71u), o0, o4);
    let f6 = wofs32(min(48u + lane, 71u), o0, o4);
    let f7 = wofs32(min(56u + lane, 71u), o0, o4);
    let f8 = wofs32(min(64u + lane, 71u), o0, o4);
    let ym = select(y - 1u, 0u, y == 0u);
    let yp = min(y + 1u, p.h - 1u);
    var s: array<vec4<f32>, 64>;
    var bw: array<vec4<f32>, 72>;
    var r: array<vec4<f32>, 2>;
    for (var c = 0u; c < p.c; c++) {
        let tb = c * 9u * o4;
        let l0 = wt[tb + f0];
        let l1 = wt[tb + f1];
        let l2 = wt[tb + f2];
        let l3 = wt[tb + f3];
        let l4 = wt[tb + f4];
        let l5 = wt[tb + f5];
        let l6 = wt[tb + f6];
        let l7 = wt[tb + f7];
        let l8 = wt[tb + f8];
        bw[0] = subgroupBroadcast(l0, 0u);
        bw[1] = subgroupBroadcast(l0, 1u);
        bw[2] = subgroupBroadcast(l0, 2u);
        bw[3] = subgroupBroadcast(l0, 3u);
        bw[4] = subgroupBroadcast(l0, 4u);
        bw[5] = subgroupBroadcast(l0, 5u);
        bw[6] = subgroupBroadcast(l0, 6u);
        bw[7] = subgroupBroadcast(l0, 7u);
        bw[8] = subgroupBroadcast(l1, 0u);
        bw[9] = subgroupBroadcast(l1, 1u);
        bw[10] = subgroupBroadcast(l1, 2u);
        bw[11] = subgroupBroadcast(l1, 3u);
        bw[12] = subgroupBroadcast(l1, 4u);
        bw[13] = subgroupBroadcast(l1, 5u);
        bw[14] = subgroupBroadcast(l1, 6u);
        bw[15] = subgroupBroadcast(l1, 7u);
        bw[16] = subgroupBroadcast(l2, 0u);
        bw[17] = subgroupBroadcast(l2, 1u);
        bw[18] = subgroupBroadcast(l2, 2u);
        bw[19] = subgroupBroadcast(l2, 3u);
        bw[20] = subgroupBroadcast(l2, 4u);
        bw[21] = subgroupBroadcast(l2, 5u);
        bw[22] = subgroupBroadcast(l2, 6u);
        bw[23] = subgroupBroadcast(l2, 7u);
        bw[24] = subgroupBroadcast(l3, 0u);
        bw[25] = subgroupBroadcast(l3, 1u);
        bw[26] = subgroupBroadcast(l3, 2u);
        bw[27] = subgroupBroadcast(l3, 3u);
        bw[28] = subgroupBroadcast(l3, 4u);
        bw[29] = subgroupBroadcast(l3, 5u);
        bw[30] = subgroupBroadcast(l3, 6u);
        bw[31] = subgroupBroadcast(l3, 7u);
        bw[32] = subgroupBroadcast(l4, 0u);
        bw[33] = subgroupBroadcast(l4, 1u);
        bw[34] = subgroupBroadcast(l4, 2u);
        bw[35] = subgroupBroadcast(l4, 3u);
        bw[36] = subgroupBroadcast(l4, 4u);
        bw[37] = subgroupBroadcast(l4, 5u);
        bw[38] = subgroupBroadcast(l4, 6u);
        bw[39] = subgroupBroadcast(l4, 7u);
        bw[40] = subgroupBroadcast(l5, 0u);
        bw[41] = subgroupBroadcast(l5, 1u);
        bw[42] = subgroupBroadcast(l5, 2u);
        bw[43] = subgroupBroadcast(l5, 3u);
        bw[44] = subgroupBroadcast(l5, 4u);
        bw[45] = subgroupBroadcast(l5, 5u);
        bw[46] = subgroupBroadcast(l5, 6u);
        bw[47] = subgroupBroadcast(l5, 7u);
        bw[48] = subgroupBroadcast(l6, 0u);
        bw[49] = subgroupBroadcast(l6, 1u);
        bw[50] = subgroupBroadcast(l6, 2u);
        bw[51] = subgroupBroadcast(l6, 3u);
        bw[52] = subgroupBroadcast(l6, 4u);
        bw[53] = subgroupBroadcast(l6, 5u);
        bw[54] = subgroupBroadcast(l6, 6u);
        bw[55] = subgroupBroadcast(l6, 7u);
        bw[56] = subgroupBroadcast(l7, 0u);
        bw[57] = subgroupBroadcast(l7, 1u);
        bw[58] = subgroupBroadcast(l7, 2u);
        bw[59] = subgroupBroadcast(l7, 3u);
        bw[60] = subgroupBroadcast(l7, 4u);
        bw[61] = subgroupBroadcast(l7, 5u);
        bw[62] = subgroupBroadcast(l7, 6u);
        bw[63] = subgroupBroadcast(l7, 7u);
        bw[64] = subgroupBroadcast(l8, 0u);
        bw[65] = subgroupBroadcast(l8, 1u);
        bw[66] = subgroupBroadcast(l8, 2u);
        bw[67] = subgroupBroadcast(l8, 3u);
        bw[68] = subgroupBroadcast(l8, 4u);
        bw[69] = subgroupBroadcast(l8, 5u);
        bw[70] = subgroupBroadcast(l8, 6u);
        bw[71] = subgroupBroadcast(l8, 7u);
        let cb = (nn * p.c + c) * p.h;
        let w0 = windows((cb + ym) * wq, q0, y > 0u);
        let w1 = windows((cb + y) * wq, q0, true);
        let w2 = windows((cb + yp) * wq, q0, y + 1u < p.h);
        r = chan(s[0], s[1], array<f32, 9>(bw[0].x, bw[8].x, bw[16].x, bw[24].x, bw[32].x, bw[40].x, bw[48].x, bw[56].x, bw[64].x), w0, w1, w2); s[0] = r[0]; s[1] = r[1];
        r = chan(s[2], s[3], array<f32, 9>(bw[0].y, bw[8].y, bw[16].y, bw[24].y, bw[32].y, bw[40].y, bw[48].y, bw[56].y, bw[64].y), w0, w1, w2); s[2] = r[0]; s[3] = r[1];
        r = chan(s[4], s[5], array<f32, 9>(bw[0].z, bw[8].z, bw[16].z, bw[24].z, bw[32].z, bw[40].z, bw[48].z, bw[56].z, bw[64].z), w0, w1, w2); s[4] = r[0]; s[5] = r[1];
        r = chan(s[6], s[7], array<f32, 9>(bw[0].w, bw[8].w, bw[16].w, bw[24].w, bw[32].w, bw[40].w, bw[48].w, bw[56].w, bw[64].w), w0, w1, w2); s[6] = r[0]; s[7] = r[1];
        r = chan(s[8], s[9], array<f32, 9>(bw[1].x, bw[9].x, bw[17].x, bw[25].x, bw[33].x, bw[41].x, bw[49].x, bw[57].x, bw[65].x), w0, w1, w2); s[8] = r[0]; s[9] = r[1];
        r = chan(s[10], s[11], array<f32, 9>(bw[1].y, bw[9].y, bw[17].y, bw[25].y, bw[33].y, bw[41].y, bw[49].y, bw[57].y, bw[65].y), w0, w1, w2); s[10] = r[0]; s[11] = r[1];
        r = chan(s[12], s[13], array<f32, 9>(bw[1].z, bw[9].z, bw[17].z, bw[25].z, bw[33].z, bw[41].z, bw[49].z, bw[57].z, bw[65].z), w0, w1, w2); s[12] = r[0]; s[13] = r[1];
        r = chan(s[14], s[15], array<f32, 9>(bw[1].w, bw[9].w, bw[17].w, bw[25].w, bw[33].w, bw[41].w, bw[49].w, bw[57].w, bw[65].w), w0, w1, w2); s[14] = r[0]; s[15] = r[1];
        r = chan(s[16], s[17], array<f32, 9>(bw[2].x, bw[10].x, bw[18].x, bw[26].x, bw[34].x, bw[42].x, bw[50].x, bw[58].x, bw[66].x), w0, w1, w2); s[16] = r[0]; s[17] = r[1];
        r = chan(s[18], s[19], array<f32, 9>(bw[2].y, bw[10].y, bw[18].y, bw[26].y, bw[34].y, bw[42].y, bw[50].y, bw[58].y, bw[66].y), w0, w1, w2); s[18] = r[0]; s[19] = r[1];
        r = chan(s[20], s[21], array<f32, 9>(bw[2].z, bw[10].z, bw[18].z, bw[26].z, bw[34].z, bw[42].z, bw[50].z, bw[58].z, bw[66].z), w0, w1, w2); s[20] = r[0]; s[21] = r[1];
        r = chan(s[22], s[23], array<f32, 9>(bw[2].w, bw[10].w, bw[18].w, bw[26].w, bw[34].w, bw[42].w, bw[50].w, bw[58].w, bw[66].w), w0, w1, w2); s[22] = r[0]; s[23] = r[1];
        r = chan(s[24], s[25], array<f32, 9>(bw[3].x, bw[11].x, bw[19].x, bw[27].x, bw[35].x, bw[43].x, bw[51].x, bw[59].x, bw[67].x), w0, w1, w2); s[24] = r[0]; s[25] = r[1];
        r = chan(s[26], s[27], array<f32, 9>(bw[3].y, bw[11].y, bw[19].y, bw[27].y, bw[35].y, bw[43].y, bw[51].y, bw[59].y, bw[67].y), w0, w1, w2); s[26] = r[0]; s[27] = r[1];
        r = chan(s[28], s[29], array<f32, 9>(bw[3].z, bw[11].z, bw[19].z, bw[27].z, bw[35].z, bw[43].z, bw[51].z, bw[59].z, bw[67].z), w0, w1, w2); s[28] = r[0]; s[29] = r[1];
        r = chan(s[30], s[31], array<f32, 9>(bw[3].w, bw[11].w, bw[19].w, bw[27].w, bw[35].w, bw[43].w, bw[51].w, bw[59].w, bw[67].w), w0, w1, w2); s[30] = r[0]; s[31] = r[1];
        r = chan(s[32], s[33], array<f32, 9>(bw[4].x, bw[12].x, bw[20].x, bw[28].x, bw[36].x, bw[44].x, bw[52].x, bw[60].x, bw[68].x), w0, w1, w2); s[32] = r[0]; s[33] = r[1];
        r = chan(s[34], s[35], array<f32, 9>(bw[4].y, bw[12].y, bw[20].y, bw[28].y, bw[36].y, bw[44].y, bw[52].y, bw[60].y, bw[68].y), w0, w1, w2); s[34] = r[0]; s[35] = r[1];
        r = chan(s[36], s[37], array<f32, 9>(bw[4].z, bw[12].z, bw[20].z, bw[28].z, bw[36].z, bw[44].z, bw[52].z, bw[60].z, bw[68].z), w0, w1, w2); s[36] = r[0]; s[37] = r[1];
        r = chan(s[38], s[39], array<f32, 9>(bw[4].w, bw[12].w, bw[20].w, bw[28].w, bw[36].w, bw[44].w, bw[52].w, bw[60].w, bw[68].w), w0, w1, w2); s[38] = r[0]; s[39] = r[1];
        r = chan(s[40], s[41], array<f32, 9>(bw[5].x, bw[13].x, bw[21].x, bw[29].x, bw[37].x, bw[45].x, bw[53].x, bw[61].x, bw[69].x), w0, w1, w2); s[40] = r[0]; s[41] = r[1];
        r = chan(s[42], s[43], array<f32, 9>(bw[5].y, bw[13].y, bw[21].y, bw[29].y, bw[37].y, bw[45].y, bw[53].y, bw[61].y, bw[69].y), w0, w1, w2); s[42] = r[0]; s[43] = r[1];
        r = chan(s[44], s[45], array<f32, 9>(bw[5].z, bw[13].z, bw[21].z, bw[29].z, bw[37].z, bw[45].z, bw[53].z, bw[61].z, bw[69].z), w0, w1, w2); s[44] = r[0]; s[45] = r[1];
        r = chan(s[46], s[47], array<f32, 9>(bw[5].w, bw[13].w, bw[21].w, bw[29].w, bw[37].w, bw[45].w, bw[53].w, bw[61].w, bw[69].w), w0, w1, w2); s[46] = r[0]; s[47] = r[1];
        r = chan(s[48], s[49], array<f32, 9>(bw[6].x, bw[14].x, bw[22].x, bw[30].x, bw[38].x, bw[46].x, bw[54].x, bw[62].x, bw[70].x), w0, w1, w2); s[48] = r[0]; s[49] = r[1];
        r = chan(s[50], s[51], array<f32, 9>(bw[6].y, bw[14].y, bw[22].y, bw[30].y, bw[38].y, bw[46].y, bw[54].y, bw[62].y, bw[70].y), w0, w1, w2); s[50] = r[0]; s[51] = r[1];
        r = chan(s[52], s[53], array<f32, 9>(bw[6].z, bw[14].z, bw[22].z, bw[30].z, bw[38].z, bw[46].z, bw[54].z, bw[62].z, bw[70].z), w0, w1, w2); s[52] = r[0]; s[53] = r[1];
        r = chan(s[54], s[55], array<f32, 9>(bw[6].w, bw[14].w, bw[22].w, bw[30].w, bw[38].w, bw[46].w, bw[54].w, bw[62].w, bw[70].w), w0, w1, w2); s[54] = r[0]; s[55] = r[1];
        r = chan(s[56], s[57], array<f32, 9>(bw[7].x, bw[15].x, bw[23].x, bw[31].x, bw[39].x, bw[47].x, bw[55].x, bw[63].x, bw[71].x), w0, w1, w2); s[56] = r[0]; s[57] = r[1];
        r = chan(s[58], s[59], array<f32, 9>(bw[7].y, bw[15].y, bw[23].y, bw[31].y, bw[39].y, bw[47].y, bw[55].y, bw[63].y, bw[71].y), w0, w1, w2); s[58] = r[0]; s[59] = r[1];
        r = chan(s[60], s[61], array<f32, 9>(bw[7].z, bw[15].z, bw[23].z, bw[31].z, bw[39].z, bw[47].z, bw[55].z, bw[63].z, bw[71].z), w0, w1, w2); s[60] = r[0]; s[61] = r[1];
        r = chan(s[62], s[63], array<f32, 9>(bw[7].w, bw[15].w, bw[23].w, bw[31].w, bw[39].w, bw[47].w, bw[55].w, bw[63].w, bw[71].w), w0, w1, w2); s[62] = r[0]; s[63] = r[1];
    }
    if (!live) { return; }
    let plane = p.h * p.w;
    let ob = (nn * p.o + o0) * plane + y * p.w;
    store8(o0, ob, x0, s[0], s[1]);
    store8(o0 + 1u, ob + 1u * plane, x0, s[2], s[3]);
    store8(o0 + 2u, ob + 2u * plane, x0, s[4], s[5]);
    store8(o0 + 3u, ob + 3u * plane, x0, s[6], s[7]);
    store8(o0 + 4u, ob + 4u * plane, x0, s[8], s[9]);
    store8(o0 + 5u, ob + 5u * plane, x0, s[10], s[11]);
    store8(o0 + 6u, ob + 6u * plane, x0, s[12], s[13]);
    store8(o0 + 7u, ob + 7u * plane, x0, s[14], s[15]);
    store8(o0 + 8u, ob + 8u * plane, x0, s[16], s[17]);
    store8(o0 + 9u, ob + 9u * plane, x0, s[18], s[19]);
    store8(o0 + 10u, ob + 10u * plane, x0, s[20], s[21]);
    store8(o0 + 11u, ob + 11u * plane, x0, s[22], s[23]);
    store8(o0 + 12u, ob + 12u * plane, x0, s[24], s[25]);
    store8(o0 + 13u, ob + 13u * plane, x0, s[26], s[27]);
    store8(o0 + 14u, ob + 14u * plane, x0, s[28], s[29]);
    store8(o0 + 15u, ob + 15u * plane, x0, s[30], s[31]);
    store8(o0 + 16u, ob + 16u * plane, x0, s[32], s[33]);
    store8(o0 + 17u, ob + 17u * plane, x0, s[34], s[35]);
    store8(o0 + 18u, ob + 18u * plane, x0, s[36], s[37]);
    store8(o0 + 19u, ob + 19u * plane, x0, s[38], s[39]);
    store8(o0 + 20u, ob + 20u * plane, x0, s[40], s[41]);
    store8(o0 + 21u, ob + 21u * plane, x0, s[42], s[43]);
    store8(o0 + 22u, ob + 22u * plane, x0, s[44], s[45]);
    store8(o0 + 23u, ob + 23u * plane, x0, s[46], s[47]);
    store8(o0 + 24u, ob + 24u * plane, x0, s[48], s[49]);
    store8(o0 + 25u, ob + 25u * plane, x0, s[50], s[51]);
    store8(o0 + 26u, ob + 26u * plane, x0, s[52], s[53]);
    store8(o0 + 27u, ob + 27u * plane, x0, s[54], s[55]);
    store8(o0 + 28u, ob + 28u * plane, x0, s[56], s[57]);
    store8(o0 + 29u, ob + 29u * plane, x0, s[58], s[59]);
    store8(o0 + 30u, ob + 30u * plane, x0, s[60], s[61]);
    store8(o0 + 31u, ob + 31u * plane, x0, s[62], s[63]);
}

