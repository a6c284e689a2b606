//! The DeepLesion data layer: DL_info.csv reader, 16-bit slices, preprocessing, RECIST mining, synthetic generator, loader.
//!
//! Stable entry points: [`Dataset::open`] (with [`LoadOptions`], returning a [`LoadSummary`]),
//! [`Dataset::images`] per [`Split`], and [`preprocess::load_image`] giving a
//! [`PreparedImage`] (CHW floats + boxes in its frame).

pub mod dataset;
pub mod dl_info;
pub mod loader;
pub mod preprocess;
pub mod recist;
pub mod slice;
pub mod stats;
pub mod synth;
pub mod view;

pub use dataset::{Dataset, ImageRecord, LoadOptions, LoadSummary};
pub use dl_info::{type_name, LesionRecord, SkipKind, Skipped, Split, TYPE_NAMES};
pub use loader::{Batch, Loader};
pub use preprocess::{load_image, PreparedImage, PreprocessConfig, Window};
