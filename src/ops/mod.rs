//! GPU ops: one module per op family, each with its params struct, launcher and CPU reference.

pub mod broadcast;
pub mod conv2d;
pub mod conv2d_3x3;
pub mod conv2d_gemm;
pub mod elementwise;
pub mod init;
pub mod matmul;
pub mod maxpool;
pub mod permute;
pub mod reduce;
pub mod sgd;
pub mod smooth_l1;
pub mod softmax_ce;
