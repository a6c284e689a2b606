//! Test support shared by the unit and integration tests: a poisoned GPU context, seeded data, error norms.

use std::sync::{Mutex, MutexGuard, OnceLock};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::gpu::{Gpu, GpuOptions};

static GPU: OnceLock<Mutex<Gpu>> = OnceLock::new();

/// The shared test context, NaN-poisoned, locked so that tests forcing a kernel variant or
/// reading counters do not race each other. Panics (tests only) when no adapter exists.
pub fn gpu() -> MutexGuard<'static, Gpu> {
    let m = GPU.get_or_init(|| {
        let g = Gpu::new(GpuOptions { adapter: None, poison: true })
            .unwrap_or_else(|e| panic!("tests need an adapter (run `make test`, which installs lavapipe): {e}"));
        Mutex::new(g)
    });
    let g = m.lock().unwrap_or_else(|p| p.into_inner());
    g.force_variant(None);
    g
}

/// A seeded RNG.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` uniform values in [-1, 1).
pub fn randn(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// Relative L2 error ||got - want|| / max(||want||, 1e-12); infinite when any value is NaN or
/// the lengths differ, so a NaN never passes.
pub fn rel_l2(got: &[f32], want: &[f32]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (g, w) in got.iter().zip(want) {
        if !g.is_finite() || !w.is_finite() {
            return f64::INFINITY;
        }
        num += (*g as f64 - *w as f64).powi(2);
        den += (*w as f64).powi(2);
    }
    if den < 1e-24 {
        return num.sqrt();
    }
    (num / den).sqrt()
}

/// Asserts `rel_l2(got, want) <= tol`, naming the case on failure.
#[track_caller]
pub fn assert_close(case: &str, got: &[f32], want: &[f32], tol: f64) {
    let e = rel_l2(got, want);
    assert!(
        e <= tol,
        "{case}: relative L2 error {e:e} > {tol:e} (len {} vs {}; first values got {:?} want {:?})",
        got.len(),
        want.len(),
        &got[..got.len().min(4)],
        &want[..want.len().min(4)]
    );
}

/// Relative error of an analytic gradient against a finite-difference one (f64), for grad checks.
pub fn grad_rel_err(analytic: &[f64], numeric: &[f64]) -> f64 {
    let num: f64 = analytic.iter().zip(numeric).map(|(a, n)| (a - n).powi(2)).sum::<f64>().sqrt();
    let den: f64 = analytic
        .iter()
        .map(|a| a * a)
        .sum::<f64>()
        .sqrt()
        .max(numeric.iter().map(|a| a * a).sum::<f64>().sqrt())
        .max(1e-12);
    if analytic.iter().chain(numeric).any(|v| !v.is_finite()) {
        return f64::INFINITY;
    }
    num / den
}
