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
