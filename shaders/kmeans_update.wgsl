// k-means centroid update without atomics: one thread per (cluster, vec4 column) sums its cluster's
// points in ascending point order (the launcher groups point indices by label: order[offsets[c] ..
// offsets[c + 1]]), so the result is deterministic. An empty cluster takes row reseed[c] (chosen on
// the host among the farthest points), or keeps its centroid when reseed[c] is NONE.

struct Params {
    n: u32,   // points
    k: u32,   // clusters
    d4: u32,  // vec4s per row
    _pad: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;        // n x d4
@group(0) @binding(2) var<storage, read> order: array<u32>;          // n point indices grouped by label
@group(0) @binding(3) var<storage, read> offsets: array<u32>;        // k + 1
@group(0) @binding(4) var<storage, read> reseed: array<u32>;         // k
@group(0) @binding(5) var<storage, read_write> cen: array<vec4<f32>>; // k x d4

const NONE: u32 = 0xffffffffu;

@compute @workgroup_size(64)
fn update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let q = gid.x;
    let c = wid.y;
    if (q >= p.d4 || c >= p.k) { return; }
    let start = offsets[c];
    let end = offsets[c + 1u];
    if (end <= start) {
        let r = reseed[c];
        if (r != NONE && r < p.n) { cen[c * p.d4 + q] = x[r * p.d4 + q]; }
        return;
    }
    var s = vec4<f32>(0.0);
    for (var i = start; i < end; i++) {
        s += x[order[i] * p.d4 + q];
    }
    cen[c * p.d4 + q] = s / f32(end - start);
}
