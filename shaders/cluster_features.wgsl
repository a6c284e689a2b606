// Row-wise L2 normalisation of feature vectors: out[r] = x[r] / max(|x[r]|, eps). A zero row stays
// zero (documented: it then sits at the origin, equally far from every unit-norm centroid).

struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    _pad: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn l2_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * WG;
    if (r >= p.rows) { return; }
    let base = r * p.cols;
    var s = 0.0;
    for (var j = 0u; j < p.cols; j++) {
        let v = x[base + j];
        s += v * v;
    }
    let inv = 1.0 / max(sqrt(s), p.eps);
    for (var j = 0u; j < p.cols; j++) {
        out[base + j] = x[base + j] * inv;
    }
}
