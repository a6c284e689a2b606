// Backward-weight for the 3x3 / stride 1 / pad 1 fast path on rows a multiple of 4 wide
// (register-blocked variant, lavapipe): dw[o, c, ky, kx] = sum over (n, y, x) of dy[n, o, y, x] *
// x[n, c, y + ky - 1, x + kx - 1]. Pixels run along vec4, so every load is a vec4: an invocation
// owns 8 output channels x 1 input channel x all 9 taps (72 scalar sums), and per 8 pixels of a
// row it loads 2 vec4 of dy per output channel (16) and, per kernel row, 4 aligned vec4 of the
// input row (12), building the three shifted windows by swizzles as the forward pass does:
// 28 gathers per 576 multiply-adds, against 16 per 64 in the scalar 8x8 kernel.
// All invocations walk the same pixels, so the padding branches are uniform across SIMD lanes.
// gid.x: (output-channel block, input channel), c fastest; gid.z: the chunk of input rows.

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
    let qm = xrow4(base, qi - 1);
    let qa = x[base + q0];
    let qb = xrow4(base, qi + 1);
    let qc = xrow4(base, qi + 2);
    // kx = 0: columns x0 - 1 .. x0 + 6; kx = 1: x0 .. x0 + 7; kx = 2: x0 + 1 .. x0 + 8.
    tap(s, t0, d, vec4<f32>(qm.w, qa.xyz), vec4<f32>(qa.w, qb.xyz));
    tap(s, t0 + 1u, d, qa, qb);
    tap(s, t0 + 2u, d, vec4<f32>(qa.yzw, qb.x), vec4<f32>(qb.yzw, qc.x));
}

fn store9(base: u32, o: u32, c: u32, t: u32, v: vec4<f32>) {
    let kk = 9u;
    if (o < p.o) { out[base + (o * p.c + c) * kk + t] = v.x; }
    if (o + 1u < p.o) { out[base + ((o + 1u) * p.c + c) * kk + t] = v.y; }
    if (o + 2u < p.o) { out[base + ((o + 2u) * p.c + c) * kk + t] = v.z; }
    if (o + 3u < p.o) { out[base + ((o + 3u) * p.c + c) * kk + t] = v.w; }
}

@compute @workgroup_size(32)
fn wgrad3x3(@builtin(global_invocation_id) gid: vec3<u32>) {
    let obn = (p.o + 7u) / 8u;
    if (gid.x >= obn * p.c) { return; }
    let c = gid.x % p.c;
    let o0 = (gid.x / p.c) * 8u;
    let wq = p.w / 4u;
    let plane = p.h * wq;
    let om = p.o - 1u;
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
            for (var q0 = 0u; q0 < wq; q0 += 2u) {
                // dy of the 8 output channels (clamped past O: loaded, never stored) at 8 pixels.
                for (var j = 0u; j < 8u; j++) {
                    let r = db + (min(o0 + j, om) * p.h + y) * wq;
                    d[2u * j] = dy[r + q0];
                    d[2u * j + 1u] = dyrow4(r, q0 + 1u);
                }
                // Kernel rows written out (not a loop) so every accumulator index is a constant.
                if (y > 0u) { krow(&s, 0u, &d, xb + (y - 1u) * wq, q0); }
                krow(&s, 3u, &d, xb + y * wq, q0);
                if (y + 1u < p.h) { krow(&s, 6u, &d, xb + (y + 1u) * wq, q0); }
            }
        }
    }
    let base = gid.z * p.o * p.c * 9u;
    for (var t = 0u; t < 9u; t++) {
        store9(base, o0, c, t, s[2u * t]);
        store9(base, o0 + 4u, c, t, s[2u * t + 1u]);
    }
}
