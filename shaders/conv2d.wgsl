// Conv2d (NCHW, weights [O, C, KH, KW], square stride and padding) as implicit GEMM: forward,
// backward-data (a transposed convolution) and backward-weight (input patches x output gradient).
// im2col coordinates are computed on the fly, zero where they fall in the padding.
//
// Bindings: t0 is the "patch" operand (x for forward and backward-weight, dy for backward-data),
// t1 the "row" operand (w for forward and backward-data, dy for backward-weight), bias is read
// by the forward epilogue only (flags bit 0 = add bias, bit 1 = ReLU), out is written.
//
// Two shapes: `*_rb` entry points hold 8x8 register blocks (no workgroup memory: lavapipe), and
// `conv_tiled` runs one 64x64-tile GEMM through workgroup memory for all three passes (`mode`).

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
    // Tiled GEMM view: mode 0 forward, 1 backward-data, 2 backward-weight; C[gm, gn] over gk.
    mode: u32,
    gm: u32,
    gn: u32,
    gk: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> t0: array<f32>;
@group(0) @binding(2) var<storage, read> t1: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// x value at (row base, column ix) or 0 when ix falls in the padding.
fn ld0(row: u32, ix: i32) -> f32 {
    let ok = ix >= 0 && ix < i32(p.w);
    return select(0.0, t0[row + u32(clamp(ix, 0, i32(p.w) - 1))], ok);
}

fn epilogue(v: vec4<f32>, o: u32) -> vec4<f32> {
    var r = v;
    if ((p.flags & 1u) != 0u) { r += vec4<f32>(bias[o]); }
    if ((p.flags & 2u) != 0u) { r = max(r, vec4<f32>(0.0)); }
    return r;
}

// Writes 8 consecutive values of one output row, skipping columns at or past `limit`.
fn store8(base: u32, x0: u32, limit: u32, v0: vec4<f32>, v1: vec4<f32>) {
    let v = array<f32, 8>(v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w);
    for (var j = 0u; j < 8u; j++) {
        if (x0 + j < limit) { out[base + x0 + j] = v[j]; }
    }
}

// Forward, register-blocked: an invocation computes 8 output channels x 8 consecutive output
// columns of one row. gid.x: (n, y, column block), gid.y: channel block.
@compute @workgroup_size(32)
fn fwd_rb(@builtin(global_invocation_id) gid: vec3<u32>) {
    let xbn = (p.ow + 7u) / 8u;
    let o0 = gid.y * 8u;
    if (gid.x >= p.n * p.oh * xbn || o0 >= p.o) { return; }
    let xb = gid.x % xbn;
    let t = gid.x / xbn;
    let y = t % p.oh;
    let nn = t / p.oh;
    let x0 = xb * 8u;
    let kk = p.kh * p.kw;
    let wo = p.c * kk;
    let om = p.o - 1u;
    let w0r = min(o0, om) * wo;
    let w1r = min(o0 + 1u, om) * wo;
    let w2r = min(o0 + 2u, om) * wo;
    let w3r = min(o0 + 3u, om) * wo;
    let w4r = min(o0 + 4u, om) * wo;
    let w5r = min(o0 + 5u, om) * wo;
    let w6r = min(o0 + 6u, om) * wo;
    let w7r = min(o0 + 7u, om) * wo;
    let s = i32(p.stride);
    let iy0 = i32(y) * s - i32(p.pad);
    let ix0 = i32(x0) * s - i32(p.pad);
    var s0a = vec4<f32>(0.0); var s0b = vec4<f32>(0.0);
    var s1a = vec4<f32>(0.0); var s1b = vec4<f32>(0.0);
    var s2a = vec4<f32>(0.0); var s2b = vec4<f32>(0.0);
    var s3a = vec4<f32>(0.0); var s3b = vec4<f32>(0.0);
    var s4a = vec4<f32>(0.0); var s4b = vec4<f32>(0.0);
    var s5a = vec4<f32>(0.0); var s5b = vec4<f32>(0.0);
    var s6a = vec4<f32>(0.0); var s6b = vec4<f32>(0.0);
    var s7a = vec4<f32>(0.0); var s7b = vec4<f32>(0.0);
    for (var c = 0u; c < p.c; c++) {
        let xc = (nn * p.c + c) * p.h;
        for (var ky = 0u; ky < p.kh; ky++) {
            let iy = iy0 + i32(ky);
            if (iy < 0 || iy >= i32(p.h)) { continue; }
            let row = (xc + u32(iy)) * p.w;
            let wk0 = c * kk + ky * p.kw;
            for (var kx = 0u; kx < p.kw; kx++) {
                let ix = ix0 + i32(kx);
                let xa = vec4<f32>(ld0(row, ix), ld0(row, ix + s), ld0(row, ix + 2 * s), ld0(row, ix + 3 * s));
                let xb = vec4<f32>(ld0(row, ix + 4 * s), ld0(row, ix + 5 * s), ld0(row, ix + 6 * s), ld0(row, ix + 7 * s));
                let wk = wk0 + kx;
                let a0 = t1[w0r + wk]; s0a += a0 * xa; s0b += a0 * xb;
                let a1 = t1[w1r + wk]; s1a += a1 * xa; s1b += a1 * xb;
                let a2 = t1[w2r + wk]; s2a += a2 * xa; s2b += a2 * xb;
                let a3 = t1[w3r + wk]; s3a += a3 * xa; s3b += a3 * xb;
                let a4 = t1[w4r + wk]; s4a += a4 * xa; s4b += a4 * xb;
                let a5 = t1[w5r + wk]; s5a += a5 * xa; s5b += a5 * xb;
                let a6 = t1[w6r + wk]; s6a += a6 * xa; s6b += a6 * xb;
                let a7 = t1[w7r + wk]; s7a += a7 * xa; s7b += a7 * xb;
            }
        }
    }
    let plane = p.oh * p.ow;
    let ob = (nn * p.o + o0) * plane + y * p.ow;
    store8(ob, x0, p.ow, epilogue(s0a, o0), epilogue(s0b, o0));
    if (o0 + 1u < p.o) { store8(ob + plane, x0, p.ow, epilogue(s1a, o0 + 1u), epilogue(s1b, o0 + 1u)); }
    if (o0 + 2u < p.o) { store8(ob + 2u * plane, x0, p.ow, epilogue(s2a, o0 + 2u), epilogue(s2b, o0 + 2u)); }
    if (o0 + 3u < p.o) { store8(ob + 3u * plane, x0, p.ow, epilogue(s3a, o0 + 3u), epilogue(s3b, o0 + 3u)); }
    if (o0 + 4u < p.o) { store8(ob + 4u * plane, x0, p.ow, epilogue(s4a, o0 + 4u), epilogue(s4b, o0 + 4u)); }
    if (o0 + 5u < p.o) { store8(ob + 5u * plane, x0, p.ow, epilogue(s5a, o0 + 5u), epilogue(s5b, o0 + 5u)); }
    if (o0 + 6u < p.o) { store8(ob + 6u * plane, x0, p.ow, epilogue(s6a, o0 + 6u), epilogue(s6b, o0 + 6u)); }
    if (o0 + 7u < p.o) { store8(ob + 7u * plane, x0, p.ow, epilogue(s7a, o0 + 7u), epilogue(s7b, o0 + 7u)); }
}

// dy value at (row base, numerator ox * stride) or 0 when that is not a whole in-range output column.
fn ld_dy(row: u32, num: i32) -> f32 {
    let s = i32(p.stride);
    let q = num / s;
    let ok = num >= 0 && q * s == num && q < i32(p.ow);
    return select(0.0, t0[row + u32(clamp(q, 0, i32(p.ow) - 1))], ok);
}

// Backward-data, register-blocked: dx[n, c, iy, ix] = sum over (o, ky, kx) of
// w[o, c, ky, kx] * dy[n, o, (iy + pad - ky) / s, (ix + pad - kx) / s] where those divide exactly.
// An invocation computes 8 input channels x 8 consecutive columns of one input row.
@compute @workgroup_size(32)
fn bwd_data_rb(@builtin(global_invocation_id) gid: vec3<u32>) {
    let xbn = (p.w + 7u) / 8u;
    let c0 = gid.y * 8u;
    if (gid.x >= p.n * p.h * xbn || c0 >= p.c) { return; }
    let xb = gid.x % xbn;
    let t = gid.x / xbn;
    let iy = t % p.h;
    let nn = t / p.h;
    let x0 = xb * 8u;
    let kk = p.kh * p.kw;
    let cm = p.c - 1u;
    let w0r = min(c0, cm) * kk;
    let w1r = min(c0 + 1u, cm) * kk;
    let w2r = min(c0 + 2u, cm) * kk;
    let w3r = min(c0 + 3u, cm) * kk;
    let w4r = min(c0 + 4u, cm) * kk;
    let w5r = min(c0 + 5u, cm) * kk;
    let w6r = min(c0 + 6u, cm) * kk;
    let w7r = min(c0 + 7u, cm) * kk;
    let s = i32(p.stride);
    let pad = i32(p.pad);
    let nx = i32(x0) + pad;
    var s0a = vec4<f32>(0.0); var s0b = vec4<f32>(0.0);
    var s1a = vec4<f32>(0.0); var s1b = vec4<f32>(0.0);
    var s2a = vec4<f32>(0.0); var s2b = vec4<f32>(0.0);
    var s3a = vec4<f32>(0.0); var s3b = vec4<f32>(0.0);
    var s4a = vec4<f32>(0.0); var s4b = vec4<f32>(0.0);
    var s5a = vec4<f32>(0.0); var s5b = vec4<f32>(0.0);
    var s6a = vec4<f32>(0.0); var s6b = vec4<f32>(0.0);
    var s7a = vec4<f32>(0.0); var s7b = vec4<f32>(0.0);
    for (var o = 0u; o < p.o; o++) {
        let dyo = (nn * p.o + o) * p.oh;
        let wo = o * p.c * kk;
        for (var ky = 0u; ky < p.kh; ky++) {
            let num = i32(iy) + pad - i32(ky);
            let oy = num / s;
            if (num < 0 || oy * s != num || oy >= i32(p.oh)) { continue; }
            let row = (dyo + u32(oy)) * p.ow;
            let wk0 = wo + ky * p.kw;
            for (var kx = 0u; kx < p.kw; kx++) {
                let q = nx - i32(kx);
                let xa = vec4<f32>(ld_dy(row, q), ld_dy(row, q + 1), ld_dy(row, q + 2), ld_dy(row, q + 3));
                let xb = vec4<f32>(ld_dy(row, q + 4), ld_dy(row, q + 5), ld_dy(row, q + 6), ld_dy(row, q + 7));
                let wk = wk0 + kx;
                let a0 = t1[w0r + wk]; s0a += a0 * xa; s0b += a0 * xb;
                let a1 = t1[w1r + wk]; s1a += a1 * xa; s1b += a1 * xb;
                let a2 = t1[w2r + wk]; s2a += a2 * xa; s2b += a2 * xb;
                let a3 = t1[w3r + wk]; s3a += a3 * xa; s3b += a3 * xb;
                let a4 = t1[w4r + wk]; s4a += a4 * xa; s4b += a4 * xb;
                let a5 = t1[w5r + wk]; s5a += a5 * xa; s5b += a5 * xb;
                let a6 = t1[w6r + wk]; s6a += a6 * xa; s6b += a6 * xb;
                let a7 = t1[w7r + wk]; s7a += a7 * xa; s7b += a7 * xb;
            }
        }
    }
    let plane = p.h * p.w;
    let ob = (nn * p.c + c0) * plane + iy * p.w;
    store8(ob, x0, p.w, s0a, s0b);
    if (c0 + 1u < p.c) { store8(ob + plane, x0, p.w, s1a, s1b); }
    if (c0 + 2u < p.c) { store8(ob + 2u * plane, x0, p.w, s2a, s2b); }
    if (c0 + 3u < p.c) { store8(ob + 3u * plane, x0, p.w, s3a, s3b); }
    if (c0 + 4u < p.c) { store8(ob + 4u * plane, x0, p.w, s4a, s4b); }
    if (c0 + 5u < p.c) { store8(ob + 5u * plane, x0, p.w, s5a, s5b); }
    if (c0 + 6u < p.c) { store8(ob + 6u * plane, x0, p.w, s6a, s6b); }
    if (c0 + 7u < p.c) { store8(ob + 7u * plane, x0, p.w, s7a, s7b); }
}

// First output index whose input coordinate (o * s - pad + k) is >= 0, and one past the last
// that stays < size.
fn out_range(k: u32, size: u32, osize: u32) -> vec2<u32> {
    let s = i32(p.stride);
    let off = i32(k) - i32(p.pad);
    let lo = max((-off + s - 1) / s, 0);
    let hi = min((i32(size) - 1 - off) / s + 1, i32(osize));
    return vec2<u32>(u32(lo), u32(max(hi, lo)));
}

// Backward-weight, register-blocked: dw[o, c, ky, kx] = sum over (n, y, x) of dy[n, o, y, x] *
// x[n, c, y s - pad + ky, x s - pad + kx]. An invocation computes 8 output channels x 8 input
// channels at one kernel position; the valid (y, x) range is computed up front, so the
// reduction loop has no padding checks. gid.x: (kernel position, input-channel block).
@compute @workgroup_size(8)
fn bwd_weight_rb(@builtin(global_invocation_id) gid: vec3<u32>) {
    let cbn = (p.c + 7u) / 8u;
    let kk = p.kh * p.kw;
    let o0 = gid.y * 8u;
    if (gid.x >= kk * cbn || o0 >= p.o) { return; }
    let c0 = (gid.x % cbn) * 8u;
    let kpos = gid.x / cbn;
    let ky = kpos / p.kw;
    let kx = kpos % p.kw;
    let yr = out_range(ky, p.h, p.oh);
    let xr = out_range(kx, p.w, p.ow);
    let hw = p.h * p.w;
    let ohw = p.oh * p.ow;
    let om = p.o - 1u;
    let cm = p.c - 1u;
    let d0 = min(o0, om) * ohw;
    let d1 = min(o0 + 1u, om) * ohw;
    let d2 = min(o0 + 2u, om) * ohw;
    let d3 = min(o0 + 3u, om) * ohw;
    let d4 = min(o0 + 4u, om) * ohw;
    let d5 = min(o0 + 5u, om) * ohw;
    let d6 = min(o0 + 6u, om) * ohw;
    let d7 = min(o0 + 7u, om) * ohw;
    let x0 = min(c0, cm) * hw;
    let x1 = min(c0 + 1u, cm) * hw;
    let x2 = min(c0 + 2u, cm) * hw;
    let x3 = min(c0 + 3u, cm) * hw;
    let x4 = min(c0 + 4u, cm) * hw;
    let x5 = min(c0 + 5u, cm) * hw;
    let x6 = min(c0 + 6u, cm) * hw;
    let x7 = min(c0 + 7u, cm) * hw;
    var s0a = vec4<f32>(0.0); var s0b = vec4<f32>(0.0);
    var s1a = vec4<f32>(0.0); var s1b = vec4<f32>(0.0);
    var s2a = vec4<f32>(0.0); var s2b = vec4<f32>(0.0);
    var s3a = vec4<f32>(0.0); var s3b = vec4<f32>(0.0);
    var s4a = vec4<f32>(0.0); var s4b = vec4<f32>(0.0);
    var s5a = vec4<f32>(0.0); var s5b = vec4<f32>(0.0);
    var s6a = vec4<f32>(0.0); var s6b = vec4<f32>(0.0);
    var s7a = vec4<f32>(0.0); var s7b = vec4<f32>(0.0);
    for (var nn = 0u; nn < p.n; nn++) {
        let dn = nn * p.o * ohw;
        let xn = nn * p.c * hw;
        for (var y = yr.x; y < yr.y; y++) {
            let iy = y * p.stride + ky - p.pad;
            for (var x = xr.x; x < xr.y; x++) {
                let ix = x * p.stride + kx - p.pad;
                let xi = xn + iy * p.w + ix;
                let va = vec4<f32>(t0[xi + x0], t0[xi + x1], t0[xi + x2], t0[xi + x3]);
                let vb = vec4<f32>(t0[xi + x4], t0[xi + x5], t0[xi + x6], t0[xi + x7]);
                let di = dn + y * p.ow + x;
                let a0 = t1[di + d0]; s0a += a0 * va; s0b += a0 * vb;
                let a1 = t1[di + d1]; s1a += a1 * va; s1b += a1 * vb;
                let a2 = t1[di + d2]; s2a += a2 * va; s2b += a2 * vb;
                let a3 = t1[di + d3]; s3a += a3 * va; s3b += a3 * vb;
                let a4 = t1[di + d4]; s4a += a4 * va; s4b += a4 * vb;
                let a5 = t1[di + d5]; s5a += a5 * va; s5b += a5 * vb;
                let a6 = t1[di + d6]; s6a += a6 * va; s6b += a6 * vb;
                let a7 = t1[di + d7]; s7a += a7 * va; s7b += a7 * vb;
            }
        }
    }
    // dw[o, c, ky, kx]: consecutive c are kk apart.
    store_w(o0, c0, kpos, s0a, s0b);
    store_w(o0 + 1u, c0, kpos, s1a, s1b);
    store_w(o0 + 2u, c0, kpos, s2a, s2b);
    store_w(o0 + 3u, c0, kpos, s3a, s3b);
    store_w(o0 + 4u, c0, kpos, s4a, s4b);
    store_w(o0 + 5u, c0, kpos, s5a, s5b);
    store_w(o0 + 6u, c0, kpos, s6a, s6b);
    store_w(o0 + 7u, c0, kpos, s7a, s7b);
}

fn store_w(o: u32, c0: u32, kpos: u32, v0: vec4<f32>, v1: vec4<f32>) {
    if (o >= p.o) { return; }
    let kk = p.kh * p.kw;
    let v = array<f32, 8>(v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w);
    for (var j = 0u; j < 8u; j++) {
        if (c0 + j < p.c) { out[(o * p.c + c0 + j) * kk + kpos] = v[j]; }
    }
}

// ---- Workgroup-tiled implicit GEMM shared by the three passes ----

// Row operand A(m, k); m < gm and k < gk.
fn tile_load_a(m: u32, k: u32) -> f32 {
    let kk = p.kh * p.kw;
    switch p.mode {
        case 0u: { return t1[m * p.gk + k]; }
        case 1u: { return t1[((k / kk) * p.c + m) * kk + k % kk]; }
        default: {
            let ohw = p.oh * p.ow;
            return t1[((k / ohw) * p.o + m) * ohw + k % ohw];
        }
    }
}

// Patch operand B(k, col); k < gk and col < gn.
fn tile_load_b(k: u32, col: u32) -> f32 {
    let kk = p.kh * p.kw;
    let s = i32(p.stride);
    let pad = i32(p.pad);
    switch p.mode {
        case 0u: {
            // k = (c, ky, kx), col = (n, y, x)
            let c = k / kk;
            let ky = (k % kk) / p.kw;
            let kx = k % p.kw;
            let x = col % p.ow;
            let y = (col / p.ow) % p.oh;
            let nn = col / (p.ow * p.oh);
            let iy = i32(y) * s - pad + i32(ky);
            let ix = i32(x) * s - pad + i32(kx);
            let ok = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
            let idx = ((nn * p.c + c) * p.h + u32(clamp(iy, 0, i32(p.h) - 1))) * p.w + u32(clamp(ix, 0, i32(p.w) - 1));
            return select(0.0, t0[idx], ok);
        }
        case 1u: {
            // k = (o, ky, kx), col = (n, iy, ix); reads dy
            let o = k / kk;
            let ky = (k % kk) / p.kw;
            let kx = k % p.kw;
            let ix = col % p.w;
            let iy = (col / p.w) % p.h;
            let nn = col / (p.w * p.h);
            let ny = i32(iy) + pad - i32(ky);
            let nx = i32(ix) + pad - i32(kx);
            let oy = ny / s;
            let ox = nx / s;
            let ok = ny >= 0 && nx >= 0 && oy * s == ny && ox * s == nx && oy < i32(p.oh) && ox < i32(p.ow);
            let idx = ((nn * p.o + o) * p.oh + u32(clamp(oy, 0, i32(p.oh) - 1))) * p.ow + u32(clamp(ox, 0, i32(p.ow) - 1));
            return select(0.0, t0[idx], ok);
        }
        default: {
            // k = (n, y, x), col = (c, ky, kx); reads x
            let c = col / kk;
            let ky = (col % kk) / p.kw;
            let kx = col % p.kw;
            let x = k % p.ow;
            let y = (k / p.ow) % p.oh;
            let nn = k / (p.ow * p.oh);
            let iy = i32(y) * s - pad + i32(ky);
            let ix = i32(x) * s - pad + i32(kx);
            let ok = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
            let idx = ((nn * p.c + c) * p.h + u32(clamp(iy, 0, i32(p.h) - 1))) * p.w + u32(clamp(ix, 0, i32(p.w) - 1));
            return select(0.0, t0[idx], ok);
        }
    }
}

fn tile_store(m: u32, col: u32, v: f32) {
    switch p.mode {
        case 0u: {
            let ohw = p.oh * p.ow;
            var r = v;
            if ((p.flags & 1u) != 0u) { r += bias[m]; }
            if ((p.flags & 2u) != 0u) { r = max(r, 0.0); }
            out[((col / ohw) * p.o + m) * ohw + col % ohw] = r;
        }
        case 1u: {
            let hw = p.h * p.w;
            out[((col / hw) * p.c + m) * hw + col % hw] = v;
        }
        default: { out[m * p.gn + col] = v; }
    }
}

const TB: u32 = 64u;
const TK: u32 = 16u;
var<workgroup> tile_a: array<f32, 1024>; // [TK][TB]
var<workgroup> tile_b: array<f32, 1024>; // [TK][TB]

// 64x64 block of the GEMM per 16x16 workgroup; invocation (tx, ty) owns rows ty + 16 i and
// columns tx + 16 j. gid.x: column tile (folded into y past 65,535), gid.y... see launcher.
@compute @workgroup_size(16, 16)
fn conv_tiled(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let n0 = wg.x * TB;
    let m0 = wg.y * TB;
    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }
    for (var k0 = 0u; k0 < p.gk; k0 += TK) {
        for (var r = 0u; r < 4u; r++) {
            let idx = li + 256u * r;
            let kk = k0 + idx / TB;
            let xx = idx % TB;
            var av = 0.0;
            var bv = 0.0;
            if (kk < p.gk && m0 + xx < p.gm) { av = tile_load_a(m0 + xx, kk); }
            if (kk < p.gk && n0 + xx < p.gn) { bv = tile_load_b(kk, n0 + xx); }
            tile_a[idx] = av;
            tile_b[idx] = bv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let bv = vec4<f32>(
                tile_b[kk * TB + lid.x],
                tile_b[kk * TB + lid.x + 16u],
                tile_b[kk * TB + lid.x + 32u],
                tile_b[kk * TB + lid.x + 48u],
            );
            for (var i = 0u; i < 4u; i++) {
                acc[i] += tile_a[kk * TB + lid.y + 16u * i] * bv;
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let row = m0 + lid.y + 16u * i;
        if (row >= p.gm) { continue; }
        for (var j = 0u; j < 4u; j++) {
            let col = n0 + lid.x + 16u * j;
            if (col < p.gn) { tile_store(row, col, acc[i][j]); }
        }
    }
}
