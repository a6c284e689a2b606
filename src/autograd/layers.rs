//! Differentiable layer ops on the tape: matmul (either operand transposed), linear, conv2d (+bias), max-pool 2d.

use super::{Tape, Var};
use crate::error::{Error, Result};
use crate::ops::conv2d::{self, Conv2dParams};
use crate::ops::matmul;
use crate::ops::maxpool::{self, MaxPool2dParams};

impl Tape<'_> {
    /// op(a) @ op(b) where op transposes when asked: `a` is `[m, k]` (`[k, m]` if `trans_a`), `b` is
    /// `[k, n]` (`[n, k]` if `trans_b`).
    pub fn matmul(&self, a: &Var, b: &Var, trans_a: bool, trans_b: bool) -> Result<Var> {
        let y = matmul::matmul(self.gpu, a.value(), b.value(), trans_a, trans_b)?;
        let (av, bv) = (a.value().clone(), b.value().clone());
        Ok(self.custom_op(
            "matmul",
            &[a, b],
            y,
            Box::new(move |gpu, dy, needs| {
                // C = op(A) op(B): each case's gradients written as one matmul without explicit transposes.
                let da = if !needs[0] {
                    None
                } else {
                    Some(match (trans_a, trans_b) {
                        (false, false) => matmul::matmul(gpu, dy, &bv, false, true)?, // dC B^T
                        (false, true) => matmul::matmul(gpu, dy, &bv, false, false)?, // dC B
                        (true, false) => matmul::matmul(gpu, &bv, dy, false, true)?,  // B dC^T
                        (true, true) => matmul::matmul(gpu, &bv, dy, true, true)?,    // B^T dC^T
                    })
                };
                let db = if !needs[1] {
                    None
                } else {
                    Some(match (trans_a, trans_b) {
                        (false, false) => matmul::matmul(gpu, &av, dy, true, false)?, // A^T dC
                        (false, true) => matmul::matmul(gpu, dy, &av, true, false)?,  // dC^T A
                        (true, false) => matmul::matmul(gpu, &av, dy, false, false)?, // A dC
                        (true, true) => matmul::matmul(gpu, dy, &av, true, true)?,    // dC^T A^T
                    })
                };
                Ok(vec![da, db])
            }),
        ))
    }

    /// x @ w^T + b for `x` `[N, in]`, `w` `[out, in]` (PyTorch's layout), `b` `[out]`.
    pub fn linear(&self, x: &Var, w: &Var, b: Option<&Var>) -> Result<Var> {
        if x.shape().len() != 2 || w.shape().len() != 2 || x.shape()[1] != w.shape()[1] {
            return Err(Error::shape("linear", format!("x {:?}, weight {:?}", x.shape(), w.shape())));
        }
        let y = self.matmul(x, w, false, true)?;
        match b {
            Some(b) => self.bias_add(&y, b, 1),
            None => Ok(y),
        }
    }

    /// 2-d convolution of NCHW `x` with `w` `[out, in, kh, kw]` and an optional bias `[out]`.
    pub fn conv2d(&self, x: &Var, w: &Var, b: Option<&Var>, params: Conv2dParams) -> Result<Var> {
        let y = conv2d::conv2d_forward(self.gpu, x.value(), w.value(), b.map(|b| b.value()), params)?;
        let (xv, wv) = (x.value().clone(), w.value().clone());
        let mut inputs = vec![x, w];
        inputs.extend(b);
        Ok(self.custom_op(
            "conv2d",
            &inputs,
            y,
            Box::new(move |gpu, dy, needs| {
                let dx =
                    if needs[0] { Some(conv2d::conv2d_backward_data(gpu, dy, &wv, xv.shape(), params)?) } else { None };
                let dw = if needs[1] {
                    Some(conv2d::conv2d_backward_weight(gpu, &xv, dy, wv.shape(), params)?)
                } else {
                    None
                };
                let mut out = vec![dx, dw];
                if needs.len() > 2 {
                    out.push(if needs[2] { Some(conv2d::conv2d_backward_bias(gpu, dy)?) } else { None });
                }
                Ok(out)
            }),
        ))
    }

    /// Max-pool 2d of NCHW `x`; the backward routes each gradient to the arg-max the forward saved.
    pub fn maxpool2d(&self, x: &Var, params: MaxPool2dParams) -> Result<Var> {
        let (y, argmax) = maxpool::maxpool2d_forward(self.gpu, x.value(), params)?;
        let xshape = x.shape().to_vec();
        Ok(self.custom_op(
            "maxpool2d",
            &[x],
            y,
            Box::new(move |gpu, dy, _| Ok(vec![Some(maxpool::maxpool2d_backward(gpu, dy, &argmax, &xshape, params)?)])),
        ))
    }
}
