// Feature normalisation. l2_rows: out[r] = x[r] / max(|x[r]|, eps); a zero row stays zero (it then sits
// at the origin, equally far from every unit-norm centroid). standardize_cols: each column minus its
// mean over the rows, divided by its (population) standard deviation; a constant column (sd <= eps)
// (sd <= 1e-5 |mean| + eps) becomes 0. One invocation a column, rows summed in order (compensated): deterministic.

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
const SD_REL: f32 = 1e-5;

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

@compute @workgroup_size(64)
fn standardize_cols(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = gid.x + gid.y * nwg.x * WG;
    if (c >= p.cols) { return; }
    // Kahan sums: tens of thousands of rows in f32 would otherwise lose the 1e-5 relative accuracy.
    var s = 0.0;
    var comp = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        let y = x[r * p.cols + c] - comp;
        let t = s + y;
        comp = (t - s) - y;
        s = t;
    }
    let mean = s / f32(p.rows);
    var v = 0.0;
    comp = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        let d = x[r * p.cols + c] - mean;
        let y = d * d - comp;
        let t = v + y;
        comp = (t - v) - y;
        v = t;
    }
    let sd = sqrt(v / f32(p.rows));
    var inv = 0.0;
    // Constant column: sd is only the f32 rounding of the mean (relative 1e-5 covers it).
    if (sd > SD_REL * abs(mean) + p.eps) { inv = 1.0 / sd; }
    for (var r = 0u; r < p.rows; r++) {
        out[r * p.cols + c] = (x[r * p.cols + c] - mean) * inv;
    }
}
