// k-means helper: squared row norms of points or centroids (rows zero-padded to d4 vec4s).

struct Params {
    n: u32,   // points
    k: u32,   // clusters
    d4: u32,  // vec4s per row
    _pad: u32,
};

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 64u;

fn linear(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// ---- norms: out[i] = |rows[i]|^2 for i < p.n (rows of p.d4 vec4s) ----
@group(0) @binding(1) var<storage, read> nrows: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> nout: array<f32>;

@compute @workgroup_size(64)
fn sq_norms(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i >= p.n) { return; }
    var s = 0.0;
    for (var q = 0u; q < p.d4; q++) {
        let v = nrows[i * p.d4 + q];
        s += dot(v, v);
    }
    nout[i] = s;
}
