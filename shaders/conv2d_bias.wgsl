// Conv2d bias gradient: db[c] = sum over n and the plane of dy[n, c, :, :]. One invocation a
// channel summing in a fixed order, so the result is deterministic (no atomics).

struct Params {
    n: u32,
    c: u32,
    hw: u32,
    _pad: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = gid.x + gid.y * nwg.x * WG;
    if (c >= p.c) { return; }
    var total = 0.0;
    for (var b = 0u; b < p.n; b++) {
        let base = (b * p.c + c) * p.hw;
        // Four partial sums: a shorter dependency chain and a little less rounding error.
        var s = vec4<f32>(0.0);
        var i = 0u;
        for (; i + 4u <= p.hw; i += 4u) {
            s += vec4<f32>(dy[base + i], dy[base + i + 1u], dy[base + i + 2u], dy[base + i + 3u]);
        }
        for (; i < p.hw; i++) { s.x += dy[base + i]; }
        total += (s.x + s.y) + (s.z + s.w);
    }
    db[c] = total;
}
