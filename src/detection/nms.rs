//! Non-maximum suppression on the GPU (radix sort, greedy pass over 32-box "removed" bit words), batched over groups; CPU reference.
//!
//! Pipeline (shaders/nms.wgsl), all recorded in the pending encoder with no readback in between:
//! a stable LSD radix sort, 8 bits a pass, 3 dispatches a pass, O(N) work (key: group
//! ascending, score descending, index ascending, so ties are deterministic; it replaced a
//! rank-by-counting sort whose O(N x 512) compares and merges dominated); an optional
//! pre-NMS top-k per group (compacting the survivors into `groups x K` slots); an `init` pass
//! (segment ends, initial "removed" bits); then the greedy pass in a single workgroup, in
//! rounds: thread 0 walks the sorted slots over the "removed" bits a word at a time and decides
//! up to 32 live rows (each against the round's earlier kept rows), then the sweep clears the
//! live later boxes of each kept row's group that it overlaps above the threshold (two barriers
//! a round). Sweep layout for lavapipe: the 8 lanes of a SIMD vector form a stream owning every
//! 8th 32-slot word; each lane holds 4 of the round's kept boxes in registers and the stream
//! walks its live columns together, so one column read serves 32 kept boxes (per-lane gathers
//! of different columns made the earlier layout no faster than the CPU loop). As in the CPU
//! loop, IoUs are only computed between kept rows and still-live columns (bit scan over the
//! live bits, an interval test before the division), so the work follows kept x live pairs
//! rather than N^2, and no N x N mask is ever stored (65,536+ boxes need a few KB of bits).
//! Lavapipe ends an invocation after 65,535 loop iterations (one counter for all its loops), so
//! the greedy pass is split into dispatches that each consider a bounded number of rows and
//! rounds (sized for the worst case, checked by a test of 10,000 disjoint boxes) and hand
//! thread 0's position on in a one-word buffer; dispatches after the end return at once.
//!
//! Batching: every box carries a group id (image x class, dense in `0..num_groups`); the sort
//! makes each group a contiguous segment and the greedy pass only compares boxes of one segment. This is
//! exact (no class-offset trick with its float precision issues) and needs one launch sequence
//! for all groups. Suppression is `IoU > iou_threshold` (strict, as in torchvision). Boxes with
//! a score below `score_threshold` are never kept. NaN scores: the sort flags them in the
//! result buffer and the readback returns an error (the check costs no extra readback).

use crate::error::{Error, Result};
use crate::gpu::{grid_1d, Arg, Gpu, Shader};
use crate::shader;
use crate::tensor::{DType, Tensor};

use super::boxes::{box_rows, BoxF};

static SHADER: Shader = shader!("nms");

/// Streams of the greedy sweep (`NS` in the shader: 8 lanes each).
const GREEDY_STREAMS: usize = 8;
/// Rows thread 0 may keep in one round (`GB` in the shader).
const GREEDY_ROWS_PER_ROUND: usize = 32;
/// Loop iterations one greedy dispatch may spend (lavapipe's limit is 65,535).
const GREEDY_LOOP_BUDGET: usize = 60_000;
/// Most slots (boxes entering the greedy pass) per call: one round's worst-case sweep must fit
/// in lavapipe's loop limit.
pub const MAX_SLOTS: usize = 1 << 19;

/// (rows, rounds) one greedy dispatch may consider / run, half the loop budget each. Thread 0
/// spends at most the word scan, the row and the round's kept rows four at a time (under 14
/// iterations) on a row; a round costs every thread the segment-end loop (32), its stream's
/// words and their live columns four at a time (9 a word) and a little more.
fn greedy_budget(slots: usize) -> (usize, usize) {
    let per = slots.div_ceil(32).div_ceil(GREEDY_STREAMS);
    let round = GREEDY_ROWS_PER_ROUND + per * 9 + 16;
    let rows = GREEDY_LOOP_BUDGET / 2 / 14;
    let rounds = (GREEDY_LOOP_BUDGET / 2 / round).max(1);
    (rows, rounds)
}

/// Elements one radix-sort thread walks (`RB` in the shader).
const RADIX_BLOCK: usize = 128;
/// Most input boxes per call (the radix scan walks `N / RADIX_BLOCK` blocks in one invocation).
pub const MAX_BOXES: usize = 1 << 22;

/// NMS settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NmsConfig {
    /// A box is suppressed by a kept box of its group when their IoU is greater than this.
    pub iou_threshold: f32,
    /// Boxes scoring below this are dropped (`-inf` keeps all).
    pub score_threshold: f32,
    /// At most this many boxes kept per group (`None`: no limit).
    pub max_kept: Option<usize>,
    /// Only the best `k` boxes of each group enter NMS (`None`: all).
    pub pre_top_k: Option<usize>,
}

impl Default for NmsConfig {
    fn default() -> Self {
        NmsConfig { iou_threshold: 0.5, score_threshold: f32::NEG_INFINITY, max_kept: None, pre_top_k: None }
    }
}

impl NmsConfig {
    /// IoU threshold only.
    pub fn iou(t: f32) -> Self {
        NmsConfig { iou_threshold: t, ..Default::default() }
    }
}

/// Mirrors `Params` in shaders/nms.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    s: u32,
    groups: u32,
    has_groups: u32,
    topk: u32,
    max_kept: u32,
    words: u32,
    shift: u32,
    rows: u32,
    iou_thr: f32,
    score_thr: f32,
    mode: u32,
    rounds: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

/// An NMS result still on the GPU: u32 buffer `[1 + groups * (max_kept + 1)]` = NaN flag, then
/// per group its kept count and `max_kept` slots of original box indices, best first.
pub struct NmsResult {
    /// The result buffer (see the type's doc).
    pub out: Tensor,
    /// Number of groups.
    pub groups: usize,
    /// Slots per group.
    pub max_kept: usize,
}

impl NmsResult {
    /// Reads the result back (one readback) and splits it into kept indices per group.
    pub fn read(&self, gpu: &Gpu) -> Result<Vec<Vec<u32>>> {
        parse(&self.out.to_vec_u32(gpu)?, self.groups, self.max_kept)
    }
}

/// Splits a raw result buffer; an error when the NaN flag is set.
pub fn parse(words: &[u32], groups: usize, max_kept: usize) -> Result<Vec<Vec<u32>>> {
    if words.len() != 1 + groups * (max_kept + 1) {
        return Err(Error::shape("nms", format!("result of {} words for {groups} groups", words.len())));
    }
    if words[0] != 0 {
        return Err(Error::invalid("nms", "scores contain NaN"));
    }
    Ok((0..groups)
        .map(|g| {
            let base = 1 + g * (max_kept + 1);
            let cnt = (words[base] as usize).min(max_kept);
            words[base + 1..base + 1 + cnt].to_vec()
        })
        .collect())
}

/// Records GPU NMS of `boxes [N, 4]` with `scores [N]`, optionally grouped by `groups = (ids [N] u32,
/// num_groups)`; the result stays on the GPU. See the module doc.
pub fn nms_gpu(
    gpu: &Gpu,
    boxes: &Tensor,
    scores: &Tensor,
    groups: Option<(&Tensor, usize)>,
    cfg: &NmsConfig,
) -> Result<NmsResult> {
    let n = box_rows("nms", boxes)?;
    if scores.dtype() != DType::F32 || scores.numel() != n {
        return Err(Error::shape("nms", format!("scores {:?} for {n} boxes", scores.shape())));
    }
    let num_groups = groups.map_or(1, |g| g.1);
    if let Some((g, _)) = groups {
        if g.dtype() != DType::U32 || g.numel() != n {
            return Err(Error::shape("nms", format!("group ids {:?} {:?} for {n} boxes", g.shape(), g.dtype())));
        }
    }
    if cfg.iou_threshold.is_nan() || cfg.score_threshold.is_nan() {
        return Err(Error::invalid("nms", "thresholds must not be NaN"));
    }
    let topk = cfg.pre_top_k.unwrap_or(0).min(n);
    let slots = if cfg.pre_top_k.is_some() { num_groups * topk } else { n };
    let max_kept = cfg.max_kept.unwrap_or(if cfg.pre_top_k.is_some() { topk } else { n }).min(slots);
    let out = gpu.zeros(&[1 + num_groups * (max_kept + 1)], DType::U32)?;
    let res = NmsResult { out, groups: num_groups, max_kept };
    if n == 0 || slots == 0 || max_kept == 0 || num_groups == 0 {
        return Ok(res);
    }
    if n > MAX_BOXES || slots > MAX_SLOTS {
        return Err(Error::invalid(
            "nms",
            format!("{n} boxes ({slots} after the pre-NMS top-k): at most {MAX_BOXES} ({MAX_SLOTS})"),
        ));
    }
    let words = slots.div_ceil(32);
    let mut p = Params {
        n: n as u32,
        s: slots as u32,
        groups: num_groups as u32,
        has_groups: groups.is_some() as u32,
        topk: if cfg.pre_top_k.is_some() { topk as u32 } else { 0 },
        max_kept: max_kept as u32,
        words: words as u32,
        shift: 0,
        rows: 0,
        iou_thr: cfg.iou_threshold,
        score_thr: cfg.score_threshold,
        mode: 0,
        rounds: 0,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    let gids = groups.map_or(scores, |g| g.0); // unread when has_groups == 0
                                               // Stable LSD radix sort, 8 bits a pass: 4 score passes, then enough group passes for ids
                                               // up to `num_groups` (ids past it are clamped there and sort last).
    let blocks = n.div_ceil(RADIX_BLOCK);
    let hist = gpu.empty("nms", &[256 * blocks], DType::U32)?;
    let order = [gpu.empty("nms", &[n], DType::U32)?, gpu.empty("nms", &[n], DType::U32)?];
    let group_passes = if groups.is_some() { (32 - (num_groups as u32).leading_zeros()).div_ceil(8) } else { 0 };
    let passes: Vec<(u32, u32)> = (0..4).map(|d| (0, 8 * d)).chain((0..group_passes).map(|d| (1, 8 * d))).collect();
    for (k, &(kind, shift)) in passes.iter().enumerate() {
        p.shift = shift;
        p.mode = kind | if k == 0 { 2 } else { 0 };
        let (src, dst) = (&order[k % 2], &order[(k + 1) % 2]);
        let src = if k == 0 { scores } else { src }; // unread on the first pass
        gpu.dispatch(
            "nms_radix_hist",
            &SHADER,
            "radix_hist",
            &p,
            &[Arg::R(scores), Arg::R(gids), Arg::R(src), Arg::W(&hist), Arg::W(&res.out)],
            grid_1d(blocks, 64),
        )?;
        gpu.dispatch("nms_radix_scan", &SHADER, "radix_scan", &p, &[Arg::W(&hist)], [1, 1, 1])?;
        gpu.dispatch(
            "nms_radix_scatter",
            &SHADER,
            "radix_scatter",
            &p,
            &[Arg::R(scores), Arg::R(gids), Arg::R(src), Arg::W(&hist), Arg::W(dst)],
            grid_1d(blocks, 64),
        )?;
    }
    let [o0, o1] = order;
    let sidx = if passes.len().is_multiple_of(2) { o0 } else { o1 };
    let sbox = gpu.empty("nms", &[n, 4], DType::F32)?;
    let smeta = gpu.empty("nms", &[n, 2], DType::U32)?;
    gpu.dispatch(
        "nms_sort",
        &SHADER,
        "sort_finish",
        &p,
        &[Arg::R(scores), Arg::R(gids), Arg::R(&sidx), Arg::R(boxes), Arg::W(&sbox), Arg::W(&smeta)],
        grid_1d(n, 256),
    )?;
    let (cidx, cbox, cmeta) = if cfg.pre_top_k.is_some() {
        let cidx = gpu.empty("nms", &[slots], DType::U32)?;
        let cbox = gpu.empty("nms", &[slots, 4], DType::F32)?;
        let cmeta = gpu.empty("nms", &[slots, 2], DType::U32)?;
        gpu.dispatch(
            "nms_topk",
            &SHADER,
            "compact",
            &p,
            &[Arg::R(&smeta), Arg::R(&sidx), Arg::R(&sbox), Arg::W(&cidx), Arg::W(&cbox), Arg::W(&cmeta)],
            grid_1d(n, 256),
        )?;
        (cidx, cbox, cmeta)
    } else {
        (sidx, sbox, smeta.clone())
    };
    let seg_end = gpu.empty("nms", &[slots], DType::U32)?;
    let removed = gpu.empty("nms", &[words], DType::U32)?;
    gpu.dispatch(
        "nms_init",
        &SHADER,
        "init",
        &p,
        &[Arg::R(&smeta), Arg::R(&cmeta), Arg::W(&seg_end), Arg::W(&removed)],
        grid_1d(words, 256),
    )?;
    // Lavapipe stops an invocation after 65,535 loop iterations (all loops together): bound the
    // rows and rounds of one greedy dispatch by their worst-case loop counts, and record enough
    // dispatches for the worst case (those past the end return at once).
    let (rows, rounds) = greedy_budget(slots);
    p.rows = rows as u32;
    p.rounds = rounds as u32;
    let most_kept = slots.min(num_groups.saturating_mul(max_kept));
    let dispatches = slots.div_ceil(rows) + most_kept.div_ceil(rounds * GREEDY_ROWS_PER_ROUND);
    let state = gpu.zeros(&[1], DType::U32)?;
    for _ in 0..dispatches {
        gpu.dispatch(
            "nms_greedy",
            &SHADER,
            "greedy",
            &p,
            &[
                Arg::R(&cbox),
                Arg::R(&cidx),
                Arg::R(&cmeta),
                Arg::R(&seg_end),
                Arg::W(&removed),
                Arg::W(&res.out),
                Arg::W(&state),
            ],
            [1, 1, 1],
        )?;
    }
    Ok(res)
}

/// NMS of one set of boxes: kept indices, best first (one readback).
pub fn nms(gpu: &Gpu, boxes: &Tensor, scores: &Tensor, cfg: &NmsConfig) -> Result<Vec<u32>> {
    Ok(nms_gpu(gpu, boxes, scores, None, cfg)?.read(gpu)?.pop().unwrap_or_default())
}

/// NMS per group (`group_ids [N]` u32 in `0..num_groups`, e.g. `image * classes + class`):
/// kept indices of each group, best first (one readback). Boxes of different groups never
/// suppress each other.
pub fn batched_nms(
    gpu: &Gpu,
    boxes: &Tensor,
    scores: &Tensor,
    group_ids: &Tensor,
    num_groups: usize,
    cfg: &NmsConfig,
) -> Result<Vec<Vec<u32>>> {
    nms_gpu(gpu, boxes, scores, Some((group_ids, num_groups)), cfg)?.read(gpu)
}

/// CPU reference: a good single-threaded NMS (sort once, precomputed areas, suppressed flags,
/// early exit at `max_kept`), same key order and strict `>` as the GPU.
pub mod cpu {
    use super::{BoxF, NmsConfig};
    use crate::error::{Error, Result};

    /// NMS of one group: kept indices, best first.
    pub fn nms(boxes: &[BoxF], scores: &[f32], cfg: &NmsConfig) -> Result<Vec<u32>> {
        let groups = vec![0u32; boxes.len()];
        Ok(batched_nms(boxes, scores, &groups, 1, cfg)?.pop().unwrap_or_default())
    }

    /// NMS per group.
    pub fn batched_nms(
        boxes: &[BoxF],
        scores: &[f32],
        groups: &[u32],
        num_groups: usize,
        cfg: &NmsConfig,
    ) -> Result<Vec<Vec<u32>>> {
        if scores.iter().any(|s| s.is_nan()) {
            return Err(Error::invalid("nms", "scores contain NaN"));
        }
        let mut by_group: Vec<Vec<u32>> = vec![Vec::new(); num_groups];
        for (i, &g) in groups.iter().enumerate() {
            if (g as usize) < num_groups {
                by_group[g as usize].push(i as u32);
            }
        }
        let mut out = Vec::with_capacity(num_groups);
        for mut idx in by_group {
            idx.sort_by(|&a, &b| scores[b as usize].partial_cmp(&scores[a as usize]).unwrap().then(a.cmp(&b)));
            if let Some(k) = cfg.pre_top_k {
                idx.truncate(k);
            }
            idx.retain(|&i| scores[i as usize] >= cfg.score_threshold);
            out.push(greedy(boxes, &idx, cfg));
        }
        Ok(out)
    }

    /// Greedy suppression over indices already sorted best first.
    fn greedy(boxes: &[BoxF], order: &[u32], cfg: &NmsConfig) -> Vec<u32> {
        let max_kept = cfg.max_kept.unwrap_or(usize::MAX);
        let b: Vec<BoxF> = order.iter().map(|&i| boxes[i as usize]).collect();
        let areas: Vec<f32> = b.iter().map(super::super::boxes::area).collect();
        let mut removed = vec![false; b.len()];
        let mut kept = Vec::new();
        for i in 0..b.len() {
            if removed[i] {
                continue;
            }
            kept.push(order[i]);
            if kept.len() >= max_kept {
                break;
            }
            let bi = b[i];
            for j in i + 1..b.len() {
                if removed[j] {
                    continue;
                }
                let bj = b[j];
                let iw = (bi[2].min(bj[2]) - bi[0].max(bj[0])).max(0.0);
                let ih = (bi[3].min(bj[3]) - bi[1].max(bj[1])).max(0.0);
                let inter = iw * ih;
                let uni = areas[i] + areas[j] - inter;
                let iou = if uni > 0.0 { inter / uni } else { 0.0 };
                if iou > cfg.iou_threshold {
                    removed[j] = true;
                }
            }
        }
        kept
    }
}

/// Synthetic NMS inputs for tests and benches.
#[doc(hidden)]
pub mod synth {
    use super::BoxF;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `n` boxes jittered around `centres` random centres in `[0, extent)^2` (realistic
    /// overlaps: sizes 8..64 px, jitter a quarter of the size), uniform scores in [0, 1).
    pub fn clustered(seed: u64, n: usize, centres: usize, extent: f32) -> (Vec<BoxF>, Vec<f32>) {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let cs: Vec<(f32, f32, f32)> = (0..centres.max(1))
            .map(|_| (r.gen_range(0.0..extent), r.gen_range(0.0..extent), r.gen_range(8.0..64.0)))
            .collect();
        let mut boxes = Vec::with_capacity(n);
        let mut scores = Vec::with_capacity(n);
        for _ in 0..n {
            let (cx, cy, sz) = cs[r.gen_range(0..cs.len())];
            let mut j = || r.gen_range(-0.25..0.25f32) * sz;
            let (x, y, w, h) = (cx + j(), cy + j(), sz + j(), sz + j());
            boxes.push([x - w / 2.0, y - h / 2.0, x + w / 2.0, y + h / 2.0]);
            scores.push(r.gen_range(0.0..1.0));
        }
        (boxes, scores)
    }
}
