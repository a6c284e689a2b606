// Packs conv weights w[O, C, 3, 3] for the 3x3 fast path: packed[(ci * 9 + tap) * O4 + co], O4 the
// output-channel count rounded up to 4 (zero-filled), so 4 output channels are one vec4.
// flip = 0 (forward): ci = c, co = o, tap as is. flip = 1 (backward-data as a forward pass over
// dy): ci = o, co = c, tap mirrored (8 - tap), i.e. the transposed, flipped kernel.

struct Params {
    o: u32,
    c: u32,
    o4: u32,
    flip: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> packed: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn pack_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    // Rows: input channels of the pass (c forward, o flipped); columns: its output channels.
    let rows = select(p.c, p.o, p.flip == 1u);
    let cols = select(p.o, p.c, p.flip == 1u);
    if (i >= rows * 9u * p.o4) { return; }
    let co = i % p.o4;
    let r = i / p.o4;
    let tap = r % 9u;
    let ci = r / 9u;
    if (co >= cols) {
        packed[i] = 0.0;
        return;
    }
    if (p.flip == 1u) {
        packed[i] = w[(ci * p.c + co) * 9u + 8u - tap];
    } else {
        packed[i] = w[(co * p.c + ci) * 9u + tap];
    }
}
