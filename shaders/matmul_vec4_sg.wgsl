// matmul_vec4.wgsl with the A operand shared across the subgroup (needs the SUBGROUP feature and
// subgroups of exactly 8 invocations: lavapipe, where a subgroup is one 256-bit SIMD vector and
// every storage load a per-lane gather). The 8 lanes of a subgroup own the same 8 rows of C and
// 8 different column blocks, so the 8 x 4 block of A a step needs is the same for all of them:
// each lane loads one vec4 of it and `subgroupBroadcast` hands it to the others (register
// shuffles). Per 4 k-steps a lane issues 9 vec4 loads instead of 16 for its 256 multiply-adds.
// Workgroups are 1-D (64 = 8 subgroups) because naga allows the subgroup builtins only there;
// invocation li owns column block li % 8 and row block li / 8 of the 64 x 64 workgroup tile, so
// the launch grid is matmul_vec4.wgsl's. No invocation returns early: every lane must take part
// in the broadcasts, so loads past the edges are clamped and only the stores are guarded.
// Entry points `mm4sg_tn`, `mm4sg_nt`, `mm4sg_tt` (t = stored transposed); neither transposed
// runs matmul_16x4_sg.wgsl (16 x 4 a lane, half the B loads).

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

struct Acc {
    s: array<vec4<f32>, 16>,
};

// B stored [K, N]: two vec4 along N per k.
fn b_rows(base: u32, n0: u32, kc: u32) -> array<vec4<f32>, 8> {
    let nq = p.n / 4u;
    let q0 = min(n0 / 4u, nq - 1u);
    let q1 = min(n0 / 4u + 1u, nq - 1u);
    let r = base + 4u * kc * nq;
    return array<vec4<f32>, 8>(
        b[r + q0], b[r + q1],
        b[r + nq + q0], b[r + nq + q1],
        b[r + 2u * nq + q0], b[r + 2u * nq + q1],
        b[r + 3u * nq + q0], b[r + 3u * nq + q1],
    );
}

// B stored transposed [N, K]: one vec4 along K per column, regrouped.
fn b_cols(base: u32, n0: u32, kc: u32) -> array<vec4<f32>, 8> {
    let kq = p.k / 4u;
    let nm = p.n - 1u;
    let t0 = b[base + min(n0, nm) * kq + kc];
    let t1 = b[base + min(n0 + 1u, nm) * kq + kc];
    let t2 = b[base + min(n0 + 2u, nm) * kq + kc];
    let t3 = b[base + min(n0 + 3u, nm) * kq + kc];
    let t4 = b[base + min(n0 + 4u, nm) * kq + kc];
    let t5 = b[base + min(n0 + 5u, nm) * kq + kc];
    let t6 = b[base + min(n0 + 6u, nm) * kq + kc];
    let t7 = b[base + min(n0 + 7u, nm) * kq + kc];
    return array<vec4<f32>, 8>(
        vec4<f32>(t0.x, t1.x, t2.x, t3.x), vec4<f32>(t4.x, t5.x, t6.x, t7.x),
        vec4<f32>(t0.y, t1.y, t2.y, t3.y), vec4<f32>(t4.y, t5.y, t6.y, t7.y),
        vec4<f32>(t0.z, t1.z, t2.z, t3.z), vec4<f32>(t4.z, t5.z, t6.z, t7.z),
        vec4<f32>(t0.w, t1.w, t2.w, t3.w), vec4<f32>(t4.w, t5.w, t6.w, t7.w),
    );
}

// acc row i (two vec4 over the 8 columns) += sum over kk of ar[i][kk] * bk[kk].
fn fma_row(s0: vec4<f32>, s1: vec4<f32>, av: vec4<f32>, bk: array<vec4<f32>, 8>) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(
        s0 + av.x * bk[0] + av.y * bk[2] + av.z * bk[4] + av.w * bk[6],
        s1 + av.x * bk[1] + av.y * bk[3] + av.z * bk[5] + av.w * bk[7],
    );
}

fn store_row(row: u32, n0: u32, base: u32, v0: vec4<f32>, v1: vec4<f32>) {
    if (row >= p.m) { return; }
    let o = base + row * p.n;
    let v = array<f32, 8>(v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w);
    for (var j = 0u; j < 8u; j++) {
        if (n0 + j < p.n) { c[o + n0 + j] = v[j]; }
    }
}

// The lane's vec4 of the A block (rows m0..m0+8, k = 4 kc..4 kc+4). A [M, K]: row m0 + lane.
// A stored transposed [K, M]: k-row lane / 2, column half lane % 2.
fn a_part(base: u32, m0: u32, kc: u32, lane: u32, ta: bool) -> vec4<f32> {
    if (ta) {
        let mq = p.m / 4u;
        let q = min(m0 / 4u + (lane & 1u), mq - 1u);
        return a[base + (4u * kc + lane / 2u) * mq + q];
    }
    return a[base + min(m0 + lane, p.m - 1u) * (p.k / 4u) + kc];
}

// The 8 rows of the A block (ar[i] = A(m0 + i, 4 kc..4 kc + 4)) from the lanes' parts.
fn a_block(v: vec4<f32>, ta: bool) -> array<vec4<f32>, 8> {
    let t0 = subgroupBroadcast(v, 0u);
    let t1 = subgroupBroadcast(v, 1u);
    let t2 = subgroupBroadcast(v, 2u);
    let t3 = subgroupBroadcast(v, 3u);
    let t4 = subgroupBroadcast(v, 4u);
    let t5 = subgroupBroadcast(v, 5u);
    let t6 = subgroupBroadcast(v, 6u);
    let t7 = subgroupBroadcast(v, 7u);
    if (ta) {
        // t(2j + h) = A(m0 + 4h .. m0 + 4h + 4, k = 4 kc + j): regroup into rows.
        return array<vec4<f32>, 8>(
            vec4<f32>(t0.x, t2.x, t4.x, t6.x),
            vec4<f32>(t0.y, t2.y, t4.y, t6.y),
            vec4<f32>(t0.z, t2.z, t4.z, t6.z),
            vec4<f32>(t0.w, t2.w, t4.w, t6.w),
            vec4<f32>(t1.x, t3.x, t5.x, t7.x),
            vec4<f32>(t1.y, t3.y, t5.y, t7.y),
            vec4<f32>(t1.z, t3.z, t5.z, t7.z),
            vec4<f32>(t1.w, t3.w, t5.w, t7.w),
        );
    }
    return array<vec4<f32>, 8>(t0, t1, t2, t3, t4, t5, t6, t7);
}

fn body(wg: vec3<u32>, li: u32, lane: u32, ta: bool, tb: bool) {
    let n0 = (wg.x * 8u + li % 8u) * 8u;
    let m0 = (wg.y * 8u + li / 8u) * 8u;
    let bz = wg.z;
    let ab = bz * (p.a_batch / 4u);
    let bb = bz * (p.b_batch / 4u);
    var s0 = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
    var s1 = s0; var s2 = s0; var s3 = s0; var s4 = s0; var s5 = s0; var s6 = s0; var s7 = s0;
    let kq = p.k / 4u;
    for (var kc = 0u; kc < kq; kc++) {
        let ar = a_block(a_part(ab, m0, kc, lane, ta), ta);
        var bk: array<vec4<f32>, 8>;
        if (tb) { bk = b_cols(bb, n0, kc); } else { bk = b_rows(bb, n0, kc); }
        s0 = fma_row(s0[0], s0[1], ar[0], bk);
        s1 = fma_row(s1[0], s1[1], ar[1], bk);
        s2 = fma_row(s2[0], s2[1], ar[2], bk);
        s3 = fma_row(s3[0], s3[1], ar[3], bk);
        s4 = fma_row(s4[0], s4[1], ar[4], bk);
        s5 = fma_row(s5[0], s5[1], ar[5], bk);
        s6 = fma_row(s6[0], s6[1], ar[6], bk);
        s7 = fma_row(s7[0], s7[1], ar[7], bk);
    }
    if (n0 >= p.n || m0 >= p.m) { return; }
    let cb = bz * p.c_batch;
    store_row(m0, n0, cb, s0[0], s0[1]);
    store_row(m0 + 1u, n0, cb, s1[0], s1[1]);
    store_row(m0 + 2u, n0, cb, s2[0], s2[1]);
    store_row(m0 + 3u, n0, cb, s3[0], s3[1]);
    store_row(m0 + 4u, n0, cb, s4[0], s4[1]);
    store_row(m0 + 5u, n0, cb, s5[0], s5[1]);
    store_row(m0 + 6u, n0, cb, s6[0], s6[1]);
    store_row(m0 + 7u, n0, cb, s7[0], s7[1]);
}

@compute @workgroup_size(64)
fn mm4sg_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) { body(wg, li, lane, true, false); }
@compute @workgroup_size(64)
fn mm4sg_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) { body(wg, li, lane, false, true); }
@compute @workgroup_size(64)
fn mm4sg_tt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) { body(wg, li, lane, true, true); }
