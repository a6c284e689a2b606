//! Criterion benches of the WGSL kernels beside their CPU references.
fn main() {}
