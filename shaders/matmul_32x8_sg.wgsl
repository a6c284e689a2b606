// C = op(A) op(B) for lavapipe: each lane owns a 32-row x 8-column block of C, and the A values a
// k-step needs are shared across the 8-lane subgroup with `subgroupBroadcast` (needs the SUBGROUP
// feature and subgroups of exactly 8 invocations: on lavapipe a subgroup is one 256-bit SIMD
// vector and every storage load a loop over its lanes). Why 32 x 8: load cost dominates there,
// so what counts is multiply-adds per load. Per 4 k-steps a lane loads 4 vec4 of A (one per
// 8-row group, handed round by broadcast) and 8 vec4 of B for 1,024 multiply-adds: 85 a load,
// against 28 for an unshared 8 x 8 block. Measured side by side on one machine (1024^3): 8 x 8
// shared 26, 16 x 4 shared 35, 32 x 4 47, 32 x 8 51 GFLOP/s; past 256 accumulators it falls back.
//
// A workgroup is 8 subgroups (1-D, 64 invocations: naga allows the subgroup builtins only
// there), `p.sg_rows` of them stacked along M and 8 / sg_rows along N, so the launcher can fit
// the tile (32 sg_rows x 512 / sg_rows) to the matrix. No invocation returns early (every lane
// takes part in the broadcasts): loads past the edges are clamped, only the stores are guarded.
// The contiguous axes a vec4 runs along must be multiples of 4 (K, and M when A is stored
// transposed, N when B is not). Entry points mm32_nn, mm32_tn, mm32_nt, mm32_tt (t = stored
// transposed: A as [K, M], B as [N, K]).

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
    // Subgroups of a workgroup stacked along M: 1, 2, 4 or 8.
    sg_rows: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// The lane's vec4 of the 8-row A block at rows r0..r0+8, k = 4 kc..4 kc+4. A [M, K]: row
// r0 + lane. A stored transposed [K, M]: k-row lane / 2, column half lane % 2.
fn a_part(base: u32, r0: u32, kc: u32, lane: u32, ta: bool) -> vec4<f32> {
    if (ta) {
        let mq = p.m / 4u;
        let q = min(r0 / 4u + (lane & 1u), mq - 1u);
        return a[base + (4u * kc + lane / 2u) * mq + q];
    }
    return a[base + min(r0 + lane, p.m - 1u) * (p.k / 4u) + kc];
}

// The 8 rows of the A block (ar[i] = A(r0 + i, 4 kc..4 kc + 4)) from the lanes' parts.
fn a_rows(v: vec4<f32>, ta: bool) -> array<vec4<f32>, 8> {
    let t0 = subgroupBroadcast(v, 0u);
    let t1 = subgroupBroadcast(v, 1u);
    let t2 = subgroupBroadcast(v, 2u);
    let t3 = subgroupBroadcast(v, 3u);
    let t4 = subgroupBroadcast(v, 4u);
    let t5 = subgroupBroadcast(v, 5u);
    let t6 = subgroupBroadcast(v, 6u);
    let t7 = subgroupBroadcast(v, 7u);
    if (ta) {
        // t(2j + h) = A(r0 + 4h .. r0 + 4h + 4, k = 4 kc + j): regroup into rows.
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

// B stored [K, N]: bk[2j + h] = B(4 kc + j, n0 + 4h .. n0 + 4h + 4).
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

// B stored transposed [N, K]: one vec4 along K per column, regrouped into b_rows' layout.
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

// s[2i + h] (row i, column half h of an 8-row group) += sum over j of ar[i][j] * bk[2j + h].
fn fma_row(s0: vec4<f32>, s1: vec4<f32>, av: vec4<f32>, bk: array<vec4<f32>, 8>) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(
        s0 + av.x * bk[0] + av.y * bk[2] + av.z * bk[4] + av.w * bk[6],
        s1 + av.x * bk[1] + av.y * bk[3] + av.z * bk[5] + av.w * bk[7],
    );
}

fn fma_group(s: array<vec4<f32>, 16>, ar: array<vec4<f32>, 8>, bk: array<vec4<f32>, 8>) -> array<vec4<f32>, 16> {
    let r0 = fma_row(s[0], s[1], ar[0], bk);
    let r1 = fma_row(s[2], s[3], ar[1], bk);
    let r2 = fma_row(s[4], s[5], ar[2], bk);
    let r3 = fma_row(s[6], s[7], ar[3], bk);
    let r4 = fma_row(s[8], s[9], ar[4], bk);
    let r5 = fma_row(s[10], s[11], ar[5], bk);
    let r6 = fma_row(s[12], s[13], ar[6], bk);
    let r7 = fma_row(s[14], s[15], ar[7], bk);
    return array<vec4<f32>, 16>(
        r0[0], r0[1], r1[0], r1[1], r2[0], r2[1], r3[0], r3[1],
        r4[0], r4[1], r5[0], r5[1], r6[0], r6[1], r7[0], r7[1],
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

// Constant indices only: a loop index into `s` would keep the accumulators in memory.
fn store_group(s: array<vec4<f32>, 16>, r0: u32, n0: u32, base: u32) {
    store_row(r0, n0, base, s[0], s[1]);
    store_row(r0 + 1u, n0, base, s[2], s[3]);
    store_row(r0 + 2u, n0, base, s[4], s[5]);
    store_row(r0 + 3u, n0, base, s[6], s[7]);
    store_row(r0 + 4u, n0, base, s[8], s[9]);
    store_row(r0 + 5u, n0, base, s[10], s[11]);
    store_row(r0 + 6u, n0, base, s[12], s[13]);
    store_row(r0 + 7u, n0, base, s[14], s[15]);
}

fn body(wg: vec3<u32>, li: u32, lane: u32, ta: bool, tb: bool) {
    let sg = li / 8u;
    let sm = p.sg_rows;
    let m0 = wg.y * 32u * sm + (sg % sm) * 32u;
    let n0 = wg.x * (512u / sm) + (sg / sm) * 64u + lane * 8u;
    let ab = wg.z * (p.a_batch / 4u);
    let bb = wg.z * (p.b_batch / 4u);
    var s0: array<vec4<f32>, 16>;
    var s1 = s0;
    var s2 = s0;
    var s3 = s0;
    for (var kc = 0u; kc < p.k / 4u; kc++) {
        var bk: array<vec4<f32>, 8>;
        if (tb) { bk = b_cols(bb, n0, kc); } else { bk = b_rows(bb, n0, kc); }
        s0 = fma_group(s0, a_rows(a_part(ab, m0, kc, lane, ta), ta), bk);
        s1 = fma_group(s1, a_rows(a_part(ab, m0 + 8u, kc, lane, ta), ta), bk);
        s2 = fma_group(s2, a_rows(a_part(ab, m0 + 16u, kc, lane, ta), ta), bk);
        s3 = fma_group(s3, a_rows(a_part(ab, m0 + 24u, kc, lane, ta), ta), bk);
    }
    if (n0 >= p.n || m0 >= p.m) { return; }
    let cb = wg.z * p.c_batch;
    store_group(s0, m0, n0, cb);
    store_group(s1, m0 + 8u, n0, cb);
    store_group(s2, m0 + 16u, n0, cb);
    store_group(s3, m0 + 24u, n0, cb);
}

@compute @workgroup_size(64)
fn mm32_nn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) { body(wg, li, lane, false, false); }
@compute @workgroup_size(64)
fn mm32_tn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) { body(wg, li, lane, true, false); }
@compute @workgroup_size(64)
fn mm32_nt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) { body(wg, li, lane, false, true); }
@compute @workgroup_size(64)
fn mm32_tt(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) { body(wg, li, lane, true, true); }
