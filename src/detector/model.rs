//! The Faster R-CNN network: VGG-16-layout backbone (stride 8), RPN, RoI head; parameters in one named store.
//!
//! Parameter names: `backbone.conv{b}_{j}` (b = 1..5, j = 1..), `rpn.conv`, `rpn.cls`, `rpn.box`,
//! `head.conv6`/`head.conv7` or `head.fc6`/`head.fc7`, `head.cls`, `head.box` (each `.weight`,
//! `.bias`). The backbone maps onto torchvision's VGG-16 `features.{i}` (see [`torchvision_name`]).

use crate::autograd::{Tape, Var};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::{Conv2d, Linear, Module, ParamStore};
use crate::ops::init::Init;
use crate::ops::maxpool::MaxPool2dParams;
use crate::tensor::Tensor;

use super::config::{Config, HeadKind};

/// The layers after RoI pooling.
enum Head {
    Conv { conv6: Conv2d, conv7: Conv2d },
    Fc { fc6: Linear, fc7: Linear },
}

/// The network. `num_classes` counts foreground classes; the classifier has `num_classes + 1` outputs.
pub struct Network {
    pub cfg: Config,
    pub num_classes: usize,
    pub store: ParamStore,
    blocks: Vec<Vec<Conv2d>>,
    rpn_conv: Conv2d,
    rpn_cls: Conv2d,
    rpn_box: Conv2d,
    head: Head,
    cls: Linear,
    bbox: Linear,
    /// Channels of the backbone output.
    pub feat_channels: usize,
}

/// RPN outputs in NCHW: `objectness [N, A, H, W]` logits, `deltas [N, 4A, H, W]`.
pub struct RpnOut {
    pub features: Var,
    pub objectness: Var,
    pub deltas: Var,
}

#[allow(clippy::too_many_arguments)]
fn conv_init(
    gpu: &Gpu,
    store: &mut ParamStore,
    name: &str,
    cin: usize,
    cout: usize,
    k: usize,
    pad: usize,
    init: Init,
) -> Result<Conv2d> {
    let weight = store.add_init(gpu, &format!("{name}.weight"), &[cout, cin, k, k], init)?;
    let bias = Some(store.add_zeros(gpu, &format!("{name}.bias"), &[cout])?);
    Ok(Conv2d { weight, bias, stride: 1, pad })
}

/// torchvision VGG-16 `features.{i}` index of backbone conv `j` (0-based) of block `b` (0-based).
pub fn torchvision_index(b: usize, j: usize) -> usize {
    [0, 5, 10, 17, 24][b] + 2 * j
}

/// torchvision's name of a backbone parameter (`backbone.conv3_2.weight` -> `features.12.weight`).
pub fn torchvision_name(b: usize, j: usize, what: &str) -> String {
    format!("features.{}.{what}", torchvision_index(b, j))
}

impl Network {
    /// Builds the network with seeded initial weights (Kaiming for convs, N(0, 0.01) for the RPN
    /// and classifier outputs, N(0, 0.001) for box regression, as in Faster R-CNN).
    pub fn new(gpu: &Gpu, cfg: &Config, num_classes: usize) -> Result<Network> {
        cfg.validate().map_err(|m| Error::invalid("detector", m))?;
        if num_classes == 0 {
            return Err(Error::invalid("detector", "at least one foreground class"));
        }
        let mut store = ParamStore::new(cfg.train.seed);
        let mut blocks = Vec::new();
        let mut cin = 3;
        for (b, &n) in cfg.model.convs_per_block.iter().enumerate() {
            let cout = cfg.block_channels(b);
            let mut convs = Vec::new();
            for j in 0..n {
                convs.push(Conv2d::new(
                    gpu,
                    &mut store,
                    &format!("backbone.conv{}_{}", b + 1, j + 1),
                    cin,
                    cout,
                    3,
                    1,
                    1,
                )?);
                cin = cout;
            }
            blocks.push(convs);
        }
        let feat_channels = cin;
        let a = cfg.anchors_per_cell();
        let rc = ((cfg.rpn.channels as f32 * cfg.model.width).round() as usize).max(8);
        let rpn_conv = conv_init(gpu, &mut store, "rpn.conv", feat_channels, rc, 3, 1, Init::Normal { std: 0.01 })?;
        let rpn_cls = conv_init(gpu, &mut store, "rpn.cls", rc, a, 1, 0, Init::Normal { std: 0.01 })?;
        let prior = cfg.rpn.prior_prob;
        if prior > 0.0 {
            // Start the objectness at the positives' prior so the first steps need not drive every
            // logit down through the hidden layer (that kills its ReLUs; RetinaNet's prior init).
            let b = store.get(rpn_cls.bias.expect("conv_init adds a bias")).value.clone();
            crate::ops::elementwise::fill(gpu, &b, -((1.0 - prior) / prior).ln())?;
        }
        let rpn_box = conv_init(gpu, &mut store, "rpn.box", rc, 4 * a, 1, 0, Init::Normal { std: 0.01 })?;
        let hc = ((cfg.model.head_channels as f32 * cfg.model.width).round() as usize).max(16);
        let s = cfg.model.roi_size;
        let (head, hidden) = match cfg.model.head {
            HeadKind::Conv => {
                if s < 7 {
                    return Err(Error::invalid("detector", "the conv6/conv7 head needs model.roi_size >= 7"));
                }
                // conv6 3x3 and conv7 5x5 without padding: 7x7 -> 5x5 -> 1x1 (for roi_size 7).
                let conv6 = conv_init(gpu, &mut store, "head.conv6", feat_channels, hc, 3, 0, Init::KaimingNormal)?;
                let conv7 = conv_init(gpu, &mut store, "head.conv7", hc, hc, 5, 0, Init::KaimingNormal)?;
                let side = s - 6;
                (Head::Conv { conv6, conv7 }, hc * side * side)
            }
            HeadKind::Fc => {
                let fc6 = Linear::new(gpu, &mut store, "head.fc6", feat_channels * s * s, hc)?;
                let fc7 = Linear::new(gpu, &mut store, "head.fc7", hc, hc)?;
                (Head::Fc { fc6, fc7 }, hc)
            }
        };
        let cls = Linear::with_init(gpu, &mut store, "head.cls", hidden, num_classes + 1, Init::Normal { std: 0.01 })?;
        let bbox =
            Linear::with_init(gpu, &mut store, "head.box", hidden, 4 * (num_classes + 1), Init::Normal { std: 0.001 })?;
        for b in 0..cfg.model.frozen_blocks.min(blocks.len()) {
            store.set_frozen(&format!("backbone.conv{}_", b + 1), true);
        }
        Ok(Network {
            cfg: cfg.clone(),
            num_classes,
            store,
            blocks,
            rpn_conv,
            rpn_cls,
            rpn_box,
            head,
            cls,
            bbox,
            feat_channels,
        })
    }

    /// Loads torchvision VGG-16 weights (`features.{i}.weight/bias`) into the backbone, where the
    /// shapes agree (full width); returns how many tensors were loaded.
    pub fn load_torchvision(&self, gpu: &Gpu, ck: &super::checkpoint::Checkpoint) -> Result<usize> {
        let mut n = 0;
        for (b, convs) in self.blocks.iter().enumerate() {
            for j in 0..convs.len() {
                for what in ["weight", "bias"] {
                    let tv = torchvision_name(b, j, what);
                    let ours = format!("backbone.conv{}_{}.{what}", b + 1, j + 1);
                    let (shape, data) = ck.tensors.get(&tv).ok_or_else(|| {
                        Error::invalid("pretrained", format!("tensor {tv} (for {ours}) missing from the weights file"))
                    })?;
                    self.store.load(gpu, &ours, Some(shape), data)?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Backbone: conv+ReLU blocks with a 2x2 max-pool after each of the first three (stride 8).
    pub fn backbone(&self, tape: &Tape, x: &Var) -> Result<Var> {
        let mut h = x.clone();
        for (b, convs) in self.blocks.iter().enumerate() {
            for c in convs {
                h = tape.relu(&c.forward(tape, &self.store, &h)?)?;
            }
            if b < 3 && b + 1 < self.blocks.len() {
                h = tape.maxpool2d(&h, MaxPool2dParams { kernel: 2, stride: 2, pad: 0 })?;
            }
        }
        Ok(h)
    }

    /// Backbone and RPN on a batch `images [N, 3, S, S]`.
    pub fn rpn(&self, tape: &Tape, images: &Tensor) -> Result<RpnOut> {
        let features = self.backbone(tape, &tape.input(images))?;
        let r = tape.relu(&self.rpn_conv.forward(tape, &self.store, &features)?)?;
        let objectness = self.rpn_cls.forward(tape, &self.store, &r)?;
        let deltas = self.rpn_box.forward(tape, &self.store, &r)?;
        Ok(RpnOut { features, objectness, deltas })
    }

    /// Head on pooled RoI features `[R, C, s, s]`: (class logits `[R, C+1]`, deltas `[R, 4(C+1)]`).
    pub fn head(&self, tape: &Tape, pooled: &Var) -> Result<(Var, Var)> {
        let h = match &self.head {
            Head::Conv { conv6, conv7 } => {
                let h = tape.relu(&conv6.forward(tape, &self.store, pooled)?)?;
                let h = tape.relu(&conv7.forward(tape, &self.store, &h)?)?;
                tape.flatten(&h)?
            }
            Head::Fc { fc6, fc7 } => {
                let h = tape.flatten(pooled)?;
                let h = tape.relu(&fc6.forward(tape, &self.store, &h)?)?;
                tape.relu(&fc7.forward(tape, &self.store, &h)?)?
            }
        };
        Ok((self.cls.forward(tape, &self.store, &h)?, self.bbox.forward(tape, &self.store, &h)?))
    }
}
