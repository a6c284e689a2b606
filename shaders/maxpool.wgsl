// Max-pool 2d (NCHW, square kernel, stride and padding; the padding never wins). Forward writes
// the max and the argmax (index iy * W + ix inside the input plane, first maximum in row-major
// window order). Backward is a gather: each input cell sums dy over the windows that cover it and
// chose it, so it needs no atomics and is deterministic.

struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    k: u32,
    stride: u32,
    pad: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

const WG: u32 = 256u;

// src = x, dst = y.
@compute @workgroup_size(256)
fn maxpool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n * p.c * p.oh * p.ow) { return; }
    let ox = i % p.ow;
    let oy = (i / p.ow) % p.oh;
    let plane = i / (p.ow * p.oh);
    let base = plane * p.h * p.w;
    let y0 = i32(oy * p.stride) - i32(p.pad);
    let x0 = i32(ox * p.stride) - i32(p.pad);
    let ylo = u32(max(y0, 0));
    let xlo = u32(max(x0, 0));
    let yhi = u32(min(y0 + i32(p.k), i32(p.h)));
    let xhi = u32(min(x0 + i32(p.k), i32(p.w)));
    var best = src[base + ylo * p.w + xlo];
    var arg = ylo * p.w + xlo;
    for (var iy = ylo; iy < yhi; iy++) {
        for (var ix = xlo; ix < xhi; ix++) {
            let v = src[base + iy * p.w + ix];
            // NaN propagates: a NaN input wins so that it is not silently dropped.
            if (v > best || (v != v && best == best)) {
                best = v;
                arg = iy * p.w + ix;
            }
        }
    }
    dst[i] = best;
    argmax[i] = arg;
}

// src = dy, dst = dx; argmax is read only (bound read_write to share the binding layout).
@compute @workgroup_size(256)
fn maxpool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n * p.c * p.h * p.w) { return; }
    let ix = i32(i % p.w);
    let iy = i32((i / p.w) % p.h);
    let plane = i / (p.w * p.h);
    let me = u32(iy) * p.w + u32(ix);
    let s = i32(p.stride);
    let k = i32(p.k);
    let pad = i32(p.pad);
    // Windows covering iy: oy * s - pad <= iy < oy * s - pad + k.
    let oy_lo = max((iy + pad - k + s) / s, 0);
    let oy_hi = min((iy + pad) / s, i32(p.oh) - 1);
    let ox_lo = max((ix + pad - k + s) / s, 0);
    let ox_hi = min((ix + pad) / s, i32(p.ow) - 1);
    var total = 0.0;
    let obase = plane * p.oh * p.ow;
    for (var oy = oy_lo; oy <= oy_hi; oy++) {
        for (var ox = ox_lo; ox <= ox_hi; ox++) {
            let o = obase + u32(oy) * p.ow + u32(ox);
            if (argmax[o] == me) { total += src[o]; }
        }
    }
    dst[i] = total;
}

// Backward for non-overlapping windows (k == stride, no padding: VGG's 2x2/2 pools): one thread a
// window writes its k x k input cells, dy at the argmax and 0 elsewhere. Every covered cell has
// exactly one writer, so there is no race; 1/k^2 as many threads and index divisions as the
// gather above (integer division is scalar per lane on llvmpipe). Cells past the last window
// (H or W not a multiple of k) are zeroed by the launcher first.
@compute @workgroup_size(256)
fn maxpool_backward_disjoint(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * WG;
    if (o >= p.n * p.c * p.oh * p.ow) { return; }
    let ox = o % p.ow;
    let t = o / p.ow;
    let oy = t % p.oh;
    let plane = t / p.oh;
    let base = plane * p.h * p.w;
    let win = argmax[o];
    let g = src[o];
    for (var dy = 0u; dy < p.k; dy++) {
        let row = (oy * p.k + dy) * p.w + ox * p.k;
        for (var dx = 0u; dx < p.k; dx++) {
            let cell = row + dx;
            dst[base + cell] = select(0.0, g, cell == win);
        }
    }
}
