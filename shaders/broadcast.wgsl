// Broadcasts: a per-channel vector added over a tensor viewed as [outer, c, inner] (out = x + b[c]),
// and a one-element tensor expanded to n elements (out = scale * x[0], the backward of a full sum).

struct Params {
    n: u32,
    c: u32,
    inner: u32,
    scale: f32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn bias_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    out[i] = x[i] + b[(i / p.inner) % p.c];
}

// out[i] = scale * x[0]; binding 2 is bound but unused (the same buffer as binding 1).
@compute @workgroup_size(256)
fn expand_scalar(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    out[i] = p.scale * x[0];
}

// Expands x viewed as [outer, inner] along a new middle axis of length c: out[o, k, i] = scale * x[o, i]
// (the backward of a sum or mean along that axis). Binding 2 is bound but unused.
@compute @workgroup_size(256)
fn expand_axis(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    let o = i / (p.c * p.inner);
    out[i] = p.scale * x[o * p.inner + i % p.inner];
}
