// C = A B for A [M, K], B [K, N] (neither transposed, K % 4 == 0 and N % 4 == 0) with A shared
// across 8-lane subgroups like matmul_vec4_sg.wgsl, but each lane owns 16 rows x 4 columns of C
// instead of 8 x 8: the same 64 accumulators, half the B loads a k-step (one vec4 of B feeds 16
// multiply-adds instead of 8) for twice the broadcasts (register shuffles on llvmpipe, cheaper
// than its per-lane gathers). A subgroup covers 16 rows x 32 columns; a 64-invocation workgroup
// stacks 8 subgroups along M: a 128 x 32 tile (grid x: N / 32, y: M / 128, z: batch). No
// invocation returns early (every lane takes part in the broadcasts): loads past the edges are
// clamped, only the stores are guarded. Same `Params` as matmul_vec4.wgsl.

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
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

fn store4(row: u32, n0: u32, base: u32, v: vec4<f32>) {
    if (row >= p.m) { return; }
    let o = base + row * p.n + n0;
    if (n0 + 3u < p.n) {
        c[o] = v.x; c[o + 1u] = v.y; c[o + 2u] = v.z; c[o + 3u] = v.w;
        return;
    }
    let w = array<f32, 4>(v.x, v.y, v.z, v.w);
    for (var j = 0u; j < 4u; j++) {
        if (n0 + j < p.n) { c[o + j] = w[j]; }
    }
}

// acc += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3 (row of A at 4 k times the 4 B rows).
fn fma4(acc: vec4<f32>, av: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
    return acc + av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
}

@compute @workgroup_size(64)
fn mm16_nn(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let m0 = wg.y * 128u + (li / 8u) * 16u;
    let n0 = wg.x * 32u + lane * 4u;
    let ab = wg.z * (p.a_batch / 4u);
    let bb = wg.z * (p.b_batch / 4u);
    let kq = p.k / 4u;
    let nq = p.n / 4u;
    let mm = p.m - 1u;
    let qn = min(n0 / 4u, nq - 1u);
    let ra = ab + min(m0 + lane, mm) * kq;
    let rb = ab + min(m0 + 8u + lane, mm) * kq;
    var s: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i++) { s[i] = vec4<f32>(0.0); }
    for (var kc = 0u; kc < kq; kc++) {
        let va = a[ra + kc];
        let vb = a[rb + kc];
        let r = bb + 4u * kc * nq + qn;
        let b0 = b[r];
        let b1 = b[r + nq];
        let b2 = b[r + 2u * nq];
        let b3 = b[r + 3u * nq];
        s[0] = fma4(s[0], subgroupBroadcast(va, 0u), b0, b1, b2, b3);
        s[1] = fma4(s[1], subgroupBroadcast(va, 1u), b0, b1, b2, b3);
        s[2] = fma4(s[2], subgroupBroadcast(va, 2u), b0, b1, b2, b3);
        s[3] = fma4(s[3], subgroupBroadcast(va, 3u), b0, b1, b2, b3);
        s[4] = fma4(s[4], subgroupBroadcast(va, 4u), b0, b1, b2, b3);
        s[5] = fma4(s[5], subgroupBroadcast(va, 5u), b0, b1, b2, b3);
        s[6] = fma4(s[6], subgroupBroadcast(va, 6u), b0, b1, b2, b3);
        s[7] = fma4(s[7], subgroupBroadcast(va, 7u), b0, b1, b2, b3);
        s[8] = fma4(s[8], subgroupBroadcast(vb, 0u), b0, b1, b2, b3);
        s[9] = fma4(s[9], subgroupBroadcast(vb, 1u), b0, b1, b2, b3);
        s[10] = fma4(s[10], subgroupBroadcast(vb, 2u), b0, b1, b2, b3);
        s[11] = fma4(s[11], subgroupBroadcast(vb, 3u), b0, b1, b2, b3);
        s[12] = fma4(s[12], subgroupBroadcast(vb, 4u), b0, b1, b2, b3);
        s[13] = fma4(s[13], subgroupBroadcast(vb, 5u), b0, b1, b2, b3);
        s[14] = fma4(s[14], subgroupBroadcast(vb, 6u), b0, b1, b2, b3);
        s[15] = fma4(s[15], subgroupBroadcast(vb, 7u), b0, b1, b2, b3);
    }
    if (n0 >= p.n) { return; }
    let cb = wg.z * p.c_batch;
    for (var i = 0u; i < 16u; i++) {
        store4(m0 + i, n0, cb, s[i]);
    }
}
