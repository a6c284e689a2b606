// Proposal layer kernels: decode RPN deltas on the anchors (clip, drop small boxes), and gather
// the NMS survivors into one readback buffer. Anchor k = (y * W + x) * A + a.

struct Params {
    n: u32,        // images
    k: u32,        // anchors per image (H * W * A)
    a: u32,        // anchors per cell
    hw: u32,       // H * W (feature cells)
    nchw: u32,     // 1: objectness [N, A, H, W], deltas [N, 4A, H, W]; 0: [N, K], [N, K, 4]
    post: u32,     // slots per image in the NMS result
    img_w: f32,
    img_h: f32,
    wx: f32,
    wy: f32,
    ww: f32,
    wh: f32,
    clamp: f32,
    min_size: f32,
    _pad0: u32,
    _pad1: u32,
};

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;

fn linear(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@group(0) @binding(1) var<storage, read> d_obj: array<f32>;
@group(0) @binding(2) var<storage, read> d_deltas: array<f32>;
@group(0) @binding(3) var<storage, read> d_anchors: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> d_boxes: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> d_scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_groups: array<u32>;

// One thread an (image, anchor): decoded, clipped box; score, or -FLT_MAX when the box is
// smaller than min_size gets score -inf, which the NMS threshold -FLT_MAX drops.
@compute @workgroup_size(256)
fn decode(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = linear(gid, nwg);
    if (t >= p.n * p.k) { return; }
    let n = t / p.k;
    let k = t - n * p.k;
    var score: f32;
    var d: vec4<f32>;
    if (p.nchw != 0u) {
        let cell = k / p.a;
        let a = k - cell * p.a;
        score = d_obj[(n * p.a + a) * p.hw + cell];
        let base = (n * 4u * p.a + a * 4u) * p.hw + cell;
        d = vec4<f32>(d_deltas[base], d_deltas[base + p.hw], d_deltas[base + 2u * p.hw], d_deltas[base + 3u * p.hw]);
    } else {
        score = d_obj[t];
        d = vec4<f32>(d_deltas[t * 4u], d_deltas[t * 4u + 1u], d_deltas[t * 4u + 2u], d_deltas[t * 4u + 3u]);
    }
    let b = d_anchors[k];
    let w = b.z - b.x;
    let h = b.w - b.y;
    let cx = b.x + 0.5 * w;
    let cy = b.y + 0.5 * h;
    let pcx = d.x / p.wx * w + cx;
    let pcy = d.y / p.wy * h + cy;
    let pw = exp(min(d.z / p.ww, p.clamp)) * w;
    let ph = exp(min(d.w / p.wh, p.clamp)) * h;
    let o = clamp(
        vec4<f32>(pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph),
        vec4<f32>(0.0),
        vec4<f32>(p.img_w, p.img_h, p.img_w, p.img_h),
    );
    if (o.z - o.x < p.min_size || o.w - o.y < p.min_size) { score = bitcast<f32>(0xff800000u); }
    d_boxes[t] = o;
    d_scores[t] = score;
    d_groups[t] = n;
}

@group(0) @binding(1) var<storage, read> g_nms: array<u32>;
@group(0) @binding(2) var<storage, read> g_boxes: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> g_scores: array<f32>;
@group(0) @binding(4) var<storage, read_write> g_out: array<f32>; // [flag, per image: count, post x (x1 y1 x2 y2 score)]

// One thread an (image, slot).
@compute @workgroup_size(256)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = linear(gid, nwg);
    if (t >= p.n * p.post) { return; }
    let n = t / p.post;
    let j = t - n * p.post;
    if (t == 0u) { g_out[0] = f32(g_nms[0]); }
    let src = 1u + n * (p.post + 1u);
    let cnt = g_nms[src];
    let dst = 1u + n * (1u + p.post * 5u);
    if (j == 0u) { g_out[dst] = f32(cnt); }
    let o = dst + 1u + j * 5u;
    if (j < cnt) {
        let idx = g_nms[src + 1u + j];
        let b = g_boxes[idx];
        g_out[o] = b.x;
        g_out[o + 1u] = b.y;
        g_out[o + 2u] = b.z;
        g_out[o + 3u] = b.w;
        g_out[o + 4u] = g_scores[idx];
    } else {
        for (var q = 0u; q < 5u; q++) { g_out[o + q] = 0.0; }
    }
}
