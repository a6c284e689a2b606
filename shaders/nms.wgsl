// GPU non-maximum suppression, batched over groups (image x class), deterministic.
//  1-2. a stable LSD radix sort by key (group asc, score desc, index asc; flags NaN scores), then
//     sort_finish gathers boxes into sorted order. 3. compact (only with a pre-NMS top-k): sorted box q
//     of group g goes to slot g * K + q when q < K. 4. init: segment end of each slot and the
//     initial "removed" bits (empty slots, scores below the threshold). 5. greedy: one workgroup
//     walks the slots in order, keeps a box unless removed (stopping a group at max_kept) and
//     clears the later live boxes of its group that it overlaps above the threshold.

struct Params {
    n: u32,           // input boxes
    s: u32,           // slots (n, or groups * topk)
    groups: u32,      // number of groups; boxes with a group id >= groups are dropped
    has_groups: u32,  // 0: every box is in group 0
    topk: u32,        // pre-NMS top-k per group, 0 for none
    max_kept: u32,    // per group
    words: u32,       // ceil(s / 32)
    shift: u32,       // radix sort: bit position of this pass's digit
    rows: u32,        // greedy: rows one dispatch may consider
    iou_thr: f32,
    score_thr: f32,
    mode: u32,        // radix sort: bit 0 = group digit (else score), bit 1 = first pass (index order)
    rounds: u32,      // greedy: rounds one dispatch may run
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
};

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;

fn linear(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

fn is_nan(v: f32) -> bool {
    let b = bitcast<u32>(v);
    return (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0u;
}

// ---- 1. stable LSD radix sort of the box indices, 8 bits a pass ----
// Score passes (digits of the inverted score key: best first) come first, then group passes
// (group ids clamped to `groups`, so dropped boxes sort last). Every pass is stable and the
// first starts from index order, so equal keys stay in index order: the tie-break of the spec.
// Each pass is three dispatches: radix_hist (one thread a block of RB elements counts its
// digits), radix_scan (one workgroup turns the digit-major counts into output offsets) and
// radix_scatter (each block writes its elements in order from its offsets). On lavapipe a
// thread walking a block sequentially is cheap; the work is O(N) a pass.
const RB: u32 = 128u;

// u32 order = score order (higher is better); -0 == +0 as in the comparison sort.
fn score_key(v: f32) -> u32 {
    let b = select(bitcast<u32>(v), 0u, v == 0.0);
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

@group(0) @binding(1) var<storage, read> r_scores: array<f32>;
@group(0) @binding(2) var<storage, read> r_groups: array<u32>;
@group(0) @binding(3) var<storage, read> r_src: array<u32>;   // element order of this pass (unread on the first)
@group(0) @binding(4) var<storage, read_write> r_hist: array<u32>; // [256 * blocks], digit-major
@group(0) @binding(5) var<storage, read_write> r_flag: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> r_dst: array<u32>;  // scatter only

fn r_blocks() -> u32 {
    return (p.n + RB - 1u) / RB;
}

fn r_elem(e: u32) -> u32 {
    if ((p.mode & 2u) != 0u) { return e; }
    return r_src[e];
}

fn r_digit(i: u32) -> u32 {
    if ((p.mode & 1u) != 0u) {
        var g = 0u;
        if (p.has_groups != 0u) { g = min(r_groups[i], p.groups); }
        return (g >> p.shift) & 255u;
    }
    return ((~score_key(r_scores[i])) >> p.shift) & 255u;
}

@compute @workgroup_size(64)
fn radix_hist(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = gid.x + gid.y * nwg.x * 64u;
    let nb = r_blocks();
    if (b >= nb) { return; }
    var cnt: array<u32, 256>;
    for (var d = 0u; d < 256u; d++) { cnt[d] = 0u; }
    let e1 = min(p.n, (b + 1u) * RB);
    for (var e = b * RB; e < e1; e++) {
        let i = r_elem(e);
        if ((p.mode & 2u) != 0u && is_nan(r_scores[i])) { atomicOr(&r_flag[0], 1u); }
        cnt[r_digit(i)]++;
    }
    for (var d = 0u; d < 256u; d++) { r_hist[d * nb + b] = cnt[d]; }
}

var<workgroup> sh_total: array<u32, 256>;
@group(0) @binding(1) var<storage, read_write> q_hist: array<u32>; // the scan's view of r_hist

// One workgroup, thread d a digit: exclusive offsets in (digit, block) order.
@compute @workgroup_size(256)
fn radix_scan(@builtin(local_invocation_index) d: u32) {
    let nb = r_blocks();
    var t = 0u;
    for (var b = 0u; b < nb; b++) { t += q_hist[d * nb + b]; }
    sh_total[d] = t;
    workgroupBarrier();
    var base = 0u;
    for (var q = 0u; q < d; q++) { base += sh_total[q]; }
    for (var b = 0u; b < nb; b++) {
        let c = q_hist[d * nb + b];
        q_hist[d * nb + b] = base;
        base += c;
    }
}

@compute @workgroup_size(64)
fn radix_scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = gid.x + gid.y * nwg.x * 64u;
    let nb = r_blocks();
    if (b >= nb) { return; }
    var off: array<u32, 256>;
    for (var d = 0u; d < 256u; d++) { off[d] = r_hist[d * nb + b]; }
    let e1 = min(p.n, (b + 1u) * RB);
    for (var e = b * RB; e < e1; e++) {
        let i = r_elem(e);
        let d = r_digit(i);
        r_dst[off[d]] = i;
        off[d]++;
    }
}

// ---- 2. sort_finish: one thread a sorted position; boxes and (group, score bits) in sorted order ----
@group(0) @binding(1) var<storage, read> f_scores: array<f32>;
@group(0) @binding(2) var<storage, read> f_groups: array<u32>;
@group(0) @binding(3) var<storage, read> f_order: array<u32>;
@group(0) @binding(4) var<storage, read> f_boxes: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> f_sbox: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> f_smeta: array<vec2<u32>>;

@compute @workgroup_size(256)
fn sort_finish(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = linear(gid, nwg);
    if (k >= p.n) { return; }
    let i = f_order[k];
    var g = 0u;
    if (p.has_groups != 0u) { g = min(f_groups[i], p.groups); }
    f_sbox[k] = f_boxes[i];
    f_smeta[k] = vec2<u32>(g, bitcast<u32>(f_scores[i]));
}

// Binary searches over the group column of the sorted boxes (ascending).
fn lower_group(meta_len: u32, g: u32) -> u32 {
    var a = 0u;
    var b = meta_len;
    while (a < b) {
        let mid = (a + b) / 2u;
        if (i_smeta[mid].x < g) { a = mid + 1u; } else { b = mid; }
    }
    return a;
}

fn upper_group(meta_len: u32, g: u32) -> u32 {
    var a = 0u;
    var b = meta_len;
    while (a < b) {
        let mid = (a + b) / 2u;
        if (i_smeta[mid].x <= g) { a = mid + 1u; } else { b = mid; }
    }
    return a;
}

// ---- 3. compact (pre-NMS top-k) ----
@group(0) @binding(1) var<storage, read> i_smeta: array<vec2<u32>>; // sorted order (also used by init)
@group(0) @binding(2) var<storage, read> c_sidx: array<u32>;
@group(0) @binding(3) var<storage, read> c_sbox: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> c_idx: array<u32>;
@group(0) @binding(5) var<storage, read_write> c_box: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> c_meta: array<vec2<u32>>;

@compute @workgroup_size(256)
fn compact(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i >= p.n) { return; }
    let m = i_smeta[i];
    if (m.x >= p.groups) { return; }
    let q = i - lower_group(p.n, m.x);
    if (q >= p.topk) { return; }
    let slot = m.x * p.topk + q;
    c_idx[slot] = c_sidx[i];
    c_box[slot] = c_sbox[i];
    c_meta[slot] = m;
}

// ---- 4. init: one thread a 32-slot word ----
@group(0) @binding(2) var<storage, read> n_meta: array<vec2<u32>>; // slot order
@group(0) @binding(3) var<storage, read_write> n_seg_end: array<u32>;
@group(0) @binding(4) var<storage, read_write> n_removed: array<u32>;

@compute @workgroup_size(256)
fn init(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let w = linear(gid, nwg);
    if (w >= p.words) { return; }
    var bits = 0u;
    for (var b = 0u; b < 32u; b++) {
        let s = w * 32u + b;
        var keep = false;
        if (s < p.s) {
            var filled = false;
            var end = s + 1u;
            if (p.topk != 0u) {
                let g = s / p.topk;
                let cnt = upper_group(p.n, g) - lower_group(p.n, g);
                filled = s - g * p.topk < cnt;
                end = g * p.topk + min(cnt, p.topk);
            } else {
                let g = n_meta[s].x;
                filled = g < p.groups;
                end = upper_group(p.n, g);
            }
            n_seg_end[s] = end;
            keep = filled && bitcast<f32>(n_meta[s].y) >= p.score_thr;
        }
        if (!keep) { bits |= 1u << b; }
    }
    n_removed[w] = bits;
}

// ---- 5. greedy: one workgroup walks the sorted slots in order, in rounds ----
// A round: thread 0 walks the live rows (word at a time over the "removed" bits; a group holding
// max_kept boxes is skipped to its end) and decides up to GB of them: a row is kept unless a row
// kept earlier in the same round overlaps it above the threshold (then thread 0 marks it
// removed). All earlier rounds have already cleared every live column past their rows, so that
// is the whole test. Thread 0 publishes the round's kept rows and the first undecided column in
// workgroup memory; then the sweep clears the live undecided columns that a kept row of their
// group overlaps above the threshold. Sweep layout: the 8 lanes of a SIMD vector (8 consecutive
// invocations) form a stream that owns every NS-th 32-column word; each lane holds 4 of the
// round's kept boxes in registers, and the stream walks its live columns together, so each
// column box is read once for 32 kept boxes (the lanes read the same address) instead of each
// lane gathering a different column. As in the CPU loop, only kept x live pairs are tested.
// Lavapipe ends an invocation after 65,535 loop iterations in all (one counter shared by every
// loop of the shader), so a dispatch considers at most p.rows rows and runs at most p.rounds
// rounds (both chosen on the host from the worst case) and leaves thread 0's position in
// g_state for the next dispatch.
const GW: u32 = 64u;
const NS: u32 = 8u; // streams: GW / 8
const GB: u32 = 32u;

@group(0) @binding(1) var<storage, read> g_box: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g_idx: array<u32>;
@group(0) @binding(3) var<storage, read> g_meta: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read> g_seg_end: array<u32>;
@group(0) @binding(5) var<storage, read_write> g_removed: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> g_out: array<u32>; // [flag, per group: count, max_kept indices]
@group(0) @binding(7) var<storage, read_write> g_state: array<u32>; // [next row to consider]

var<workgroup> sh_rows: array<u32, 32>;
var<workgroup> sh_count: u32; // rows kept this round; 0 ends the dispatch
var<workgroup> sh_lo: u32;    // first column not decided by thread 0

fn area(b: vec4<f32>) -> f32 {
    return max(b.z - b.x, 0.0) * max(b.w - b.y, 0.0);
}

// IoU(a, b) > threshold, with the arithmetic of the CPU reference; disjoint boxes skip the
// division (their IoU is 0) unless the threshold is negative.
fn suppresses(a: vec4<f32>, area_a: f32, b: vec4<f32>) -> bool {
    let iw = min(a.z, b.z) - max(a.x, b.x);
    let ih = min(a.w, b.w) - max(a.y, b.y);
    if ((iw <= 0.0 || ih <= 0.0) && p.iou_thr >= 0.0) { return false; }
    let inter = max(iw, 0.0) * max(ih, 0.0);
    let uni = area_a + area(b) - inter;
    return select(0.0, inter / uni, uni > 0.0) > p.iou_thr;
}

// Whether kept row q of the round (if q < nk, same group g) removes the box b.
fn kills_row(q: u32, nk: u32, g: u32, b: vec4<f32>) -> bool {
    if (q >= nk) { return false; }
    let rq = sh_rows[q];
    if (g_meta[rq].x != g) { return false; }
    let bq = g_box[rq];
    return suppresses(bq, area(bq), b);
}

// One of a lane's kept rows: box, area, segment end (0 when the slot is unused).
struct Held {
    b: vec4<f32>,
    a: f32,
    se: u32,
};

fn held(q: u32, nk: u32) -> Held {
    if (q >= nk) { return Held(vec4<f32>(0.0), 0.0, 0u); }
    let r = sh_rows[q];
    let b = g_box[r];
    return Held(b, area(b), g_seg_end[r]);
}

// The bit of the lowest live column of `cand` in word w when one of the held rows removes it.
fn kill_bit(w: u32, cand: u32, h0: Held, h1: Held, h2: Held, h3: Held) -> u32 {
    if (cand == 0u) { return 0u; }
    let b = firstTrailingBit(cand);
    let j = w * 32u + b;
    let bj = g_box[j];
    let k = (j < h0.se && suppresses(h0.b, h0.a, bj)) || (j < h1.se && suppresses(h1.b, h1.a, bj))
        || (j < h2.se && suppresses(h2.b, h2.a, bj)) || (j < h3.se && suppresses(h3.b, h3.a, bj));
    return select(0u, 1u << b, k);
}

@compute @workgroup_size(64)
fn greedy(@builtin(local_invocation_index) lid: u32) {
    var pos = 0u;
    var end = 0u;
    var rounds = 0u;
    if (lid == 0u) {
        pos = g_state[0];
        end = min(pos + p.rows, p.s);
    }
    let lane = lid % 8u;
    let stream = lid / 8u;
    loop {
        if (lid == 0u) {
            var nk = 0u;
            loop {
                if (rounds >= p.rounds || pos >= end || nk >= GB) { break; }
                let w = pos / 32u;
                let live = ~atomicLoad(&g_removed[w]) & (0xffffffffu << (pos % 32u));
                if (live == 0u) { pos = (w + 1u) * 32u; continue; }
                let r = w * 32u + firstTrailingBit(live);
                if (r >= end) { pos = end; break; }
                let g = g_meta[r].x;
                let base = 1u + g * (p.max_kept + 1u);
                let cnt = g_out[base];
                if (cnt >= p.max_kept) { pos = max(g_seg_end[r], r + 1u); continue; }
                pos = r + 1u;
                let br = g_box[r];
                // Four kept rows an iteration: lavapipe's loop limit counts iterations.
                var dead = false;
                for (var q = 0u; q < nk && !dead; q += 4u) {
                    dead = kills_row(q, nk, g, br) || kills_row(q + 1u, nk, g, br) || kills_row(q + 2u, nk, g, br)
                        || kills_row(q + 3u, nk, g, br);
                }
                if (dead) {
                    atomicOr(&g_removed[w], 1u << (r % 32u));
                    continue;
                }
                g_out[base + 1u + cnt] = g_idx[r];
                g_out[base] = cnt + 1u;
                sh_rows[nk] = r;
                nk++;
            }
            rounds++;
            sh_count = nk;
            sh_lo = pos;
        }
        let nk = workgroupUniformLoad(&sh_count);
        if (nk == 0u) { break; }
        let lo = sh_lo;
        let h0 = held(lane, nk);
        let h1 = held(lane + 8u, nk);
        let h2 = held(lane + 16u, nk);
        let h3 = held(lane + 24u, nk);
        // Columns past the round's rows: up to the furthest segment end among its kept rows.
        var hi = 0u;
        for (var q = 0u; q < nk; q++) { hi = max(hi, g_seg_end[sh_rows[q]]); }
        if (hi > lo) {
            let w0 = lo / 32u;
            let w1 = (hi - 1u) / 32u;
            var w = w0 + (stream + NS - w0 % NS) % NS; // first word of this stream >= w0
            for (; w <= w1; w += NS) {
                var cand = ~atomicLoad(&g_removed[w]);
                if (w == w0) { cand &= 0xffffffffu << (lo % 32u); }
                if (w == w1 && (hi % 32u) != 0u) { cand &= 0xffffffffu >> (32u - hi % 32u); }
                var kill = 0u;
                // Four live columns an iteration (lavapipe's loop limit counts iterations).
                while (cand != 0u) {
                    kill |= kill_bit(w, cand, h0, h1, h2, h3);
                    cand &= cand - 1u;
                    kill |= kill_bit(w, cand, h0, h1, h2, h3);
                    cand &= cand - 1u;
                    kill |= kill_bit(w, cand, h0, h1, h2, h3);
                    cand &= cand - 1u;
                    kill |= kill_bit(w, cand, h0, h1, h2, h3);
                    cand &= cand - 1u;
                }
                if (kill != 0u) { atomicOr(&g_removed[w], kill); }
            }
        }
        // Makes the cleared bits visible to thread 0 before its next round.
        storageBarrier();
    }
    if (lid == 0u) { g_state[0] = pos; }
}
