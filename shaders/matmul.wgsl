// Matrix multiply C[b] = op(A[b]) op(B[b]) for f32, either operand transposed, optionally batched.
// Operands are addressed through element strides, so one kernel serves all four transpose cases:
// A(m, k) = a[a_off + m * a_sm + k * a_sk], B(k, n) = b[b_off + k * b_sk + n * b_sn].
// Two shapes: `matmul_rb` (register blocks, no workgroup memory: fast on lavapipe) and
// `matmul_tiled` (64x64 tiles staged through workgroup memory: fast on GPUs). Both cover a
// 64x64 block of C per workgroup, so they share the launch grid (x: N / 64, y: M / 64, z: batch).

struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    a_sm: u32,
    a_sk: u32,
    b_sk: u32,
    b_sn: u32,
    a_batch: u32,
    b_batch: u32,
    c_batch: u32,
    _pad: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// Stores one row of up to 8 outputs (two vec4 accumulators), skipping columns past N.
fn store_row(row: u32, n0: u32, base: u32, v0: vec4<f32>, v1: vec4<f32>) {
    if (row >= p.m) { return; }
    let o = base + row * p.n;
    let v = array<f32, 8>(v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w);
    for (var j = 0u; j < 8u; j++) {
        if (n0 + j < p.n) { c[o + n0 + j] = v[j]; }
    }
}

// Register-blocked: each invocation owns an 8x8 block of C held in 16 vec4 accumulators; rows and
// columns past the edge are clamped for loading (their results are never stored), so the K loop
// carries no bounds checks.
@compute @workgroup_size(8, 8)
fn matmul_rb(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n0 = gid.x * 8u;
    let m0 = gid.y * 8u;
    let bz = gid.z;
    if (m0 >= p.m || n0 >= p.n || bz >= p.batch) { return; }
    let ab = bz * p.a_batch;
    let bb = bz * p.b_batch;
    let mm = p.m - 1u;
    let nm = p.n - 1u;
    let r0 = ab + min(m0, mm) * p.a_sm;
    let r1 = ab + min(m0 + 1u, mm) * p.a_sm;
    let r2 = ab + min(m0 + 2u, mm) * p.a_sm;
    let r3 = ab + min(m0 + 3u, mm) * p.a_sm;
    let r4 = ab + min(m0 + 4u, mm) * p.a_sm;
    let r5 = ab + min(m0 + 5u, mm) * p.a_sm;
    let r6 = ab + min(m0 + 6u, mm) * p.a_sm;
    let r7 = ab + min(m0 + 7u, mm) * p.a_sm;
    let c0 = bb + min(n0, nm) * p.b_sn;
    let c1 = bb + min(n0 + 1u, nm) * p.b_sn;
    let c2 = bb + min(n0 + 2u, nm) * p.b_sn;
    let c3 = bb + min(n0 + 3u, nm) * p.b_sn;
    let c4 = bb + min(n0 + 4u, nm) * p.b_sn;
    let c5 = bb + min(n0 + 5u, nm) * p.b_sn;
    let c6 = bb + min(n0 + 6u, nm) * p.b_sn;
    let c7 = bb + min(n0 + 7u, nm) * p.b_sn;
    var s00 = vec4<f32>(0.0); var s01 = vec4<f32>(0.0);
    var s10 = vec4<f32>(0.0); var s11 = vec4<f32>(0.0);
    var s20 = vec4<f32>(0.0); var s21 = vec4<f32>(0.0);
    var s30 = vec4<f32>(0.0); var s31 = vec4<f32>(0.0);
    var s40 = vec4<f32>(0.0); var s41 = vec4<f32>(0.0);
    var s50 = vec4<f32>(0.0); var s51 = vec4<f32>(0.0);
    var s60 = vec4<f32>(0.0); var s61 = vec4<f32>(0.0);
    var s70 = vec4<f32>(0.0); var s71 = vec4<f32>(0.0);
    for (var k = 0u; k < p.k; k++) {
        let ka = k * p.a_sk;
        let kb = k * p.b_sk;
        let b0 = vec4<f32>(b[kb + c0], b[kb + c1], b[kb + c2], b[kb + c3]);
        let b1 = vec4<f32>(b[kb + c4], b[kb + c5], b[kb + c6], b[kb + c7]);
        let a0 = a[ka + r0]; s00 += a0 * b0; s01 += a0 * b1;
        let a1 = a[ka + r1]; s10 += a1 * b0; s11 += a1 * b1;
        let a2 = a[ka + r2]; s20 += a2 * b0; s21 += a2 * b1;
        let a3 = a[ka + r3]; s30 += a3 * b0; s31 += a3 * b1;
        let a4 = a[ka + r4]; s40 += a4 * b0; s41 += a4 * b1;
        let a5 = a[ka + r5]; s50 += a5 * b0; s51 += a5 * b1;
        let a6 = a[ka + r6]; s60 += a6 * b0; s61 += a6 * b1;
        let a7 = a[ka + r7]; s70 += a7 * b0; s71 += a7 * b1;
    }
    let cb = bz * p.c_batch;
    store_row(m0, n0, cb, s00, s01);
    store_row(m0 + 1u, n0, cb, s10, s11);
    store_row(m0 + 2u, n0, cb, s20, s21);
    store_row(m0 + 3u, n0, cb, s30, s31);
    store_row(m0 + 4u, n0, cb, s40, s41);
    store_row(m0 + 5u, n0, cb, s50, s51);
    store_row(m0 + 6u, n0, cb, s60, s61);
    store_row(m0 + 7u, n0, cb, s70, s71);
}

// Workgroup-tiled: a 64x64 block of C per 16x16 workgroup, K in slices of 16 staged through
// workgroup memory; each invocation owns rows ty + 16 i and columns tx + 16 j (i, j < 4).
const TB: u32 = 64u;
const TK: u32 = 16u;
var<workgroup> tile_a: array<f32, 1024>; // [TK][TB]: tile_a[k * TB + m]
var<workgroup> tile_b: array<f32, 1024>; // [TK][TB]: tile_b[k * TB + n]

@compute @workgroup_size(16, 16)
fn matmul_tiled(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let n0 = wg.x * TB;
    let m0 = wg.y * TB;
    let bz = wg.z;
    let ab = bz * p.a_batch;
    let bb = bz * p.b_batch;
    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }
    for (var k0 = 0u; k0 < p.k; k0 += TK) {
        for (var r = 0u; r < 4u; r++) {
            let idx = li + 256u * r;
            let kk = idx / TB;
            let xx = idx % TB;
            let gk = k0 + kk;
            let gm = m0 + xx;
            let gn = n0 + xx;
            let ok = gk < p.k;
            let av = a[ab + min(gm, p.m - 1u) * p.a_sm + min(gk, p.k - 1u) * p.a_sk];
            let bv = b[bb + min(gk, p.k - 1u) * p.b_sk + min(gn, p.n - 1u) * p.b_sn];
            tile_a[idx] = select(0.0, av, ok && gm < p.m);
            tile_b[idx] = select(0.0, bv, ok && gn < p.n);
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
    if (bz >= p.batch) { return; }
    let cb = bz * p.c_batch;
    for (var i = 0u; i < 4u; i++) {
        let row = m0 + lid.y + 16u * i;
        if (row >= p.m) { continue; }
        for (var j = 0u; j < 4u; j++) {
            let col = n0 + lid.x + 16u * j;
            if (col < p.n) { c[cb + row * p.n + col] = acc[i][j]; }
        }
    }
}
