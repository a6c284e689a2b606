// GPU non-maximum suppression, batched over groups (image x class), deterministic.
//  1. sort_local: rank of each box inside its 512-box chunk by key (group asc, score desc, index asc),
//     by counting; flags NaN scores. 2. sort_merge: global rank = local rank + per-chunk binary
//     searches; scatter boxes into sorted order. 3. compact (only with a pre-NMS top-k): sorted box q
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
    shift: u32,       // top-k selection: bit position of the current 8-bit digit
    rows: u32,        // greedy: rows one dispatch may consider
    iou_thr: f32,
    score_thr: f32,
    indirect: u32,    // 1: the sort runs over the candidate list `cand` (count, then box indices)
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

// ---- 1. sort_local ----
@group(0) @binding(1) var<storage, read> l_scores: array<f32>;
@group(0) @binding(2) var<storage, read> l_groups: array<u32>;
@group(0) @binding(3) var<storage, read_write> l_perm: array<u32>; // [2n]: chunk-sorted box indices, then local rank
@group(0) @binding(4) var<storage, read_write> l_flag: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read> l_cand: array<u32>;

// Elements to sort and the box index of element e (all boxes, or the selected candidates).
fn l_count() -> u32 {
    if (p.indirect != 0u) { return l_cand[0]; }
    return p.n;
}

fn l_box(e: u32) -> u32 {
    if (p.indirect != 0u) { return l_cand[1u + e]; }
    return e;
}

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
    let e = linear(gid, nwg);
    let m = l_count();
    if (e >= m) { return; }
    let i = l_box(e);
    if (p.indirect == 0u && is_nan(l_scores[i])) { atomicOr(&l_flag[0], 1u); }
    let c0 = (e / SC) * SC;
    let c1 = min(c0 + SC, m);
    var rank = 0u;
    for (var f = c0; f < c1; f++) {
        if (l_less(l_box(f), i)) { rank++; }
    }
    l_perm[c0 + rank] = i;
    l_perm[p.n + e] = rank;
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

@group(0) @binding(8) var<storage, read> m_cand: array<u32>;

@compute @workgroup_size(256)
fn sort_merge(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = linear(gid, nwg);
    if (e >= p.n) { return; }
    var m = p.n;
    if (p.indirect != 0u) { m = m_cand[0]; }
    if (e >= m) {
        // Unused tail (fewer candidates than boxes): a group past every real one sorts last.
        m_sidx[e] = NONE;
        m_sbox[e] = vec4<f32>(0.0);
        m_smeta[e] = vec2<u32>(NONE, 0u);
        return;
    }
    var i = e;
    if (p.indirect != 0u) { i = m_cand[1u + e]; }
    let own = e / SC;
    var rank = m_perm[p.n + e];
    let chunks = (m + SC - 1u) / SC;
    for (var c = 0u; c < chunks; c++) {
        if (c == own) { continue; }
        let lo = c * SC;
        var a = 0u;
        var b = min(SC, m - lo);
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

// ---- 0. pre-NMS top-k selection (radix select, 3 passes of 8 bits) ----
// key: the score's bits mapped so that u32 order is score order (higher is better). Per group,
// pass d histograms digit d of the keys whose higher digits equal the prefix chosen so far;
// `sel_pick` then finds the digit bin holding the k-th best key. After 3 passes every key whose
// top 24 bits reach the prefix is a candidate: the k best plus at most the ties of one 256-key
// bin (more only with many equal scores, which stays exact, just slower). `sel_compact` lists
// the candidates with an atomic counter: their order in the list is not deterministic, but the
// sort that follows orders them by (group, score, index), so the result is.
fn score_key(v: f32) -> u32 {
    let b = select(bitcast<u32>(v), 0u, v == 0.0); // -0 == +0, as in the sort
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

const ALL: u32 = 0xffffffffu; // sel[g].y when group g has at most k boxes: all are candidates

@group(0) @binding(1) var<storage, read> s_scores: array<f32>;
@group(0) @binding(2) var<storage, read> s_groups: array<u32>;
@group(0) @binding(3) var<storage, read> s_sel: array<vec2<u32>>; // per group: (prefix, remaining k)
@group(0) @binding(4) var<storage, read_write> s_hist: array<atomic<u32>>; // [groups * 256]
@group(0) @binding(5) var<storage, read_write> s_flag: array<atomic<u32>>;

fn s_group(i: u32) -> u32 {
    if (p.has_groups != 0u) { return s_groups[i]; }
    return 0u;
}

@compute @workgroup_size(256)
fn sel_hist(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i >= p.n) { return; }
    let v = s_scores[i];
    if (p.shift == 24u && is_nan(v)) { atomicOr(&s_flag[0], 1u); }
    let g = s_group(i);
    if (g >= p.groups) { return; }
    let key = score_key(v);
    if (p.shift != 24u) {
        let st = s_sel[g];
        if (st.y == ALL || (key >> (p.shift + 8u)) != st.x) { return; }
    }
    atomicAdd(&s_hist[g * 256u + ((key >> p.shift) & 255u)], 1u);
}

@group(0) @binding(1) var<storage, read_write> k_hist: array<u32>;
@group(0) @binding(2) var<storage, read_write> k_sel: array<vec2<u32>>;

// One thread a group: walk the bins from the best digit down to the one holding the k-th key;
// clears the histogram for the next pass.
@compute @workgroup_size(64)
fn sel_pick(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = gid.x + gid.y * nwg.x * 64u;
    if (g >= p.groups) { return; }
    var st = vec2<u32>(0u, p.topk);
    if (p.shift != 24u) { st = k_sel[g]; }
    var found = false;
    for (var b = 255; b >= 0; b--) {
        let c = k_hist[g * 256u + u32(b)];
        k_hist[g * 256u + u32(b)] = 0u;
        if (found || st.y == ALL) { continue; }
        if (c >= st.y) {
            st.x = (st.x << 8u) | u32(b);
            found = true;
        } else {
            st.y -= c;
        }
    }
    if (!found) { st = vec2<u32>(0u, ALL); }
    k_sel[g] = st;
}

@group(0) @binding(4) var<storage, read_write> x_cand: array<atomic<u32>>; // [1 + n]: count, box indices

@compute @workgroup_size(256)
fn sel_compact(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear(gid, nwg);
    if (i >= p.n) { return; }
    let g = s_group(i);
    if (g >= p.groups) { return; }
    let st = s_sel[g];
    if (st.y != ALL && (score_key(s_scores[i]) >> 8u) < st.x) { return; }
    let slot = atomicAdd(&x_cand[0], 1u);
    atomicStore(&x_cand[1u + slot], i);
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

// ---- 5. greedy: one workgroup walks the sorted slots in order, a bounded stretch per dispatch ----
// Thread 0 finds the next live row (word at a time over the "removed" bits; a group holding
// max_kept boxes is skipped to its end) and records it; it publishes the row through workgroup
// memory, and every thread then clears, in the 32-slot words it owns (w % GW == lid), the live
// later boxes of the row's group whose IoU with it is above the threshold. Like the CPU loop it
// only computes IoUs of kept rows against live columns (bit scan over the live bits, an interval
// test before the division), so the work follows N x kept, not N^2.
// Lavapipe ends an invocation after 65,535 loop iterations in all (one counter shared by every
// loop of the shader), so one dispatch considers at most p.rows rows (chosen on the host from
// the words a thread owns) and leaves thread 0's position in g_state for the next dispatch.
const GW: u32 = 256u;

@group(0) @binding(1) var<storage, read> g_box: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g_idx: array<u32>;
@group(0) @binding(3) var<storage, read> g_meta: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read> g_seg_end: array<u32>;
@group(0) @binding(5) var<storage, read_write> g_removed: array<u32>;
@group(0) @binding(6) var<storage, read_write> g_out: array<u32>; // [flag, per group: count, max_kept indices]
@group(0) @binding(7) var<storage, read_write> g_state: array<u32>; // [next row to consider]

var<workgroup> sh_row: u32;

@compute @workgroup_size(256)
fn greedy(@builtin(local_invocation_index) lid: u32) {
    var pos = 0u;
    var end = 0u;
    if (lid == 0u) {
        pos = g_state[0];
        end = min(pos + p.rows, p.s);
    }
    loop {
        if (lid == 0u) {
            var found = NONE;
            loop {
                if (pos >= end) { break; }
                let w = pos / 32u;
                let live = ~g_removed[w] & (0xffffffffu << (pos % 32u));
                if (live == 0u) { pos = (w + 1u) * 32u; continue; }
                let r = w * 32u + firstTrailingBit(live);
                if (r >= end) { pos = end; break; }
                let base = 1u + g_meta[r].x * (p.max_kept + 1u);
                let cnt = g_out[base];
                if (cnt >= p.max_kept) { pos = max(g_seg_end[r], r + 1u); continue; }
                g_out[base + 1u + cnt] = g_idx[r];
                g_out[base] = cnt + 1u;
                pos = r + 1u;
                found = r;
                break;
            }
            sh_row = found;
        }
        let r = workgroupUniformLoad(&sh_row);
        if (r == NONE) { break; }
        let se = g_seg_end[r];
        if (se > r + 1u) {
            let bi = g_box[r];
            let ai = max(bi.z - bi.x, 0.0) * max(bi.w - bi.y, 0.0);
            let w0 = (r + 1u) / 32u;
            let w1 = (se - 1u) / 32u;
            // First owned word >= w0.
            var w = w0 + (lid + GW - w0 % GW) % GW;
            for (; w <= w1; w += GW) {
                var m = 0xffffffffu;
                if (w == w0) { m &= 0xffffffffu << ((r + 1u) % 32u); }
                if (w == w1 && (se % 32u) != 0u) { m &= 0xffffffffu >> (32u - se % 32u); }
                let rem = g_removed[w];
                var live = ~rem & m;
                var kill = 0u;
                while (live != 0u) {
                    let b = firstTrailingBit(live);
                    live &= live - 1u;
                    let bj = g_box[w * 32u + b];
                    let iw = min(bi.z, bj.z) - max(bi.x, bj.x);
                    let ih = min(bi.w, bj.w) - max(bi.y, bj.y);
                    // Disjoint boxes have IoU 0: skip the division unless the threshold is negative.
                    if ((iw <= 0.0 || ih <= 0.0) && p.iou_thr >= 0.0) { continue; }
                    let inter = max(iw, 0.0) * max(ih, 0.0);
                    let uni = ai + max(bj.z - bj.x, 0.0) * max(bj.w - bj.y, 0.0) - inter;
                    if (select(0.0, inter / uni, uni > 0.0) > p.iou_thr) { kill |= 1u << b; }
                }
                if (kill != 0u) { g_removed[w] = rem | kill; }
            }
        }
        // Makes the cleared bits visible to thread 0 before its next scan.
        storageBarrier();
    }
    if (lid == 0u) { g_state[0] = pos; }
}
