// Permutes the axes of a tensor of rank <= 4 (shapes padded with leading 1s):
// out[o0, o1, o2, o3] = x[...] where output axis k is input axis perm[k]. One thread an element.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    // output shape
    oshape: vec4<u32>,
    // input stride of the input axis that each output axis reads
    istride: vec4<u32>,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn permute(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    var rem = i;
    let c3 = rem % p.oshape.w;
    rem = rem / p.oshape.w;
    let c2 = rem % p.oshape.z;
    rem = rem / p.oshape.z;
    let c1 = rem % p.oshape.y;
    let c0 = rem / p.oshape.y;
    out[i] = x[c0 * p.istride.x + c1 * p.istride.y + c2 * p.istride.z + c3 * p.istride.w];
}
