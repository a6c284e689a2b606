// Explicit-GEMM convolution helpers (ops/conv2d_gemm.rs): `im2col` unfolds the input windows of
// images n0 .. n0 + nc into rows, cols[(n - n0) P + p, k] with P = OH OW output pixels and
// k = (c, ky, kx) over K = C KH KW (0 in the padding), so that a convolution becomes a matmul
// with the [O, K] weights; `col2im` is its adjoint, summing the rows' gradients back into the
// input pixels they came from (a gather: one thread an input pixel, taps in (ky, kx) order, no
// atomics, deterministic). Threads: im2col one a (row, input channel), writing its KH KW taps;
// col2im one an input element of the chunk. 1-D grids folded into y past 65,535 workgroups.

struct Params {
    n0: u32,
    nc: u32,
    c: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    oh: u32,
    ow: u32,
    stride: u32,
    pad: u32,
    _pad0: u32,
};

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn linear(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// src: x [N, C, H, W]; dst: cols [nc P, K].
@compute @workgroup_size(256)
fn im2col(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    let npix = p.oh * p.ow;
    if (i >= p.nc * npix * p.c) { return; }
    let c = i % p.c;
    let row = i / p.c;
    let n = p.n0 + row / npix;
    let pix = row % npix;
    let oy = pix / p.ow;
    let ox = pix % p.ow;
    let taps = p.kh * p.kw;
    let k = p.c * taps;
    let out0 = row * k + c * taps;
    let plane = ((n * p.c + c) * p.h) * p.w;
    for (var ky = 0u; ky < p.kh; ky++) {
        // Signed: the window starts above or left of the image in the padding.
        let iy = i32(oy * p.stride + ky) - i32(p.pad);
        for (var kx = 0u; kx < p.kw; kx++) {
            let ix = i32(ox * p.stride + kx) - i32(p.pad);
            var v = 0.0;
            if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
                v = src[plane + u32(iy) * p.w + u32(ix)];
            }
            dst[out0 + ky * p.kw + kx] = v;
        }
    }
}

// src: dcols [nc P, K]; dst: dx [N, C, H, W] (the chunk's images, every element written).
@compute @workgroup_size(256)
fn col2im(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    let per_image = p.c * p.h * p.w;
    if (i >= p.nc * per_image) { return; }
    let nl = i / per_image;
    let r = i % per_image;
    let c = r / (p.h * p.w);
    let y = (r / p.w) % p.h;
    let x = r % p.w;
    let taps = p.kh * p.kw;
    let k = p.c * taps;
    var acc = 0.0;
    for (var ky = 0u; ky < p.kh; ky++) {
        // Output row oy reads input row oy * stride + ky - pad; solve for oy.
        let ty = i32(y + p.pad) - i32(ky);
        if (ty < 0 || u32(ty) % p.stride != 0u) { continue; }
        let oy = u32(ty) / p.stride;
        if (oy >= p.oh) { continue; }
        for (var kx = 0u; kx < p.kw; kx++) {
            let tx = i32(x + p.pad) - i32(kx);
            if (tx < 0 || u32(tx) % p.stride != 0u) { continue; }
            let ox = u32(tx) / p.stride;
            if (ox >= p.ow) { continue; }
            acc += src[((nl * p.oh + oy) * p.ow + ox) * k + c * taps + ky * p.kw + kx];
        }
    }
    dst[(p.n0 + nl) * per_image + r] = acc;
}
