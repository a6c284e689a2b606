// GPU non-maximum suppression, batched over groups (image x class), deterministic.
//  1. sort_local: rank of each box inside its 512-box chunk by key (group asc, score desc, index asc),
//     by counting; flags NaN scores. 2. sort_merge: global rank = local rank + per-chunk binary
//     searches; scatter boxes into sorted order. 3. compact (only with a pre-NMS top-k): sorted box q
//     of group g goes to slot g * K + q when q < K. 4. init: segment end of each slot and the
//     initial "removed" bits (empty slots, scores below the threshold). 5. per chunk of rows: mask
//     (IoU > threshold bits against later boxes of the same group, 32 to a u32 word; rows already
//     removed are skipped) then greedy (one thread walks the chunk in order, keeps a box unless
//     removed, ORs its mask row into "removed", stops a group at max_kept).

struct Params {
    n: u32,           // input boxes
    s: u32,           // slots (n, or groups * topk)
    groups: u32,      // number of groups; boxes with a group id >= groups are dropped
    has_groups: u32,  // 0: every box is in group 0
    topk: u32,        // pre-NMS top-k per group, 0 for none
    max_kept: u32,    // per group
    words: u32,       // ceil(s / 32)
    chunk_start: u32,
    chunk_rows: u32,
    iou_thr: f32,
    score_thr: f32,
    _pad: u32,
};

@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;
const SC: u32 = 512u; // sort chunk
const NONE: u32 = 0xffffffffu;

fn linear(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

fn is_nan(v: f32) -> bool {
    let b = bitcast<u32>(v);
    return (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0u;
}

fn iou(a: vec4<f32>, b: vec4<f32>) -> f32 {
    let iw = max(min(a.z, b.z) - max(a.x, b.x), 0.0);
    let ih = max(min(a.w, b.w) - max(a.y, b.y), 0.0);
    let inter = iw * ih;
    let uni = max(a.z - a.x, 0.0) * max(a.w - a.y, 0.0) + max(b.z - b.x, 0.0) * max(b.w - b.y, 0.0) - inter;
    return select(0.0, inter / uni, uni > 0.0);
}

// ---- 1. sort_local ----
@group(0) @binding(1) var<storage, read> l_scores: array<f32>;
@group(0) @binding(2) var<storage, read> l_groups: array<u32>;
@group(0) @binding(3) var<storage, read_write> l_perm: array<u32>; // [2n]: chunk-sorted perm, then local rank
@group(0) @binding(4) var<storage, read_write> l_flag: array<atomic<u32>>;

fn l_less(j: u32, i: u32) -> bool {
    var gj = 0u;
    var gi = 0u;
    if (p.has_groups != 0u) { gj = l_groups[j]; gi = l_groups[i]; }
    if (gj != gi) { return gj < gi; }
    let sj = l_scores[j];
    let si = l_scores[i];
    if (sj != si) { return sj > si; }
    return j < i;
}

@compute @workgroup_size(256)
fn sort_local(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i >= p.n) { return; }
    if (is_nan(l_scores[i])) { atomicOr(&l_flag[0], 1u); }
    let c0 = (i / SC) * SC;
    let c1 = min(c0 + SC, p.n);
    var rank = 0u;
    for (var j = c0; j < c1; j++) {
        if (l_less(j, i)) { rank++; }
    }
    l_perm[c0 + rank] = i;
    l_perm[p.n + i] = rank;
}

// ---- 2. sort_merge ----
@group(0) @binding(1) var<storage, read> m_scores: array<f32>;
@group(0) @binding(2) var<storage, read> m_groups: array<u32>;
@group(0) @binding(3) var<storage, read> m_perm: array<u32>;
@group(0) @binding(4) var<storage, read> m_boxes: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> m_sidx: array<u32>;
@group(0) @binding(6) var<storage, read_write> m_sbox: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> m_smeta: array<vec2<u32>>; // (group, score bits)

fn m_group(i: u32) -> u32 {
    if (p.has_groups != 0u) { return m_groups[i]; }
    return 0u;
}

fn m_less(j: u32, i: u32) -> bool {
    let gj = m_group(j);
    let gi = m_group(i);
    if (gj != gi) { return gj < gi; }
    let sj = m_scores[j];
    let si = m_scores[i];
    if (sj != si) { return sj > si; }
    return j < i;
}

@compute @workgroup_size(256)
fn sort_merge(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i >= p.n) { return; }
    let own = i / SC;
    var rank = m_perm[p.n + i];
    let chunks = (p.n + SC - 1u) / SC;
    for (var c = 0u; c < chunks; c++) {
        if (c == own) { continue; }
        let lo = c * SC;
        var a = 0u;
        var b = min(SC, p.n - lo);
        while (a < b) {
            let mid = (a + b) / 2u;
            if (m_less(m_perm[lo + mid], i)) { a = mid + 1u; } else { b = mid; }
        }
        rank += a;
    }
    m_sidx[rank] = i;
    m_sbox[rank] = m_boxes[i];
    m_smeta[rank] = vec2<u32>(m_group(i), bitcast<u32>(m_scores[i]));
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

// ---- 5a. mask: one thread a (row, 32-column word) of the chunk ----
@group(0) @binding(1) var<storage, read> k_box: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k_seg_end: array<u32>;
@group(0) @binding(3) var<storage, read> k_removed: array<u32>;
@group(0) @binding(4) var<storage, read_write> k_mask: array<u32>;

@compute @workgroup_size(256)
fn mask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = linear(gid, nwg);
    let w0 = p.chunk_start / 32u;
    let span = p.words - w0;
    if (t >= p.chunk_rows * span) { return; }
    let lr = t / span;
    let row = p.chunk_start + lr;
    let cw = w0 + t % span;
    if (row >= p.s) { return; }
    if (((k_removed[row / 32u] >> (row % 32u)) & 1u) != 0u) { return; }
    let se = k_seg_end[row];
    if (cw < row / 32u || cw * 32u >= se) { return; }
    let rb = k_box[row];
    let rem = k_removed[cw];
    var bits = 0u;
    for (var b = 0u; b < 32u; b++) {
        let j = cw * 32u + b;
        if (j <= row || j >= se || ((rem >> b) & 1u) != 0u) { continue; }
        if (iou(rb, k_box[j]) > p.iou_thr) { bits |= 1u << b; }
    }
    k_mask[lr * p.words + cw] = bits;
}

// ---- 5b. greedy: one thread walks the chunk, resolving suppression inside the chunk only ----
// (A single invocation must stay short: lavapipe stops an invocation after about 65k loop
// iterations, so columns past the chunk are updated by the parallel `apply` pass.)
@group(0) @binding(1) var<storage, read> g_idx: array<u32>;
@group(0) @binding(2) var<storage, read> g_meta: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> g_seg_end: array<u32>;
@group(0) @binding(4) var<storage, read> g_mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> g_removed: array<u32>;
@group(0) @binding(6) var<storage, read_write> g_out: array<u32>; // [flag, per group: count, max_kept indices]
@group(0) @binding(7) var<storage, read_write> g_kept: array<u32>; // [count, chunk-local rows kept]

@compute @workgroup_size(1)
fn greedy() {
    let end = min(p.chunk_start + p.chunk_rows, p.s);
    let end_word = (end - 1u) / 32u;
    var nk = 0u;
    for (var row = p.chunk_start; row < end; row++) {
        if (((g_removed[row / 32u] >> (row % 32u)) & 1u) != 0u) { continue; }
        let base = 1u + g_meta[row].x * (p.max_kept + 1u);
        let cnt = g_out[base];
        g_out[base + 1u + cnt] = g_idx[row];
        g_out[base] = cnt + 1u;
        let se = g_seg_end[row];
        if (se <= row + 1u) { continue; }
        let lr = row - p.chunk_start;
        if (cnt + 1u >= p.max_kept) {
            // The group is full: remove the rest of its segment, a word at a time.
            let a = row + 1u;
            let wa = a / 32u;
            let wb = (se - 1u) / 32u;
            for (var w = wa; w <= wb; w++) {
                var m = 0xffffffffu;
                if (w == wa) { m &= 0xffffffffu << (a % 32u); }
                if (w == wb && (se % 32u) != 0u) { m &= 0xffffffffu >> (32u - se % 32u); }
                g_removed[w] |= m;
            }
            continue;
        }
        g_kept[1u + nk] = lr;
        nk++;
        let last = min((se - 1u) / 32u, end_word);
        for (var w = row / 32u; w <= last; w++) {
            g_removed[w] |= g_mask[lr * p.words + w];
        }
    }
    g_kept[0] = nk;
}

// ---- 5c. apply: one thread a word past the chunk ORs in the masks of the rows kept in the chunk ----
@group(0) @binding(1) var<storage, read> a_kept: array<u32>;
@group(0) @binding(2) var<storage, read> a_seg_end: array<u32>;
@group(0) @binding(3) var<storage, read> a_mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> a_removed: array<u32>;

@compute @workgroup_size(256)
fn apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let w = (p.chunk_start + p.chunk_rows) / 32u + linear(gid, nwg);
    if (w >= p.words) { return; }
    var acc = a_removed[w];
    let nk = a_kept[0];
    for (var q = 0u; q < nk; q++) {
        let lr = a_kept[1u + q];
        let se = a_seg_end[p.chunk_start + lr];
        if (w * 32u < se) { acc |= a_mask[lr * p.words + w]; }
    }
    a_removed[w] = acc;
}
