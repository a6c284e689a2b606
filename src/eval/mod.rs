//! DeepLesion evaluation: the detections file, the FROC protocol of the public code, metrics and charts.

pub mod detections;
pub mod froc;
pub mod ground_truth;
pub mod metrics;
pub mod plot;

pub use detections::Detection;
pub use froc::{Convention, Criterion};
pub use metrics::{evaluate, EvalOptions, GtLesion, Metrics};
