// Seeded random initialisation: a counter-based hash RNG (two PCG rounds of the element index,
// keyed by a seed-derived key), so element i's value depends only on (seed, i): no state, any
// order, the same on every adapter. Uniform in [-scale, scale) or normal (Box-Muller) with
// standard deviation `scale`.

struct Params {
    n: u32,
    key: u32,
    // 0: uniform, 1: normal
    kind: u32,
    scale: f32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
const TWO_PI: f32 = 6.283185307179586;

fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Uniform in [0, 1) with 24 random bits (exact in f32, identical on the CPU).
fn uniform01(counter: u32) -> f32 {
    return f32(pcg(pcg(counter) ^ p.key) >> 8u) * (1.0 / 16777216.0);
}

@compute @workgroup_size(256)
fn init(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    let u1 = uniform01(2u * i);
    if (p.kind == 0u) {
        out[i] = p.scale * (2.0 * u1 - 1.0);
        return;
    }
    let u2 = uniform01(2u * i + 1u);
    // 1 - u1 lies in (0, 1], so the log is finite.
    let r = sqrt(-2.0 * log(1.0 - u1));
    out[i] = p.scale * r * cos(TWO_PI * u2);
}
