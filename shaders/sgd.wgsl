// SGD with momentum and weight decay, in place (PyTorch's form), the gradient scaled first
// (global-norm clipping; 1 = none):
//   v = momentum * v + (grad_scale * g + weight_decay * w);  w = w - lr * v

struct Params {
    n: u32,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    grad_scale: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> velocity: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    let w = param[i];
    let v = p.momentum * velocity[i] + p.grad_scale * grad[i] + p.weight_decay * w;
    velocity[i] = v;
    param[i] = w - p.lr * v;
}
