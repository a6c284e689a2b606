//! One training forward (RPN and RoI-head targets, the four losses) and batched inference, on a [`Network`].

use rand_chacha::ChaCha8Rng;

use super::bce;
use super::config::RoiOp;
use super::model::Network;
use crate::autograd::{Tape, Var};
use crate::detection::boxes::{cpu as box_cpu, BoxCoder, BoxF};
use crate::detection::targets::{cpu_assign_targets, MatchConfig};
use crate::detection::{self, AnchorConfig, NmsConfig, ProposalConfig, RoiAlignConfig};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::{DType, Tensor};

/// Ground truth of one image in network-input pixels; classes start at 1.
#[derive(Debug, Clone, Default)]
pub struct ImageTargets {
    pub boxes: Vec<BoxF>,
    pub classes: Vec<u32>,
}

/// The four loss parts (the total is their sum).
pub struct Losses {
    pub total: Var,
    /// rpn cls, rpn box, head cls, head box: each a `[1]` variable.
    pub parts: [Var; 4],
}

/// Names of the loss parts, in `Losses::parts` order.
pub const LOSS_NAMES: [&str; 4] = ["rpn_cls", "rpn_box", "head_cls", "head_box"];

/// One detected box in network-input pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct RawDetection {
    pub bbox: BoxF,
    pub score: f32,
    /// Foreground class, 0-based.
    pub class: u32,
}

impl Network {
    fn anchor_config(&self) -> AnchorConfig {
        AnchorConfig {
            scales: self.cfg.rpn.anchor_scales.clone(),
            ratios: self.cfg.rpn.anchor_ratios.clone(),
            stride: self.cfg.stride() as f32,
        }
    }

    fn proposal_config(&self, train: bool) -> ProposalConfig {
        let r = &self.cfg.rpn;
        ProposalConfig {
            pre_nms_top_n: if train { r.pre_nms_train } else { r.pre_nms_test },
            post_nms_top_n: if train { r.post_nms_train } else { r.post_nms_test },
            nms_iou: r.nms_iou,
            min_size: r.min_size,
            coder: BoxCoder::default(),
        }
    }

    /// RoI pooling / RoIAlign as a differentiable op of the features.
    fn roi_features(&self, tape: &Tape, features: &Var, rois: &Tensor) -> Result<Var> {
        let s = self.cfg.model.roi_size;
        let scale = 1.0 / self.cfg.stride() as f32;
        let fshape = features.shape().to_vec();
        let rois_c = rois.clone();
        match self.cfg.model.roi_op {
            RoiOp::Pool => {
                let (out, argmax) = detection::roi_pool_forward(tape.gpu(), features.value(), rois, s, s, scale)?;
                Ok(tape.custom_op(
                    "roi_pool",
                    &[features],
                    out,
                    Box::new(move |gpu, dy, _| {
                        Ok(vec![Some(detection::roi_pool_backward(gpu, dy, &argmax, &fshape, &rois_c, scale)?)])
                    }),
                ))
            }
            RoiOp::Align => {
                let cfg = RoiAlignConfig { out_h: s, out_w: s, spatial_scale: scale, sampling_ratio: 2, aligned: true };
                let out = detection::roi_align_forward(tape.gpu(), features.value(), rois, &cfg)?;
                Ok(tape.custom_op(
                    "roi_align",
                    &[features],
                    out,
                    Box::new(move |gpu, dy, _| {
                        Ok(vec![Some(detection::roi_align_backward(gpu, dy, &fshape, &rois_c, &cfg)?)])
                    }),
                ))
            }
        }
    }

    /// Sum of weighted BCE of objectness logits against 0/1 targets (weights carry the normaliser).
    fn bce_loss(tape: &Tape, logits: &Var, y: Tensor, w: Tensor) -> Result<Var> {
        let per = bce::forward(tape.gpu(), logits.value(), &y, &w)?;
        let x = logits.value().clone();
        let v = tape.custom_op(
            "bce_logits",
            &[logits],
            per,
            Box::new(move |gpu, dy, _| Ok(vec![Some(bce::backward(gpu, &x, &y, &w, dy)?)])),
        );
        tape.sum_all(&v)
    }

    /// The training forward on `images [N, 3, S, S]` with per-image targets: RPN targets from the
    /// anchors, proposals (one readback), sampled RoIs with class-specific box targets, the four losses.
    #[allow(clippy::needless_range_loop)] // k indexes anchors, targets and outputs together
    pub fn train_forward(
        &self,
        tape: &Tape,
        images: &Tensor,
        targets: &[ImageTargets],
        rngs: &mut [ChaCha8Rng],
    ) -> Result<Losses> {
        let gpu = tape.gpu();
        let [n, _, ih, iw] = image_dims(images)?;
        if targets.len() != n || rngs.len() != n {
            return Err(Error::shape(
                "train_forward",
                format!("{n} images, {} target sets, {} random streams", targets.len(), rngs.len()),
            ));
        }
        let rpn = self.rpn(tape, images)?;
        let fs = rpn.objectness.shape().to_vec();
        let (a, fh, fw) = (fs[1], fs[2], fs[3]);
        let hw = fh * fw;
        let acfg = self.anchor_config();
        let anchors = acfg.grid(fh, fw);
        let anchors_t = crate::detection::boxes::upload(gpu, &anchors)?;

        // RPN targets, laid out like the NCHW outputs: anchor k = (y * W + x) * A + a.
        let mut mcfg = MatchConfig::rpn(iw as f32, ih as f32);
        mcfg.pos_iou = self.cfg.rpn.pos_iou;
        mcfg.neg_iou_hi = self.cfg.rpn.neg_iou;
        mcfg.batch_size = self.cfg.rpn.anchors_per_image;
        mcfg.pos_fraction = self.cfg.rpn.pos_fraction;
        let border = self.cfg.rpn.straddle_border;
        mcfg.inside = (border >= 0.0).then_some((iw as f32, ih as f32, border));
        let mut obj_y = vec![0f32; n * a * hw];
        let mut obj_w = vec![0f32; n * a * hw];
        let mut del_t = vec![0f32; n * 4 * a * hw];
        let mut del_w = vec![0f32; n * 4 * a * hw];
        let mut sampled = 0usize;
        let mut per_image = Vec::with_capacity(n);
        for (t, rng) in targets.iter().zip(rngs.iter_mut()) {
            let ones = vec![1u32; t.boxes.len()];
            let tg = cpu_assign_targets(&anchors, &t.boxes, &ones, &mcfg, rng)?;
            sampled += tg.num_pos + tg.num_neg;
            per_image.push(tg);
        }
        let norm = 1.0 / sampled.max(1) as f32;
        for (b, tg) in per_image.iter().enumerate() {
            for k in 0..anchors.len() {
                if tg.weights[k] == 0.0 {
                    continue;
                }
                let (cell, ai) = (k / a, k % a);
                let o = b * a * hw + ai * hw + cell;
                obj_y[o] = (tg.labels[k] > 0) as u8 as f32;
                obj_w[o] = norm;
                if tg.labels[k] > 0 {
                    for j in 0..4 {
                        let d = b * 4 * a * hw + (4 * ai + j) * hw + cell;
                        del_t[d] = tg.reg_targets[k][j];
                        del_w[d] = tg.reg_weights[k][j] * norm;
                    }
                }
            }
        }
        let rpn_cls = Self::bce_loss(
            tape,
            &rpn.objectness,
            gpu.upload(&[n, a, fh, fw], &obj_y)?,
            gpu.upload(&[n, a, fh, fw], &obj_w)?,
        )?;
        let rpn_box = tape.smooth_l1(
            &rpn.deltas,
            &gpu.upload(&[n, 4 * a, fh, fw], &del_t)?,
            Some(&gpu.upload(&[n, 4 * a, fh, fw], &del_w)?),
            3.0,
            1.0,
        )?;

        // Proposals (readback), then RoI sampling with the ground truths appended.
        let props = detection::proposals(
            gpu,
            rpn.objectness.value(),
            rpn.deltas.value(),
            &anchors_t,
            (iw as f32, ih as f32),
            &self.proposal_config(true),
        )?;
        let c1 = self.num_classes + 1;
        let mut hcfg = MatchConfig::roi_head();
        hcfg.pos_iou = self.cfg.roi.fg_iou;
        hcfg.neg_iou_hi = self.cfg.roi.fg_iou;
        hcfg.neg_iou_lo = self.cfg.roi.bg_iou_lo;
        hcfg.batch_size = self.cfg.roi.rois_per_image;
        hcfg.pos_fraction = self.cfg.roi.fg_fraction;
        hcfg.coder = BoxCoder { weights: self.cfg.roi.box_weights, ..BoxCoder::roi_head() };
        let (mut rois, mut labels, mut bt, mut bw) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (b, t) in targets.iter().enumerate() {
            let mut cand: Vec<BoxF> = props.boxes.get(b).cloned().unwrap_or_default();
            cand.extend(t.boxes.iter().copied());
            let tg = cpu_assign_targets(&cand, &t.boxes, &t.classes, &hcfg, &mut rngs[b])?;
            for k in 0..cand.len() {
                if tg.weights[k] == 0.0 {
                    continue;
                }
                rois.extend([b as f32, cand[k][0], cand[k][1], cand[k][2], cand[k][3]]);
                let l = tg.labels[k].max(0) as usize;
                labels.push(l as i32);
                let mut row_t = vec![0f32; 4 * c1];
                let mut row_w = vec![0f32; 4 * c1];
                if l > 0 {
                    for j in 0..4 {
                        row_t[4 * l + j] = tg.reg_targets[k][j];
                        row_w[4 * l + j] = tg.reg_weights[k][j];
                    }
                }
                bt.extend(row_t);
                bw.extend(row_w);
            }
        }
        let r = labels.len();
        if r == 0 {
            return Err(Error::invalid("train_forward", "no RoI was sampled (no proposals and no ground truth)"));
        }
        let rois_t = gpu.upload(&[r, 5], &rois)?;
        let pooled = self.roi_features(tape, &rpn.features, &rois_t)?;
        let (logits, deltas) = self.head(tape, &pooled)?;
        let head_cls = tape.softmax_ce(&logits, &gpu.upload_i32(&[r], &labels)?, None, None)?;
        let head_box = tape.smooth_l1(
            &deltas,
            &gpu.upload(&[r, 4 * c1], &bt)?,
            Some(&gpu.upload(&[r, 4 * c1], &bw)?),
            1.0,
            r as f32,
        )?;
        let total = tape.add(&tape.add(&rpn_cls, &rpn_box)?, &tape.add(&head_cls, &head_box)?)?;
        Ok(Losses { total, parts: [rpn_cls, rpn_box, head_cls, head_box] })
    }

    /// Detections of a batch in network-input pixels: per RoI the lesion score is the max over
    /// foreground classes (softmax), the box is that class's regression; then class-agnostic NMS.
    pub fn detect(&self, gpu: &Gpu, images: &Tensor) -> Result<Vec<Vec<RawDetection>>> {
        let [n, _, ih, iw] = image_dims(images)?;
        let tape = Tape::new(gpu);
        let rpn = self.rpn(&tape, images)?;
        let fs = rpn.objectness.shape().to_vec();
        let anchors_t = crate::detection::boxes::upload(gpu, &self.anchor_config().grid(fs[2], fs[3]))?;
        let props = detection::proposals(
            gpu,
            rpn.objectness.value(),
            rpn.deltas.value(),
            &anchors_t,
            (iw as f32, ih as f32),
            &self.proposal_config(false),
        )?;
        let mut out = vec![Vec::new(); n];
        let rows = detection::Proposals::roi_rows(&props.boxes);
        let r = rows.len() / 5;
        if r == 0 {
            return Ok(out);
        }
        let rois_t = gpu.upload(&[r, 5], &rows)?;
        let pooled = self.roi_features(&tape, &rpn.features, &rois_t)?;
        let (logits, deltas) = self.head(&tape, &pooled)?;
        let c1 = self.num_classes + 1;
        // Class logits and deltas in one readback.
        let (nl, nd) = (logits.value().numel(), deltas.value().numel());
        let both = gpu.empty("detect", &[nl + nd], DType::F32)?;
        gpu.copy_region(logits.value(), 0, &both, 0, nl)?;
        gpu.copy_region(deltas.value(), 0, &both, nl, nd)?;
        let mut logits = both.to_vec(gpu)?;
        let deltas = logits.split_off(nl);
        let coder = BoxCoder { weights: self.cfg.roi.box_weights, ..BoxCoder::roi_head() };
        let (mut boxes, mut scores, mut classes, mut images_of) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..r {
            let l = &logits[i * c1..(i + 1) * c1];
            let m = l.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = l.iter().map(|v| (v - m).exp()).collect();
            let z: f32 = e.iter().sum();
            let (mut best, mut bs) = (1usize, f32::NEG_INFINITY);
            for (c, &ev) in e.iter().enumerate().skip(1) {
                if ev / z > bs {
                    bs = ev / z;
                    best = c;
                }
            }
            if !bs.is_finite() {
                return Err(Error::Training(format!("non-finite detection score at RoI {i}")));
            }
            if bs < self.cfg.test.score_threshold {
                continue;
            }
            let d = &deltas[i * 4 * c1 + 4 * best..i * 4 * c1 + 4 * best + 4];
            let roi: BoxF = [rows[i * 5 + 1], rows[i * 5 + 2], rows[i * 5 + 3], rows[i * 5 + 4]];
            let b = box_cpu::decode_one(&roi, &[d[0], d[1], d[2], d[3]], &coder, Some((iw as f32, ih as f32)));
            boxes.push(b);
            scores.push(bs);
            classes.push(best as u32 - 1);
            images_of.push(rows[i * 5] as u32);
        }
        if boxes.is_empty() {
            return Ok(out);
        }
        let nms_cfg = NmsConfig {
            iou_threshold: self.cfg.test.nms_iou,
            max_kept: Some(self.cfg.test.max_per_image),
            ..NmsConfig::default()
        };
        let kept = detection::batched_nms(
            gpu,
            &crate::detection::boxes::upload(gpu, &boxes)?,
            &gpu.upload(&[scores.len()], &scores)?,
            &gpu.upload_u32(&[images_of.len()], &images_of)?,
            n,
            &nms_cfg,
        )?;
        for (img, ks) in kept.into_iter().enumerate() {
            for k in ks {
                let k = k as usize;
                out[img].push(RawDetection { bbox: boxes[k], score: scores[k], class: classes[k] });
            }
        }
        Ok(out)
    }
}

fn image_dims(images: &Tensor) -> Result<[usize; 4]> {
    let s = images.shape();
    if s.len() != 4 || images.dtype() != DType::F32 {
        return Err(Error::shape("detector", format!("images must be [N, 3, H, W] f32, got {s:?}")));
    }
    Ok([s[0], s[1], s[2], s[3]])
}
