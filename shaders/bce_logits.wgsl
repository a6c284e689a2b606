// Binary cross-entropy on logits, elementwise and weighted (RPN objectness). One thread an element.
// forward:  loss[i] = w[i] * (max(x, 0) - x * y + log(1 + exp(-|x|)))   (stable for any x)
// backward: dx[i]   = dy[i] * w[i] * (sigmoid(x) - y)

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@group(0) @binding(5) var<storage, read> dy: array<f32>;

const WG: u32 = 256u;

fn linear(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i >= p.n) { return; }
    let v = x[i];
    out[i] = w[i] * (max(v, 0.0) - v * y[i] + log(1.0 + exp(-abs(v))));
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i >= p.n) { return; }
    let s = 1.0 / (1.0 + exp(-x[i]));
    out[i] = dy[i] * w[i] * (s - y[i]);
}
