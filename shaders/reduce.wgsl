// Reductions along one axis of a tensor viewed as [outer, len, inner]: sum, max (mean = sum * scale),
// the per-channel sum over outer and inner (bias gradients), and whole-tensor sums (of the values or
// their squares) in one workgroup.
// Every output is computed by one thread in a fixed order (or a fixed tree), so results are
// deterministic: no atomics anywhere.

struct Params {
    outer: u32,
    len: u32,
    inner: u32,
    scale: f32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

fn linear(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// out[o, i] = scale * sum_k x[o, k, i]
@compute @workgroup_size(256)
fn sum_axis(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = linear(gid, nwg);
    if (idx >= p.outer * p.inner) { return; }
    let o = idx / p.inner;
    let i = idx % p.inner;
    var acc = 0.0;
    for (var k = 0u; k < p.len; k++) {
        acc += x[(o * p.len + k) * p.inner + i];
    }
    out[idx] = p.scale * acc;
}

// A quiet NaN built at run time (naga's constant evaluator refuses NaN constants).
fn nan_f32() -> f32 {
    return bitcast<f32>(0x7fc00000u | (p.len & 0u));
}

// NaN test on the bits: drivers may fold `v != v` to false.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// out[o, i] = max_k x[o, k, i]; NaN propagates explicitly (WGSL's max leaves NaN unspecified).
@compute @workgroup_size(256)
fn max_axis(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = linear(gid, nwg);
    if (idx >= p.outer * p.inner) { return; }
    let o = idx / p.inner;
    let i = idx % p.inner;
    var m = x[o * p.len * p.inner + i];
    var nan = is_nan(m);
    for (var k = 1u; k < p.len; k++) {
        let v = x[(o * p.len + k) * p.inner + i];
        nan = nan || is_nan(v);
        m = max(m, v);
    }
    out[idx] = select(m, nan_f32(), nan);
}

// out[c] = scale * sum_{o, i} x[o, c, i]: the gradient of a bias broadcast over outer and inner.
// Here `len` is the channel count.
@compute @workgroup_size(256)
fn channel_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = linear(gid, nwg);
    if (c >= p.len) { return; }
    var acc = 0.0;
    for (var o = 0u; o < p.outer; o++) {
        let base = (o * p.len + c) * p.inner;
        for (var i = 0u; i < p.inner; i++) {
            acc += x[base + i];
        }
    }
    out[c] = p.scale * acc;
}

var<workgroup> part: array<f32, 256>;

// out[0] = scale * the sum of the 256 threads' partial sums `acc`, by a fixed binary tree.
fn tree_sum(t: u32, acc: f32) {
    part[t] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            part[t] += part[t + s];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        out[0] = p.scale * part[0];
    }
}

// out[0] = scale * sum of all `outer` elements, one workgroup: thread t sums t, t+256, ...,
// then a fixed binary tree combines the 256 partial sums.
@compute @workgroup_size(256)
fn sum_all(@builtin(local_invocation_index) t: u32) {
    var acc = 0.0;
    for (var k = t; k < p.outer; k += WG) {
        acc += x[k];
    }
    tree_sum(t, acc);
}

// out[0] = scale * sum of the squares of all `outer` elements (a gradient's squared L2 norm), in
// sum_all's order, without writing the squares out first.
@compute @workgroup_size(256)
fn sum_squares(@builtin(local_invocation_index) t: u32) {
    var acc = 0.0;
    for (var k = t; k < p.outer; k += WG) {
        let v = x[k];
        acc += v * v;
    }
    tree_sum(t, acc);
}
