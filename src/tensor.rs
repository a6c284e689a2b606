//! Tensor: shape on the host, data in a pooled GPU buffer (f32 NCHW, or u32/i32 for indices and labels).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::pool::PooledBuffer;
use crate::gpu::Gpu;

/// Element type; all are 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    U32,
    I32,
}

/// An n-d array on the GPU. Cloning shares the buffer; the buffer returns to the pool when the
/// last clone drops.
#[derive(Clone)]
pub struct Tensor {
    shape: Vec<usize>,
    dtype: DType,
    buf: Arc<PooledBuffer>,
}

impl Tensor {
    pub(crate) fn from_parts(shape: Vec<usize>, dtype: DType, buf: PooledBuffer) -> Tensor {
        Tensor { shape, dtype, buf: Arc::new(buf) }
    }

    /// The shape, outermost first (NCHW for images).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// The underlying wgpu buffer (may be larger than the tensor: pooled by size class).
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.buf.raw()
    }
    /// Whether two tensors share storage.
    pub fn same_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf)
    }

    /// Same data, new shape (element counts must agree).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if shape.iter().product::<usize>() != self.numel() {
            return Err(Error::shape("reshape", format!("{:?} to {:?}", self.shape, shape)));
        }
        Ok(Tensor { shape: shape.to_vec(), dtype: self.dtype, buf: self.buf.clone() })
    }

    /// Reads f32 data back (submits pending work).
    pub fn to_vec(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        if self.dtype != DType::F32 {
            return Err(Error::invalid("to_vec", format!("tensor is {:?}, not F32", self.dtype)));
        }
        Ok(bytemuck::pod_collect_to_vec(&gpu.read_bytes(self)?))
    }

    /// Reads u32 data back.
    pub fn to_vec_u32(&self, gpu: &Gpu) -> Result<Vec<u32>> {
        if self.dtype == DType::F32 {
            return Err(Error::invalid("to_vec_u32", "tensor is F32"));
        }
        Ok(bytemuck::pod_collect_to_vec(&gpu.read_bytes(self)?))
    }

    /// Reads i32 data back.
    pub fn to_vec_i32(&self, gpu: &Gpu) -> Result<Vec<i32>> {
        if self.dtype == DType::F32 {
            return Err(Error::invalid("to_vec_i32", "tensor is F32"));
        }
        Ok(bytemuck::pod_collect_to_vec(&gpu.read_bytes(self)?))
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({:?}, {:?})", self.shape, self.dtype)
    }
}
