//! The Faster R-CNN lesion detector: config, VGG-16-layout backbone, RPN, RoI head, training and inference.

pub mod bce;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod infer;
pub mod model;
pub mod optim;
pub mod report;
pub mod step;
pub mod train;

pub use config::Config;
pub use model::Network;
