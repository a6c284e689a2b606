// Softmax cross-entropy over [N, C] logits with u32 labels (i32 labels are bit-cast), optional
// per-sample weights and an optional ignore label.
// loss = sum_i w_i * (lse_i - x[i, y_i]) / sum_i w_i over samples whose label is not ignored
// (0 when that weight sum is 0). A label >= C that is not the ignore label makes the loss NaN.
// forward runs in ONE workgroup (fixed-order partial sums, then a fixed tree): deterministic.

struct Params {
    n: u32,
    c: u32,
    ignore: u32,
    // bit 0: weights bound and used; bit 1: ignore label active
    flags: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> weights: array<f32>;

const WG: u32 = 256u;

fn nan_f32() -> f32 {
    return bitcast<f32>(0x7fc00000u | (p.n & 0u));
}

fn ignored(lab: u32) -> bool {
    return (p.flags & 2u) != 0u && lab == p.ignore;
}

fn weight(i: u32) -> f32 {
    if ((p.flags & 1u) != 0u) {
        return weights[i];
    }
    return 1.0;
}

// forward: binding 4 = lse [N] (saved for backward), 5 = loss [1], 6 = norm [1] (sum of weights)
@group(0) @binding(4) var<storage, read_write> lse_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss: array<f32>;
@group(0) @binding(6) var<storage, read_write> norm: array<f32>;

var<workgroup> part_l: array<f32, 256>;
var<workgroup> part_w: array<f32, 256>;

@compute @workgroup_size(256)
fn forward(@builtin(local_invocation_index) t: u32) {
    var acc_l = 0.0;
    var acc_w = 0.0;
    for (var i = t; i < p.n; i += WG) {
        let row = i * p.c;
        var m = logits[row];
        for (var k = 1u; k < p.c; k++) {
            m = max(m, logits[row + k]);
        }
        var s = 0.0;
        for (var k = 0u; k < p.c; k++) {
            s += exp(logits[row + k] - m);
        }
        let lse = m + log(s);
        lse_out[i] = lse;
        let lab = labels[i];
        if (ignored(lab)) {
            continue;
        }
        let w = weight(i);
        if (lab >= p.c) {
            acc_l = nan_f32();
        } else {
            acc_l += w * (lse - logits[row + lab]);
        }
        acc_w += w;
    }
    part_l[t] = acc_l;
    part_w[t] = acc_w;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            part_l[t] += part_l[t + s];
            part_w[t] += part_w[t + s];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        let wsum = part_w[0];
        norm[0] = wsum;
        loss[0] = select(0.0, part_l[0] / wsum, wsum != 0.0);
    }
}
