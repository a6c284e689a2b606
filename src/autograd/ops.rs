//! Differentiable ops on the tape: elementwise, reshape, bias broadcast, whole-tensor sum/mean and the losses.

use super::{Tape, Var};
use crate::error::{Error, Result};
use crate::ops::{broadcast, elementwise as ew, permute, reduce, smooth_l1, softmax_ce};
use crate::tensor::Tensor;

fn same_shape(op: &str, a: &Var, b: &Var) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::shape(op, format!("{:?} vs {:?}", a.shape(), b.shape())));
    }
    Ok(())
}

impl Tape<'_> {
    /// a + b.
    pub fn add(&self, a: &Var, b: &Var) -> Result<Var> {
        same_shape("add", a, b)?;
        let y = ew::add(self.gpu, a.value(), b.value())?;
        Ok(self.custom_op("add", &[a, b], y, Box::new(|_, dy, _| Ok(vec![Some(dy.clone()), Some(dy.clone())]))))
    }

    /// a * b elementwise.
    pub fn mul(&self, a: &Var, b: &Var) -> Result<Var> {
        same_shape("mul", a, b)?;
        let y = ew::mul(self.gpu, a.value(), b.value())?;
        let (av, bv) = (a.value().clone(), b.value().clone());
        Ok(self.custom_op(
            "mul",
            &[a, b],
            y,
            Box::new(move |gpu, dy, needs| {
                let da = if needs[0] { Some(ew::mul(gpu, dy, &bv)?) } else { None };
                let db = if needs[1] { Some(ew::mul(gpu, dy, &av)?) } else { None };
                Ok(vec![da, db])
            }),
        ))
    }

    /// alpha * x.
    pub fn scale(&self, x: &Var, alpha: f32) -> Result<Var> {
        let y = ew::scale(self.gpu, x.value(), alpha)?;
        Ok(self.custom_op("scale", &[x], y, Box::new(move |gpu, dy, _| Ok(vec![Some(ew::scale(gpu, dy, alpha)?)]))))
    }

    /// max(x, 0).
    pub fn relu(&self, x: &Var) -> Result<Var> {
        let y = ew::relu(self.gpu, x.value())?;
        let xv = x.value().clone();
        Ok(self.custom_op(
            "relu",
            &[x],
            y,
            Box::new(move |gpu, dy, _| Ok(vec![Some(ew::relu_backward(gpu, &xv, dy)?)])),
        ))
    }

    /// The same data with a new shape.
    pub fn reshape(&self, x: &Var, shape: &[usize]) -> Result<Var> {
        let y = x.value().reshape(shape)?;
        let orig = x.shape().to_vec();
        Ok(self.custom_op("reshape", &[x], y, Box::new(move |_, dy, _| Ok(vec![Some(dy.reshape(&orig)?)]))))
    }

    /// Axis permutation (rank <= 4): output axis k is input axis `perm[k]`; e.g. `[0, 2, 3, 1]`
    /// turns NCHW into NHWC.
    pub fn permute(&self, x: &Var, perm: &[usize]) -> Result<Var> {
        let y = permute::permute(self.gpu, x.value(), perm)?;
        let inv = permute::inverse(perm);
        Ok(self.custom_op(
            "permute",
            &[x],
            y,
            Box::new(move |gpu, dy, _| Ok(vec![Some(permute::permute(gpu, dy, &inv)?)])),
        ))
    }

    /// `[N, ...]` to `[N, rest]`.
    pub fn flatten(&self, x: &Var) -> Result<Var> {
        let s = x.shape();
        if s.is_empty() {
            return Err(Error::shape("flatten", "cannot flatten a 0-d tensor"));
        }
        let rest: usize = s[1..].iter().product();
        self.reshape(x, &[s[0], rest])
    }

    /// x + b broadcast along `axis` (b has `x.shape()[axis]` elements).
    pub fn bias_add(&self, x: &Var, b: &Var, axis: usize) -> Result<Var> {
        let y = broadcast::bias_add(self.gpu, x.value(), b.value(), axis)?;
        let bshape = b.shape().to_vec();
        Ok(self.custom_op(
            "bias_add",
            &[x, b],
            y,
            Box::new(move |gpu, dy, needs| {
                let db = if needs[1] { Some(reduce::channel_sum(gpu, dy, axis)?.reshape(&bshape)?) } else { None };
                Ok(vec![needs[0].then(|| dy.clone()), db])
            }),
        ))
    }

    /// Sum along `axis` (removed from the shape; see `ops::reduce::sum`).
    pub fn sum(&self, x: &Var, axis: usize) -> Result<Var> {
        self.axis_sum(x, axis, false)
    }

    /// Mean along `axis`.
    pub fn mean(&self, x: &Var, axis: usize) -> Result<Var> {
        self.axis_sum(x, axis, true)
    }

    fn axis_sum(&self, x: &Var, axis: usize, mean: bool) -> Result<Var> {
        let y = if mean { reduce::mean(self.gpu, x.value(), axis)? } else { reduce::sum(self.gpu, x.value(), axis)? };
        let shape = x.shape().to_vec();
        let scale = if mean { 1.0 / shape[axis] as f32 } else { 1.0 };
        Ok(self.custom_op(
            if mean { "mean" } else { "sum" },
            &[x],
            y,
            Box::new(move |gpu, dy, _| Ok(vec![Some(broadcast::expand_axis(gpu, dy, &shape, axis, scale)?)])),
        ))
    }

    /// The sum of all elements, `[1]`.
    pub fn sum_all(&self, x: &Var) -> Result<Var> {
        self.scaled_sum(x, 1.0)
    }

    /// The mean of all elements, `[1]`.
    pub fn mean_all(&self, x: &Var) -> Result<Var> {
        let n = x.value().numel().max(1);
        self.scaled_sum(x, 1.0 / n as f32)
    }

    fn scaled_sum(&self, x: &Var, scale: f32) -> Result<Var> {
        let y = reduce::sum_all(self.gpu, x.value(), scale)?;
        let shape = x.shape().to_vec();
        Ok(self.custom_op(
            "sum_all",
            &[x],
            y,
            Box::new(move |gpu, dy, _| Ok(vec![Some(broadcast::expand_scalar(gpu, dy, &shape, scale)?)])),
        ))
    }

    /// Softmax cross-entropy of `[N, C]` logits against `labels` (U32/I32 `[N]`), weighted mean over
    /// samples not labelled `ignore` (see `ops::softmax_ce`). Returns a `[1]` loss.
    pub fn softmax_ce(
        &self,
        logits: &Var,
        labels: &Tensor,
        weights: Option<&Tensor>,
        ignore: Option<i32>,
    ) -> Result<Var> {
        let out = softmax_ce::forward(self.gpu, logits.value(), labels, weights, ignore)?;
        let loss = out.loss.clone();
        let (x, l, w) = (logits.value().clone(), labels.clone(), weights.cloned());
        Ok(self.custom_op(
            "softmax_ce",
            &[logits],
            loss,
            Box::new(move |gpu, dy, _| {
                Ok(vec![Some(softmax_ce::backward(gpu, &x, &l, w.as_ref(), ignore, &out, dy)?)])
            }),
        ))
    }

    /// Smooth-L1 (Fast R-CNN sigma form) of `pred` against the constant `target` with per-element
    /// `weights`, divided by `normaliser`. Returns a `[1]` loss; the gradient flows to `pred` only.
    pub fn smooth_l1(
        &self,
        pred: &Var,
        target: &Tensor,
        weights: Option<&Tensor>,
        sigma: f32,
        normaliser: f32,
    ) -> Result<Var> {
        let loss = smooth_l1::forward(self.gpu, pred.value(), target, weights, sigma, normaliser)?;
        let (p, t, w) = (pred.value().clone(), target.clone(), weights.cloned());
        Ok(self.custom_op(
            "smooth_l1",
            &[pred],
            loss,
            Box::new(move |gpu, dy, _| {
                Ok(vec![Some(smooth_l1::backward(gpu, &p, &t, w.as_ref(), sigma, normaliser, dy)?)])
            }),
        ))
    }
}
