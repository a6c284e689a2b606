//! The Faster R-CNN lesion detector: config, VGG-16-layout backbone, RPN, RoI head, training and inference.

pub mod bce;
pub mod checkpoint;
pub mod config;

pub use config::Config;
