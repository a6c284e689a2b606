// k-means assignment: for each row the nearest centroid by |c|^2 - 2 x.c (ties: lowest index) and its
// squared distance |x|^2 - 2 x.c + |c|^2 clamped at 0. Each thread does 4 rows x 4 centroids at a time
// with vec4 loads straight from storage (the fast shape on lavapipe); out[2r] = label,
// out[2r + 1] = bitcast distance, so one readback brings both.

struct Params {
    n: u32,   // points
    k: u32,   // clusters
    d4: u32,  // vec4s per row (rows zero-padded)
    _pad: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;     // n x d4
@group(0) @binding(2) var<storage, read> xn: array<f32>;          // n
@group(0) @binding(3) var<storage, read> cen: array<vec4<f32>>;   // k x d4
@group(0) @binding(4) var<storage, read> cn: array<f32>;          // k
@group(0) @binding(5) var<storage, read_write> out: array<u32>;   // 2n

const WG: u32 = 64u;
const BIG: f32 = 3.0e38;

// Folds four candidate distances (centroids c0..c0+3, those >= k masked) into the running best.
fn fold(best: ptr<function, f32>, arg: ptr<function, u32>, d: vec4<f32>, c0: u32) {
    if (c0 < p.k && d.x < *best) { *best = d.x; *arg = c0; }
    if (c0 + 1u < p.k && d.y < *best) { *best = d.y; *arg = c0 + 1u; }
    if (c0 + 2u < p.k && d.z < *best) { *best = d.z; *arg = c0 + 2u; }
    if (c0 + 3u < p.k && d.w < *best) { *best = d.w; *arg = c0 + 3u; }
}

fn emit(r: u32, best: f32, arg: u32) {
    out[2u * r] = arg;
    out[2u * r + 1u] = bitcast<u32>(max(xn[r] + best, 0.0));
}

@compute @workgroup_size(64)
fn assign(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * nwg.x * WG;
    let r0 = t * 4u;
    if (r0 >= p.n) { return; }
    let last = p.n - 1u;
    // Rows past the end are clamped (computed, never written).
    let b0 = r0 * p.d4;
    let b1 = min(r0 + 1u, last) * p.d4;
    let b2 = min(r0 + 2u, last) * p.d4;
    let b3 = min(r0 + 3u, last) * p.d4;
    var best0 = BIG; var best1 = BIG; var best2 = BIG; var best3 = BIG;
    var arg0 = 0u; var arg1 = 0u; var arg2 = 0u; var arg3 = 0u;
    let klast = p.k - 1u;
    for (var c0 = 0u; c0 < p.k; c0 += 4u) {
        let ca = c0;
        let cb = min(c0 + 1u, klast);
        let cc = min(c0 + 2u, klast);
        let cd = min(c0 + 3u, klast);
        var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
        for (var q = 0u; q < p.d4; q++) {
            let y0 = cen[ca * p.d4 + q];
            let y1 = cen[cb * p.d4 + q];
            let y2 = cen[cc * p.d4 + q];
            let y3 = cen[cd * p.d4 + q];
            let x0 = x[b0 + q];
            let x1 = x[b1 + q];
            let x2 = x[b2 + q];
            let x3 = x[b3 + q];
            a0 += vec4<f32>(dot(x0, y0), dot(x0, y1), dot(x0, y2), dot(x0, y3));
            a1 += vec4<f32>(dot(x1, y0), dot(x1, y1), dot(x1, y2), dot(x1, y3));
            a2 += vec4<f32>(dot(x2, y0), dot(x2, y1), dot(x2, y2), dot(x2, y3));
            a3 += vec4<f32>(dot(x3, y0), dot(x3, y1), dot(x3, y2), dot(x3, y3));
        }
        let cnv = vec4<f32>(cn[ca], cn[cb], cn[cc], cn[cd]);
        fold(&best0, &arg0, cnv - 2.0 * a0, c0);
        fold(&best1, &arg1, cnv - 2.0 * a1, c0);
        fold(&best2, &arg2, cnv - 2.0 * a2, c0);
        fold(&best3, &arg3, cnv - 2.0 * a3, c0);
    }
    emit(r0, best0, arg0);
    if (r0 + 1u < p.n) { emit(r0 + 1u, best1, arg1); }
    if (r0 + 2u < p.n) { emit(r0 + 2u, best2, arg2); }
    if (r0 + 3u < p.n) { emit(r0 + 3u, best3, arg3); }
}
