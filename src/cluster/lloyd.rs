//! The k-means control loop shared by the GPU engine and the CPU reference: input checks, k-means++
//! seeding, grouping by label, empty-cluster re-seeding, stopping rules and restarts.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// k-means settings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct KMeansConfig {
    /// Number of clusters.
    pub k: usize,
    /// Iteration cap per restart.
    pub max_iter: usize,
    /// Stop when at most this fraction of points changed cluster in an iteration.
    pub tol_change: f64,
    /// Stop when the inertia changed by at most this fraction of its previous value.
    pub tol_inertia: f64,
    /// Independent k-means++ starts; the lowest inertia wins (ties: the earliest).
    pub restarts: usize,
    /// Seed of restart r is `seed + r`.
    pub seed: u64,
}

impl Default for KMeansConfig {
    fn default() -> Self {
        KMeansConfig { k: 8, max_iter: 100, tol_change: 1e-4, tol_inertia: 1e-6, restarts: 3, seed: 0 }
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Stop {
    /// Fewer than `tol_change` of the points moved.
    Labels,
    /// The inertia moved by less than `tol_inertia` relative.
    Inertia,
    /// `max_iter` reached.
    MaxIter,
}

/// The outcome of k-means: labels and distances are those of the final centroids.
#[derive(Debug, Clone)]
pub struct KMeansResult {
    pub labels: Vec<u32>,
    /// Squared distance of each point to its centroid.
    pub dists: Vec<f32>,
    /// k x d, row-major.
    pub centroids: Vec<f32>,
    /// Sum of squared distances (accumulated in f64, in point order).
    pub inertia: f64,
    /// Assignment passes run in the winning restart.
    pub iterations: usize,
    pub stop: Stop,
    /// Which restart won.
    pub restart: usize,
    /// Empty clusters re-seeded over the winning run.
    pub reseeded: usize,
    /// Inertia after each assignment of the winning run.
    pub history: Vec<f64>,
}

/// Point indices grouped by label (`order[offsets[c]..offsets[c + 1]]` ascending) and, for each empty
/// cluster, the point that re-seeds it (`NONE` = keep the centroid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups {
    pub order: Vec<u32>,
    pub offsets: Vec<u32>,
    pub reseed: Vec<u32>,
}

/// "No re-seed" marker in `Groups::reseed` (matches the shader).
pub const NONE: u32 = u32::MAX;

impl Groups {
    /// Counting sort by label; empty clusters take the farthest points (largest distance first, ties by
    /// index), each point used once and only points at a positive distance (a point sitting on a
    /// centroid would just duplicate it).
    pub fn from_labels(labels: &[u32], dists: &[f32], k: usize) -> Groups {
        let mut counts = vec![0u32; k + 1];
        for &l in labels {
            counts[l as usize + 1] += 1;
        }
        for c in 0..k {
            counts[c + 1] += counts[c];
        }
        let offsets = counts.clone();
        let mut next = counts;
        let mut order = vec![0u32; labels.len()];
        for (i, &l) in labels.iter().enumerate() {
            order[next[l as usize] as usize] = i as u32;
            next[l as usize] += 1;
        }
        let empties: Vec<usize> = (0..k).filter(|&c| offsets[c] == offsets[c + 1]).collect();
        let mut reseed = vec![NONE; k];
        if !empties.is_empty() {
            let mut far: Vec<u32> = (0..labels.len() as u32).filter(|&i| dists[i as usize] > 0.0).collect();
            far.sort_by(|&a, &b| dists[b as usize].total_cmp(&dists[a as usize]).then(a.cmp(&b)));
            for (c, &i) in empties.iter().zip(&far) {
                reseed[*c] = i;
            }
        }
        Groups { order, offsets, reseed }
    }

    /// Clusters re-seeded by this grouping.
    pub fn reseeded(&self) -> usize {
        self.reseed.iter().filter(|&&r| r != NONE).count()
    }
    /// Empty clusters (re-seeded or not).
    pub fn empty(&self) -> usize {
        self.offsets.windows(2).filter(|w| w[0] == w[1]).count()
    }
}

/// One k-means engine: assigns points to its current centroids and updates them from groups.
pub trait LloydStep {
    /// Labels and squared distances for the current centroids.
    fn assign(&mut self) -> Result<(Vec<u32>, Vec<f32>)>;
    /// New centroids: each cluster's mean, or the re-seed row for empty ones.
    fn update(&mut self, groups: &Groups) -> Result<()>;
    /// Current centroids, k x d.
    fn centroids(&self) -> Result<Vec<f32>>;
}

/// Checks points before clustering: non-empty, consistent length, every value finite, 1 <= k <= n.
/// NaN or infinite features are an error naming the first bad row and column.
pub fn validate(data: &[f32], n: usize, d: usize, k: usize) -> Result<()> {
    if n == 0 || d == 0 {
        return Err(Error::invalid("kmeans", format!("no data to cluster ({n} points of dimension {d})")));
    }
    if data.len() != n * d {
        return Err(Error::shape("kmeans", format!("{} values for {n} points of dimension {d}", data.len())));
    }
    if k == 0 {
        return Err(Error::invalid("kmeans", "k must be at least 1"));
    }
    if k > n {
        return Err(Error::invalid("kmeans", format!("k = {k} is larger than the number of points ({n})")));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "kmeans",
            format!("feature {} of point {} is {} (NaN/inf features cannot be clustered)", i % d, i / d, data[i]),
        ));
    }
    Ok(())
}

fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum()
}

/// k-means++ seeding (Arthur & Vassilvitskii): first centre uniform, then each next centre drawn with
/// probability proportional to the squared distance to the nearest chosen one. Duplicates are fine; an
/// error when fewer than k distinct points exist (every remaining distance is 0).
pub fn kmeans_pp(data: &[f32], n: usize, d: usize, k: usize, seed: u64) -> Result<Vec<f32>> {
    validate(data, n, d, k)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let mut centres = Vec::with_capacity(k * d);
    let first = rng.gen_range(0..n);
    centres.extend_from_slice(row(first));
    let mut best: Vec<f64> = (0..n).map(|i| sq_dist(row(i), row(first))).collect();
    for c in 1..k {
        let total: f64 = best.iter().sum();
        if total <= 0.0 {
            return Err(Error::invalid(
                "kmeans",
                format!("only {c} distinct points among {n}: cannot seed k = {k} clusters"),
            ));
        }
        let mut target = rng.gen::<f64>() * total;
        let mut pick = n - 1;
        for (i, &b) in best.iter().enumerate() {
            if b > 0.0 && target < b {
                pick = i;
                break;
            }
            target -= b;
        }
        // Rounding can run past the end: fall back to the last point with positive weight.
        if best[pick] <= 0.0 {
            pick = best.iter().rposition(|&b| b > 0.0).unwrap_or(pick);
        }
        centres.extend_from_slice(row(pick));
        for (i, b) in best.iter_mut().enumerate() {
            *b = b.min(sq_dist(row(i), row(pick)));
        }
    }
    Ok(centres)
}

/// Runs Lloyd iterations on `step` until a stopping rule fires.
pub fn lloyd(step: &mut dyn LloydStep, n: usize, k: usize, cfg: &KMeansConfig) -> Result<KMeansResult> {
    let mut prev: Option<Vec<u32>> = None;
    let mut history: Vec<f64> = Vec::new();
    let mut reseeded = 0;
    let max_iter = cfg.max_iter.max(1);
    for it in 1..=max_iter {
        let (labels, dists) = step.assign()?;
        let inertia: f64 = dists.iter().map(|&v| v as f64).sum();
        if !inertia.is_finite() {
            return Err(Error::Training(format!("k-means inertia became {inertia} at iteration {it}")));
        }
        let groups = Groups::from_labels(&labels, &dists, k);
        let stop = match (&prev, history.last()) {
            _ if groups.reseeded() > 0 => None, // never stop with a cluster that can still be filled
            (Some(p), Some(&last)) => {
                let changed = p.iter().zip(&labels).filter(|(a, b)| a != b).count() as f64 / n as f64;
                let rel = (last - inertia).abs() / last.max(f64::MIN_POSITIVE);
                if changed <= cfg.tol_change {
                    Some(Stop::Labels)
                } else if rel <= cfg.tol_inertia {
                    Some(Stop::Inertia)
                } else {
                    None
                }
            }
            _ => None,
        };
        history.push(inertia);
        let stop = stop.or(if it == max_iter { Some(Stop::MaxIter) } else { None });
        if let Some(stop) = stop {
            return Ok(KMeansResult {
                labels,
                dists,
                centroids: step.centroids()?,
                inertia,
                iterations: it,
                stop,
                restart: 0,
                reseeded,
                history,
            });
        }
        reseeded += groups.reseeded();
        step.update(&groups)?;
        prev = Some(labels);
    }
    unreachable!("the last iteration always stops")
}

/// Builds an engine from initial centroids (k x d).
pub type StepFactory<'a> = dyn FnMut(&[f32]) -> Result<Box<dyn LloydStep + 'a>> + 'a;

/// Restarts from k-means++ seeds `cfg.seed + r`, keeping the lowest inertia. `make_step` builds an
/// engine from initial centroids (k x d).
pub fn restarts<'a>(
    data: &[f32],
    n: usize,
    d: usize,
    cfg: &KMeansConfig,
    make_step: &mut StepFactory<'a>,
) -> Result<KMeansResult> {
    validate(data, n, d, cfg.k)?;
    let mut best: Option<KMeansResult> = None;
    for r in 0..cfg.restarts.max(1) {
        let init = kmeans_pp(data, n, d, cfg.k, cfg.seed.wrapping_add(r as u64))?;
        let mut step = make_step(&init)?;
        let mut res = lloyd(step.as_mut(), n, cfg.k, cfg)?;
        res.restart = r;
        if best.as_ref().is_none_or(|b| res.inertia < b.inertia) {
            best = Some(res);
        }
    }
    Ok(best.expect("at least one restart"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_sort_by_label_and_reseed_from_the_farthest() {
        let g = Groups::from_labels(&[2, 0, 2, 0, 2], &[1.0, 0.0, 5.0, 3.0, 5.0], 4);
        assert_eq!(g.offsets, vec![0, 2, 2, 5, 5]);
        assert_eq!(g.order, vec![1, 3, 0, 2, 4]);
        // Empty clusters 1 and 3 take points 2 and 4 (distance 5, ties by index).
        assert_eq!(g.reseed, vec![NONE, 2, NONE, 4]);
        assert_eq!((g.reseeded(), g.empty()), (2, 2));
    }

    #[test]
    fn validation_names_the_problem() {
        let e = validate(&[0.0, 1.0], 2, 1, 3).unwrap_err().to_string();
        assert!(e.contains("larger than the number of points"), "{e}");
        let e = validate(&[0.0, f32::NAN, 1.0, 2.0], 2, 2, 1).unwrap_err().to_string();
        assert!(e.contains("feature 1 of point 0"), "{e}");
        assert!(validate(&[], 0, 2, 1).is_err());
        assert!(validate(&[1.0], 1, 1, 0).is_err());
    }

    #[test]
    fn seeding_needs_k_distinct_points() {
        let data = [1.0, 1.0, 1.0, 1.0, 2.0, 2.0];
        assert!(kmeans_pp(&data, 3, 2, 2, 0).is_ok());
        let e = kmeans_pp(&data, 3, 2, 3, 0).unwrap_err().to_string();
        assert!(e.contains("only 2 distinct points"), "{e}");
        // Same seed, same centres.
        assert_eq!(kmeans_pp(&data, 3, 2, 2, 7).unwrap(), kmeans_pp(&data, 3, 2, 2, 7).unwrap());
    }
}
