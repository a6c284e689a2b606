// Box kernels: pairwise IoU matrix, delta decode/encode, clip to the image. Box convention:
// continuous (x1, y1, x2, y2), width x2 - x1, area (x2 - x1) * (y2 - y1), no +1.

struct Params {
    n: u32,        // rows (boxes of `a`, delta rows, ...)
    m: u32,        // columns of the IoU matrix
    k: u32,        // decode: reference boxes (delta row r uses box (r / c) % k)
    c: u32,        // decode: delta rows per reference box (classes)
    wx: f32,
    wy: f32,
    ww: f32,
    wh: f32,
    clamp: f32,    // upper bound of dw and dh before exp
    img_w: f32,    // decode clips to [0, img_w] x [0, img_h] when img_w > 0
    img_h: f32,
    min_size: f32, // keep_mask: smallest width and height kept
};

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;

fn linear(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

fn area(b: vec4<f32>) -> f32 {
    return max(b.z - b.x, 0.0) * max(b.w - b.y, 0.0);
}

fn iou(a: vec4<f32>, b: vec4<f32>) -> f32 {
    let iw = max(min(a.z, b.z) - max(a.x, b.x), 0.0);
    let ih = max(min(a.w, b.w) - max(a.y, b.y), 0.0);
    let inter = iw * ih;
    let uni = area(a) + area(b) - inter;
    return select(0.0, inter / uni, uni > 0.0);
}

// IoU matrix: out[i * m + j] = IoU(a[i], b[j]).
@group(0) @binding(1) var<storage, read> ia: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> ib: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> iout: array<f32>;

@compute @workgroup_size(256)
fn iou_matrix(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = linear(gid, nwg);
    if (t >= p.n * p.m) { return; }
    let i = t / p.m;
    let j = t - i * p.m;
    iout[t] = iou(ia[i], ib[j]);
}

// Decode: out[r] = apply(deltas[r]) to boxes[(r / c) % k], optionally clipped.
@group(0) @binding(1) var<storage, read> dboxes: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> ddeltas: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dout: array<vec4<f32>>;

fn decode_one(b: vec4<f32>, d: vec4<f32>) -> vec4<f32> {
    let w = b.z - b.x;
    let h = b.w - b.y;
    let cx = b.x + 0.5 * w;
    let cy = b.y + 0.5 * h;
    let dx = d.x / p.wx;
    let dy = d.y / p.wy;
    let dw = min(d.z / p.ww, p.clamp);
    let dh = min(d.w / p.wh, p.clamp);
    let pcx = dx * w + cx;
    let pcy = dy * h + cy;
    let pw = exp(dw) * w;
    let ph = exp(dh) * h;
    var o = vec4<f32>(pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph);
    if (p.img_w > 0.0) {
        o = clamp(o, vec4<f32>(0.0), vec4<f32>(p.img_w, p.img_h, p.img_w, p.img_h));
    }
    return o;
}

@compute @workgroup_size(256)
fn decode(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear(gid, nwg);
    if (r >= p.n) { return; }
    let bi = (r / p.c) % p.k;
    dout[r] = decode_one(dboxes[bi], ddeltas[r]);
}

// Encode: out[r] = deltas that take reference box boxes[r] onto target[r].
@group(0) @binding(1) var<storage, read> eref: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> egt: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> eout: array<vec4<f32>>;

@compute @workgroup_size(256)
fn encode(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear(gid, nwg);
    if (r >= p.n) { return; }
    let b = eref[r];
    let g = egt[r];
    let w = b.z - b.x;
    let h = b.w - b.y;
    let gw = g.z - g.x;
    let gh = g.w - g.y;
    let cx = b.x + 0.5 * w;
    let cy = b.y + 0.5 * h;
    let gcx = g.x + 0.5 * gw;
    let gcy = g.y + 0.5 * gh;
    eout[r] = vec4<f32>(p.wx * (gcx - cx) / w, p.wy * (gcy - cy) / h, p.ww * log(gw / w), p.wh * log(gh / h));
}

// Clip: out[r] = boxes[r] clamped to [0, img_w] x [0, img_h].
@group(0) @binding(1) var<storage, read> cin: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> cout: array<vec4<f32>>;

@compute @workgroup_size(256)
fn clip(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear(gid, nwg);
    if (r >= p.n) { return; }
    cout[r] = clamp(cin[r], vec4<f32>(0.0), vec4<f32>(p.img_w, p.img_h, p.img_w, p.img_h));
}

// Keep mask: out[r] = 1 when boxes[r] has width and height >= min_size, else 0.
@group(0) @binding(1) var<storage, read> kin: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> kout: array<u32>;

@compute @workgroup_size(256)
fn keep_mask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear(gid, nwg);
    if (r >= p.n) { return; }
    let b = kin[r];
    kout[r] = select(0u, 1u, b.z - b.x >= p.min_size && b.w - b.y >= p.min_size);
}
