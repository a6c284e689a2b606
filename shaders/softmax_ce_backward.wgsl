// Softmax cross-entropy backward: dx[i, k] = dy * w_i / W * (softmax(x_i)[k] - [k == y_i]),
// 0 for ignored samples or when W (the forward's weight sum) is 0. One thread an element.

struct Params {
    n: u32,
    c: u32,
    ignore: u32,
    flags: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> weights: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> norm: array<f32>;
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;

const WG: u32 = 256u;

fn nan_f32() -> f32 {
    return bitcast<f32>(0x7fc00000u | (p.n & 0u));
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG;
    if (idx >= p.n * p.c) { return; }
    let i = idx / p.c;
    let k = idx % p.c;
    let lab = labels[i];
    let wsum = norm[0];
    if (((p.flags & 2u) != 0u && lab == p.ignore) || wsum == 0.0) {
        dx[idx] = 0.0;
        return;
    }
    if (lab >= p.c) {
        dx[idx] = nan_f32();
        return;
    }
    var w = 1.0;
    if ((p.flags & 1u) != 0u) {
        w = weights[i];
    }
    let prob = exp(logits[idx] - lse[i]);
    let onehot = select(0.0, 1.0, k == lab);
    dx[idx] = dy[0] * w / wsum * (prob - onehot);
}
