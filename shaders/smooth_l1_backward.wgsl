// Smooth-L1 backward with respect to pred: dx_j = dy * w_j * f'(d_j) * inv_norm,
// f'(d) = sigma^2 d if |d| < 1/sigma^2, else sign(d). One thread an element.

struct Params {
    n: u32,
    flags: u32,
    sigma2: f32,
    inv_norm: f32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> tgt: array<f32>;
@group(0) @binding(3) var<storage, read> weights: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = gid.x + gid.y * nwg.x * WG;
    if (j >= p.n) { return; }
    let d = pred[j] - tgt[j];
    var g = sign(d);
    if (abs(d) < 1.0 / p.sigma2) {
        g = p.sigma2 * d;
    }
    if ((p.flags & 1u) != 0u) {
        g *= weights[j];
    }
    dx[j] = dy[0] * g * p.inv_norm;
}
