//! Unsupervised lesion categorization: lesion patches, deep features, GPU k-means, LDPO-style refinement, cluster quality.

pub mod features;
pub mod kmeans;
pub mod ldpo;
pub mod lloyd;
pub mod metrics;
pub mod normalize;
pub mod patches;
pub mod pipeline;
pub mod report;

pub use ldpo::{KChoice, LdpoConfig, LdpoReport};
pub use pipeline::{run, ClusterConfig, PatchConfig};
