//! Unsupervised lesion categorization: lesion patches, deep features, GPU k-means, LDPO-style refinement, cluster quality.

pub mod kmeans;
pub mod lloyd;
pub mod metrics;
pub mod normalize;
