// Register-blocked matmul with vec4 loads straight from storage (the fast shape on lavapipe, where
// every load is a per-lane gather and fewer, wider loads cost much less). Same `Params` and launch
// grid as matmul.wgsl (x: N / 64, y: M / 64, z: batch; 8x8 invocations of 8x8 outputs each), but
// operands are bound as arrays of vec4, so the launcher uses it only when every vec4 is aligned:
// K % 4 == 0, M % 4 == 0 when A is transposed, N % 4 == 0 when B is not.
// One entry point per transpose case: `mm4_nn`, `mm4_tn`, `mm4_nt`, `mm4_tt` (t = stored transposed).
// Per step of 4 k, A gives ar[i] = A(m0 + i, k..k+4) and B gives bk[2 kk + h] = B(k + kk, n0 + 4h..+4).

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

// A stored [M, K]: one vec4 along K per row (rows past M clamped: loaded, never stored).
fn a_rows(base: u32, m0: u32, kc: u32) -> array<vec4<f32>, 8> {
    let kq = p.k / 4u;
    let mm = p.m - 1u;
    return array<vec4<f32>, 8>(
        a[base + min(m0, mm) * kq + kc],
        a[base + min(m0 + 1u, mm) * kq + kc],
        a[base + min(m0 + 2u, mm) * kq + kc],
        a[base + min(m0 + 3u, mm) * kq + kc],
        a[base + min(m0 + 4u, mm) * kq + kc],
        a[base + min(m0 + 5u, mm) * kq + kc],
        a[base + min(m0 + 6u, mm) * kq + kc],
        a[base + min(m0 + 7u, mm) * kq + kc],
    );
}

// A stored transposed [K, M]: two vec4 along M per k, regrouped into rows (free in SoA registers).
fn a_cols(base: u32, m0: u32, kc: u32) -> array<vec4<f32>, 8> {
    let mq = p.m / 4u;
    let q0 = min(m0 / 4u, mq - 1u);
    let q1 = min(m0 / 4u + 1u, mq - 1u);
    let r = base + 4u * kc * mq;
    let c00 = a[r + q0]; let c01 = a[r + q1];
    let c10 = a[r + mq + q0]; let c11 = a[r + mq + q1];
    let c20 = a[r + 2u * mq + q0]; let c21 = a[r + 2u * mq + q1];
    let c30 = a[r + 3u * mq + q0]; let c31 = a[r + 3u * mq + q1];
    return array<vec4<f32>, 8>(
        vec4<f32>(c00.x, c10.x, c20.x, c30.x),
        vec4<f32>(c00.y, c10.y, c20.y, c30.y),
        vec4<f32>(c00.z, c10.z, c20.z, c30.z),
        vec4<f32>(c00.w, c10.w, c20.w, c30.w),
        vec4<f32>(c01.x, c11.x, c21.x, c31.x),
        vec4<f32>(c01.y, c11.y, c21.y, c31.y),
        vec4<f32>(c01.z, c11.z, c21.z, c31.z),
        vec4<f32>(c01.w, c11.w, c21.w, c31.w),
    );
}

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

// The shared body: `ta`/`tb` pick the operand loaders (uniform, hoisted out of the loop by the compiler).
fn body(gid: vec3<u32>, ta: bool, tb: bool) {
    let n0 = gid.x * 8u;
    let m0 = gid.y * 8u;
    let bz = gid.z;
    if (m0 >= p.m || n0 >= p.n || bz >= p.batch) { return; }
    let ab = bz * (p.a_batch / 4u);
    let bb = bz * (p.b_batch / 4u);
    var s0 = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
    var s1 = s0; var s2 = s0; var s3 = s0; var s4 = s0; var s5 = s0; var s6 = s0; var s7 = s0;
    let kq = p.k / 4u;
    for (var kc = 0u; kc < kq; kc++) {
        var ar: array<vec4<f32>, 8>;
        var bk: array<vec4<f32>, 8>;
        if (ta) { ar = a_cols(ab, m0, kc); } else { ar = a_rows(ab, m0, kc); }
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

@compute @workgroup_size(8, 8)
fn mm4_nn(@builtin(global_invocation_id) gid: vec3<u32>) { body(gid, false, false); }
@compute @workgroup_size(8, 8)
fn mm4_tn(@builtin(global_invocation_id) gid: vec3<u32>) { body(gid, true, false); }
@compute @workgroup_size(8, 8)
fn mm4_nt(@builtin(global_invocation_id) gid: vec3<u32>) { body(gid, false, true); }
@compute @workgroup_size(8, 8)
fn mm4_tt(@builtin(global_invocation_id) gid: vec3<u32>) { body(gid, true, true); }
