//! Cluster quality against reference labels: confusion table, purity, NMI, adjusted Rand index, Hungarian matching, silhouette.

use crate::error::{Error, Result};

/// Counts of (cluster, class) pairs: `counts[c][t]` lesions of cluster `c` with true class `t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confusion {
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    /// Builds the table for `pred[i] < k_pred`, `truth[i] < k_true`.
    pub fn new(pred: &[usize], truth: &[usize], k_pred: usize, k_true: usize) -> Result<Confusion> {
        if pred.len() != truth.len() {
            return Err(Error::shape("confusion", format!("{} predictions vs {} labels", pred.len(), truth.len())));
        }
        let mut counts = vec![vec![0u64; k_true]; k_pred];
        for (i, (&p, &t)) in pred.iter().zip(truth).enumerate() {
            if p >= k_pred || t >= k_true {
                return Err(Error::invalid(
                    "confusion",
                    format!("item {i}: cluster {p} / class {t} outside {k_pred} x {k_true}"),
                ));
            }
            counts[p][t] += 1;
        }
        Ok(Confusion { counts })
    }

    /// Total count.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }
    fn row_sums(&self) -> Vec<u64> {
        self.counts.iter().map(|r| r.iter().sum()).collect()
    }
    fn col_sums(&self) -> Vec<u64> {
        let kt = self.counts.first().map_or(0, |r| r.len());
        (0..kt).map(|t| self.counts.iter().map(|r| r[t]).sum()).collect()
    }

    /// Fraction of items whose cluster's majority class is their class; 0 when empty.
    pub fn purity(&self) -> f64 {
        let n = self.total();
        if n == 0 {
            return 0.0;
        }
        self.counts.iter().map(|r| r.iter().copied().max().unwrap_or(0)).sum::<u64>() as f64 / n as f64
    }

    /// Normalised mutual information I(U;V) / ((H(U) + H(V)) / 2) (the arithmetic normalisation,
    /// scikit-learn's default). 1 when both partitions are a single block (nothing to tell apart).
    pub fn nmi(&self) -> f64 {
        let n = self.total() as f64;
        if n == 0.0 {
            return 0.0;
        }
        let h = |sums: &[u64]| -> f64 {
            sums.iter().filter(|&&s| s > 0).map(|&s| -(s as f64 / n) * (s as f64 / n).ln()).sum()
        };
        let (rs, cs) = (self.row_sums(), self.col_sums());
        let (hu, hv) = (h(&rs), h(&cs));
        let mut mi = 0.0;
        for (c, row) in self.counts.iter().enumerate() {
            for (t, &nij) in row.iter().enumerate() {
                if nij > 0 {
                    let nij = nij as f64;
                    mi += nij / n * (nij * n / (rs[c] as f64 * cs[t] as f64)).ln();
                }
            }
        }
        let denom = (hu + hv) / 2.0;
        if denom <= 0.0 {
            return 1.0;
        }
        (mi / denom).clamp(0.0, 1.0)
    }

    /// Adjusted Rand index (Hubert & Arabie). 1 when the expected and maximum index coincide
    /// (both partitions trivial), as scikit-learn does.
    pub fn ari(&self) -> f64 {
        let c2 = |x: u64| (x as f64) * (x as f64 - 1.0) / 2.0;
        let n = self.total();
        let sum_ij: f64 = self.counts.iter().flatten().map(|&x| c2(x)).sum();
        let sum_a: f64 = self.row_sums().into_iter().map(c2).sum();
        let sum_b: f64 = self.col_sums().into_iter().map(c2).sum();
        let total = c2(n);
        if total == 0.0 {
            return 1.0;
        }
        let expected = sum_a * sum_b / total;
        let max = (sum_a + sum_b) / 2.0;
        if (max - expected).abs() < 1e-12 {
            return 1.0;
        }
        (sum_ij - expected) / (max - expected)
    }

    /// CSV: header `cluster,<class names...>,total`, one row per cluster.
    pub fn to_csv(&self, class_names: &[&str]) -> String {
        let mut s = String::from("cluster");
        for name in class_names {
            s.push(',');
            s.push_str(name);
        }
        s.push_str(",total\n");
        for (c, row) in self.counts.iter().enumerate() {
            s.push_str(&c.to_string());
            for v in row {
                s.push_str(&format!(",{v}"));
            }
            s.push_str(&format!(",{}\n", row.iter().sum::<u64>()));
        }
        s
    }

    /// A fixed-width table for the terminal.
    pub fn to_table(&self, class_names: &[&str]) -> String {
        let w = class_names.iter().map(|n| n.len()).max().unwrap_or(0).max(6) + 1;
        let mut s = format!("{:>8}", "cluster");
        for name in class_names {
            s.push_str(&format!("{name:>w$}"));
        }
        s.push_str(&format!("{:>w$}\n", "total"));
        for (c, row) in self.counts.iter().enumerate() {
            s.push_str(&format!("{c:>8}"));
            for v in row {
                s.push_str(&format!("{v:>w$}"));
            }
            s.push_str(&format!("{:>w$}\n", row.iter().sum::<u64>()));
        }
        s
    }
}

/// Purity, NMI and ARI of `pred` against `truth` in one go.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Scores {
    pub purity: f64,
    pub nmi: f64,
    pub ari: f64,
}

/// Scores of a clustering against reference classes.
pub fn scores(pred: &[usize], truth: &[usize], k_pred: usize, k_true: usize) -> Result<Scores> {
    let c = Confusion::new(pred, truth, k_pred, k_true)?;
    Ok(Scores { purity: c.purity(), nmi: c.nmi(), ari: c.ari() })
}

/// Minimum-cost assignment on a rectangular `rows x cols` cost matrix (`rows <= cols`), the
/// O(rows^2 cols) Hungarian method with potentials. Returns the column of each row.
pub fn hungarian_min(cost: &[Vec<f64>]) -> Result<Vec<usize>> {
    let n = cost.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let m = cost[0].len();
    if cost.iter().any(|r| r.len() != m) || n > m {
        return Err(Error::shape("hungarian", format!("need a rectangular matrix with rows <= cols, got {n} rows")));
    }
    if cost.iter().flatten().any(|v| !v.is_finite()) {
        return Err(Error::invalid("hungarian", "non-finite cost"));
    }
    // 1-based arrays as in the classic formulation; column 0 is a virtual start.
    let inf = f64::INFINITY;
    let (mut u, mut v) = (vec![0.0; n + 1], vec![0.0; m + 1]);
    let mut p = vec![0usize; m + 1]; // p[j]: row matched to column j
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![inf; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut assign = vec![0usize; n];
    for j in 1..=m {
        if p[j] > 0 {
            assign[p[j] - 1] = j - 1;
        }
    }
    Ok(assign)
}

/// Maps the clusters of `cur` onto those of `prev` (both in 0..k) so that the overlap is
/// largest: returns `map` with `map[cur_cluster] = prev_cluster`, a permutation of 0..k.
pub fn match_clusters(prev: &[usize], cur: &[usize], k: usize) -> Result<Vec<usize>> {
    let c = Confusion::new(cur, prev, k, k)?;
    let cost: Vec<Vec<f64>> = c.counts.iter().map(|r| r.iter().map(|&x| -(x as f64)).collect()).collect();
    hungarian_min(&cost)
}

/// Fraction of items whose cluster changed between `prev` and `cur` after the best matching.
pub fn change_fraction(prev: &[usize], cur: &[usize], k: usize) -> Result<f64> {
    if prev.is_empty() {
        return Ok(0.0);
    }
    let map = match_clusters(prev, cur, k)?;
    let changed = prev.iter().zip(cur).filter(|(&p, &c)| map[c] != p).count();
    Ok(changed as f64 / prev.len() as f64)
}

/// Mean silhouette coefficient (Euclidean) of rows `x` (`n x d`) labelled `labels` in 0..k. Items in
/// singleton clusters score 0 (Rousseeuw's convention). Errors when fewer than 2 clusters are used.
pub fn silhouette(x: &[f32], d: usize, labels: &[usize], k: usize) -> Result<f64> {
    let n = labels.len();
    if d == 0 || x.len() != n * d {
        return Err(Error::shape("silhouette", format!("{} values for {n} rows of {d}", x.len())));
    }
    let mut sizes = vec![0usize; k];
    for &l in labels {
        if l >= k {
            return Err(Error::invalid("silhouette", format!("label {l} >= k {k}")));
        }
        sizes[l] += 1;
    }
    if sizes.iter().filter(|&&s| s > 0).count() < 2 {
        return Err(Error::invalid("silhouette", "needs at least 2 non-empty clusters"));
    }
    let mut total = 0.0;
    let mut sums = vec![0.0f64; k];
    for i in 0..n {
        sums.iter_mut().for_each(|s| *s = 0.0);
        let xi = &x[i * d..(i + 1) * d];
        for j in 0..n {
            if i != j {
                let xj = &x[j * d..(j + 1) * d];
                let dist: f64 = xi.iter().zip(xj).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>().sqrt();
                sums[labels[j]] += dist;
            }
        }
        let own = labels[i];
        if sizes[own] <= 1 {
            continue;
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(|c| sums[c] / sizes[c] as f64)
            .fold(f64::INFINITY, f64::min);
        let s = if a.max(b) > 0.0 { (b - a) / a.max(b) } else { 0.0 };
        total += s;
    }
    Ok(total / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    // pred: [0,0,0,1,1,1], truth: [0,0,1,1,2,2]; counts c0: (2,1,0), c1: (0,1,2).
    fn example() -> Confusion {
        Confusion::new(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2], 2, 3).unwrap()
    }

    #[test]
    fn confusion_and_purity_by_hand() {
        let c = example();
        assert_eq!(c.counts, vec![vec![2, 1, 0], vec![0, 1, 2]]);
        assert!((c.purity() - 4.0 / 6.0).abs() < 1e-12);
        assert!(c.to_csv(&["a", "b", "c"]).starts_with("cluster,a,b,c,total\n0,2,1,0,3\n"));
    }

    #[test]
    fn nmi_by_hand() {
        // H(U) = ln 2; H(V) = ln 3; I = sum nij/n ln(nij n / (ai bj)):
        // (2/6) ln(2*6/(3*2)) * 2 + (1/6) ln(1*6/(3*2)) * 2 = (2/3) ln 2.
        let want = (2.0 / 3.0) * 2f64.ln() / ((2f64.ln() + 3f64.ln()) / 2.0);
        assert!((example().nmi() - want).abs() < 1e-12, "{} vs {want}", example().nmi());
        let same = Confusion::new(&[1, 1, 0, 0], &[0, 0, 1, 1], 2, 2).unwrap();
        assert!((same.nmi() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ari_by_hand() {
        // sum C(nij,2) = 1 + 1 = 2; rows C(3,2)*2 = 6; cols 1+1+1 = 3; C(6,2) = 15.
        // expected = 6*3/15 = 1.2; max = 4.5; ARI = (2 - 1.2) / (4.5 - 1.2) = 0.8/3.3.
        assert!((example().ari() - 0.8 / 3.3).abs() < 1e-12);
        let same = Confusion::new(&[1, 1, 0, 0, 2], &[0, 0, 1, 1, 2], 3, 3).unwrap();
        assert!((same.ari() - 1.0).abs() < 1e-12);
        // Independent partition: ARI below zero here (the classic 2x2 checkerboard).
        let indep = Confusion::new(&[0, 0, 1, 1], &[0, 1, 0, 1], 2, 2).unwrap();
        assert!((indep.ari() - (-0.5)).abs() < 1e-12, "{}", indep.ari());
    }

    #[test]
    fn bad_labels_are_errors() {
        assert!(Confusion::new(&[0, 3], &[0, 0], 2, 1).is_err());
        assert!(Confusion::new(&[0], &[0, 0], 2, 1).is_err());
    }

    #[test]
    fn hungarian_small_by_hand() {
        // Optimal: row0->col1 (1), row1->col0 (2), row2->col2 (2) = 5.
        let cost = vec![vec![4.0, 1.0, 3.0], vec![2.0, 0.0, 5.0], vec![3.0, 2.0, 2.0]];
        assert_eq!(hungarian_min(&cost).unwrap(), vec![1, 0, 2]);
        // Rectangular: 2 rows, 3 cols.
        let cost = vec![vec![5.0, 9.0, 1.0], vec![10.0, 3.0, 2.0]];
        assert_eq!(hungarian_min(&cost).unwrap(), vec![2, 1]);
        assert!(hungarian_min(&[vec![f64::NAN]]).is_err());
    }

    #[test]
    fn hungarian_matches_brute_force_on_random_6x6() {
        use rand::{Rng, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..20 {
            let cost: Vec<Vec<f64>> = (0..6).map(|_| (0..6).map(|_| r.gen_range(0..20) as f64).collect()).collect();
            let got = hungarian_min(&cost).unwrap();
            let got_cost: f64 = got.iter().enumerate().map(|(i, &j)| cost[i][j]).sum();
            let mut best = f64::INFINITY;
            let mut perm: Vec<usize> = (0..6).collect();
            permute(&mut perm, 0, &mut |p| best = best.min(p.iter().enumerate().map(|(i, &j)| cost[i][j]).sum()));
            assert_eq!(got_cost, best);
        }
    }

    fn permute(p: &mut Vec<usize>, i: usize, f: &mut dyn FnMut(&[usize])) {
        if i == p.len() {
            return f(p);
        }
        for j in i..p.len() {
            p.swap(i, j);
            permute(p, i + 1, f);
            p.swap(i, j);
        }
    }

    #[test]
    fn change_fraction_ignores_relabelling() {
        let prev = [0, 0, 1, 1, 2, 2];
        let cur = [2, 2, 0, 0, 1, 1];
        assert_eq!(change_fraction(&prev, &cur, 3).unwrap(), 0.0);
        let cur = [2, 2, 0, 0, 1, 0];
        assert!((change_fraction(&prev, &cur, 3).unwrap() - 1.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn silhouette_by_hand() {
        // 1-D points 0, 1 (cluster 0) and 10, 11 (cluster 1).
        // point 0: a = 1, b = (10 + 11)/2 = 10.5, s = 9.5/10.5; point 1: a = 1, b = 9.5, s = 8.5/9.5; symmetric.
        let s = silhouette(&[0.0, 1.0, 10.0, 11.0], 1, &[0, 0, 1, 1], 2).unwrap();
        let want = (9.5 / 10.5 + 8.5 / 9.5) / 2.0;
        assert!((s - want).abs() < 1e-12);
        assert!(silhouette(&[0.0, 1.0], 1, &[0, 0], 2).is_err());
    }
}
