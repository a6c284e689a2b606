//! The categorization pipeline on patches: baselines, round-0 features, choice of k, and the LDPO loop
//! (cluster, train the CNN on the cluster labels, re-extract, re-cluster) with per-round quality.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::features::{FeatureConfig, FeatureNet, FeatureNorm};
use super::kmeans::{self, KMeansConfig, KMeansResult};
use super::metrics::{self, Confusion, Scores};
use super::patches::Patches;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// How k is chosen.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum KChoice {
    Fixed(usize),
    /// Try every k in `min..=max` on the round-0 features; keep the highest silhouette.
    Sweep {
        min: usize,
        max: usize,
    },
}

/// Pipeline settings (patches are cut by the caller).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LdpoConfig {
    pub k: KChoice,
    /// Refinement rounds after round 0.
    pub rounds: usize,
    /// Classifier epochs per round.
    pub epochs: usize,
    /// Stop when fewer than this fraction of lesions change cluster (after Hungarian matching).
    pub stop_change: f64,
    pub kmeans: KMeansConfig,
    pub features: FeatureConfig,
    /// Safetensors weights for round 0 instead of random ones.
    pub pretrained: Option<std::path::PathBuf>,
    /// Rounds after 0 start k-means from the previous round's clusters (their means in the new
    /// features) instead of fresh k-means++ restarts, so a cluster only moves when the new features
    /// move it (and the change fraction measures refinement, not restart noise).
    pub warm_start: bool,
    /// Points used for the silhouette of a k sweep.
    pub silhouette_sample: usize,
    pub seed: u64,
}

impl Default for LdpoConfig {
    fn default() -> Self {
        LdpoConfig {
            k: KChoice::Fixed(8),
            rounds: 5,
            epochs: 2,
            stop_change: 0.05,
            kmeans: KMeansConfig { restarts: 3, ..KMeansConfig::default() },
            features: FeatureConfig::default(),
            pretrained: None,
            warm_start: true,
            silhouette_sample: 1000,
            seed: 0,
        }
    }
}

/// One clustering's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoundReport {
    /// 0 = features of the initial network; r = after r rounds of training.
    pub round: usize,
    pub inertia: f64,
    pub kmeans_iterations: usize,
    /// Fraction of lesions whose (matched) cluster changed since the previous round.
    pub change_fraction: Option<f64>,
    /// Against Coarse_lesion_type on labelled lesions; `None` when none is labelled.
    pub scores: Option<Scores>,
    /// Mean classifier loss of the last epoch that led to this round.
    pub train_loss: Option<f32>,
}

/// Everything the pipeline found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LdpoReport {
    pub lesions: usize,
    pub labelled: usize,
    pub k: usize,
    pub k_reason: String,
    /// "random" or the weights file.
    pub init: String,
    /// The feature settings in words (network, pooling, normalisation, how rounds re-cluster).
    pub features: String,
    pub raw_pixels: RoundReport,
    pub rounds: Vec<RoundReport>,
    pub stopped: String,
    /// Final labels (matched to round 0's numbering through the rounds), one per lesion.
    #[serde(skip)]
    pub labels: Vec<u32>,
    /// Final centroids, k x feat_dim.
    #[serde(skip)]
    pub centroids: Vec<f32>,
    pub feat_dim: usize,
    /// Confusion of the final clusters against the 8 coarse types (labelled lesions).
    #[serde(skip)]
    pub confusion: Option<Confusion>,
}

impl LdpoReport {
    /// Round 0 (deep features of the initial network).
    pub fn round0(&self) -> &RoundReport {
        &self.rounds[0]
    }
    /// The last round.
    pub fn last(&self) -> &RoundReport {
        self.rounds.last().expect("round 0 always exists")
    }
}

fn bar(mp: Option<&MultiProgress>, len: u64, msg: &str) -> ProgressBar {
    let pb = match mp {
        Some(mp) => mp.add(ProgressBar::new(len)),
        None => ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden()),
    };
    pb.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}

/// Ground truth of the labelled lesions: (indices, type - 1).
pub fn labelled(patches: &Patches) -> (Vec<usize>, Vec<usize>) {
    patches
        .lesions
        .iter()
        .enumerate()
        .filter(|(_, l)| (1..=8).contains(&l.coarse_type))
        .map(|(i, l)| (i, (l.coarse_type - 1) as usize))
        .unzip()
}

fn score(labels: &[u32], k: usize, idx: &[usize], truth: &[usize]) -> Result<Option<Scores>> {
    if idx.is_empty() {
        return Ok(None);
    }
    let pred: Vec<usize> = idx.iter().map(|&i| labels[i] as usize).collect();
    Ok(Some(metrics::scores(&pred, truth, k, 8)?))
}

fn cluster(gpu: &Gpu, x: &[f32], n: usize, d: usize, k: usize, cfg: &KMeansConfig) -> Result<KMeansResult> {
    kmeans::fit(gpu, x, n, d, &KMeansConfig { k, ..cfg.clone() })
}

/// k-means on `x` started from the means of `prev`'s clusters in these features (computed by the GPU
/// update kernel; a cluster left empty starts at point c).
fn cluster_from(gpu: &Gpu, x: &[f32], n: usize, d: usize, prev: &[u32], cfg: &KMeansConfig) -> Result<KMeansResult> {
    use kmeans::LloydStep;
    let k = cfg.k;
    kmeans::validate(x, n, d, k)?;
    if prev.len() != n || prev.iter().any(|&l| l as usize >= k) {
        return Err(Error::invalid("kmeans", format!("{} previous labels in 0..{k} for {n} points", prev.len())));
    }
    let pts = kmeans::GpuPoints::upload(gpu, x, n, d)?;
    let mut step = kmeans::GpuLloyd::new(gpu, &pts, &x[..k * d], k)?;
    step.update(&kmeans::Groups::from_labels(prev, &vec![0.0; n], k))?;
    let init = step.centroids()?;
    let mut res = kmeans::lloyd(&mut kmeans::GpuLloyd::new(gpu, &pts, &init, k)?, n, k, cfg)?;
    res.restart = 0;
    Ok(res)
}

/// Picks k: fixed, or the highest silhouette on a seeded sample of the round-0 features.
fn choose_k(gpu: &Gpu, feats: &[f32], n: usize, d: usize, cfg: &LdpoConfig) -> Result<(usize, String)> {
    match cfg.k {
        KChoice::Fixed(k) => Ok((k, format!("fixed (--k {k})"))),
        KChoice::Sweep { min, max } => {
            let (min, max) = (min.max(2), max.min(n));
            if min > max {
                return Err(Error::invalid("cluster", format!("k sweep {min}..={max} is empty for {n} lesions")));
            }
            use rand::seq::SliceRandom;
            use rand::SeedableRng;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5113);
            let mut sample: Vec<usize> = (0..n).collect();
            sample.shuffle(&mut rng);
            sample.truncate(cfg.silhouette_sample.max(2));
            sample.sort_unstable();
            let xs: Vec<f32> = sample.iter().flat_map(|&i| feats[i * d..(i + 1) * d].to_vec()).collect();
            let mut scores = Vec::new();
            for k in min..=max {
                let res = cluster(gpu, feats, n, d, k, &cfg.kmeans)?;
                let ls: Vec<usize> = sample.iter().map(|&i| res.labels[i] as usize).collect();
                let s = metrics::silhouette(&xs, d, &ls, k).unwrap_or(-1.0);
                scores.push((k, s, res.inertia));
            }
            let best = scores.iter().copied().fold((0, f64::NEG_INFINITY, 0.0), |b, s| if s.1 > b.1 { s } else { b });
            let table: Vec<String> =
                scores.iter().map(|(k, s, i)| format!("k={k}: silhouette {s:.3}, inertia {i:.2}")).collect();
            Ok((
                best.0,
                format!(
                    "k = {} has the highest mean silhouette ({:.3}) on a {}-lesion sample of the round-0 features [{}]",
                    best.0,
                    best.1,
                    sample.len(),
                    table.join("; ")
                ),
            ))
        }
    }
}

/// Runs the pipeline on cut patches. `log` receives one line per event (round results, choices).
pub fn run(
    gpu: &Gpu,
    patches: &Patches,
    cfg: &LdpoConfig,
    mp: Option<&MultiProgress>,
    log: &mut dyn FnMut(&str),
) -> Result<LdpoReport> {
    let n = patches.len();
    if n == 0 {
        return Err(Error::invalid("cluster", "no lesion patches to cluster"));
    }
    let (idx, truth) = labelled(patches);
    log(&format!("{n} lesions, {} with a coarse type (scored against it)", idx.len()));

    // Baseline 1: raw pixels.
    let k_for_raw = match cfg.k {
        KChoice::Fixed(k) => k,
        KChoice::Sweep { min, .. } => min.max(2),
    };
    if k_for_raw > n {
        return Err(Error::invalid("cluster", format!("k = {k_for_raw} is larger than the number of lesions ({n})")));
    }

    let mut net = FeatureNet::new(gpu, &cfg.features, patches.channels, patches.size)?;
    let init = match &cfg.pretrained {
        Some(p) => {
            let loaded = net.load_safetensors(gpu, p)?;
            log(&format!("round 0 uses pretrained weights from {} ({loaded} tensors)", p.display()));
            p.display().to_string()
        }
        None => {
            log(&format!(
                "round 0 uses a randomly initialised network (seed {}); no pretrained weights",
                cfg.features.seed
            ));
            "random".to_string()
        }
    };
    let d = net.feat_dim;
    let extract = |net: &FeatureNet, what: &str| -> Result<Vec<f32>> {
        let pb = bar(mp, n as u64, what);
        let f = net.extract(gpu, &patches.pixels, &|c| pb.inc(c as u64))?;
        pb.finish();
        Ok(match cfg.features.norm {
            // Needs every lesion's features at once (per-dimension statistics over the set).
            FeatureNorm::Standardize => {
                let t = gpu.upload(&[n, net.feat_dim], &f)?;
                super::normalize::standardize_cols(gpu, &t)?.to_vec(gpu)?
            }
            _ => f,
        })
    };
    let feats0 = extract(&net, "round 0 features")?;
    let (k, k_reason) = choose_k(gpu, &feats0, n, d, cfg)?;
    log(&format!("k = {k}: {k_reason}"));
    if k > n {
        return Err(Error::invalid("cluster", format!("k = {k} is larger than the number of lesions ({n})")));
    }

    let raw = cluster(gpu, &patches.pixels, n, patches.dim(), k, &cfg.kmeans)?;
    let raw_pixels = RoundReport {
        round: 0,
        inertia: raw.inertia,
        kmeans_iterations: raw.iterations,
        change_fraction: None,
        scores: score(&raw.labels, k, &idx, &truth)?,
        train_loss: None,
    };
    log(&format!("baseline raw pixels ({} values a lesion): {}", patches.dim(), fmt_scores(&raw_pixels.scores)));

    let mut res = cluster(gpu, &feats0, n, d, k, &cfg.kmeans)?;
    let mut rounds = vec![RoundReport {
        round: 0,
        inertia: res.inertia,
        kmeans_iterations: res.iterations,
        change_fraction: None,
        scores: score(&res.labels, k, &idx, &truth)?,
        train_loss: None,
    }];
    log(&format!("round 0 (initial features): inertia {:.4}, {}", res.inertia, fmt_scores(&rounds[0].scores)));
    let mut stopped = format!("{} rounds requested", cfg.rounds);
    for r in 1..=cfg.rounds {
        let pb = bar(mp, (n * cfg.epochs) as u64, &format!("round {r} training"));
        let losses =
            net.train(gpu, &patches.pixels, &res.labels, k, cfg.epochs, cfg.seed.wrapping_add(r as u64), &|c| {
                pb.inc(c as u64)
            })?;
        pb.finish();
        let feats = extract(&net, &format!("round {r} features"))?;
        let mut next = if cfg.warm_start {
            cluster_from(gpu, &feats, n, d, &res.labels, &KMeansConfig { k, ..cfg.kmeans.clone() })?
        } else {
            cluster(gpu, &feats, n, d, k, &cfg.kmeans)?
        };
        // Renumber the new clusters to the old ones so labels (and the change fraction) are comparable.
        let prev: Vec<usize> = res.labels.iter().map(|&l| l as usize).collect();
        let cur: Vec<usize> = next.labels.iter().map(|&l| l as usize).collect();
        let map = metrics::match_clusters(&prev, &cur, k)?;
        let change = metrics::change_fraction(&prev, &cur, k)?;
        next.labels.iter_mut().for_each(|l| *l = map[*l as usize] as u32);
        let mut cen = vec![0.0; k * d];
        for (c, &m) in map.iter().enumerate() {
            cen[m * d..(m + 1) * d].copy_from_slice(&next.centroids[c * d..(c + 1) * d]);
        }
        next.centroids = cen;
        let rep = RoundReport {
            round: r,
            inertia: next.inertia,
            kmeans_iterations: next.iterations,
            change_fraction: Some(change),
            scores: score(&next.labels, k, &idx, &truth)?,
            train_loss: losses.last().copied(),
        };
        log(&format!(
            "round {r}: classifier loss {:.3}, inertia {:.4}, {:.1}% changed cluster, {}",
            rep.train_loss.unwrap_or(f32::NAN),
            rep.inertia,
            100.0 * change,
            fmt_scores(&rep.scores)
        ));
        rounds.push(rep);
        res = next;
        if change < cfg.stop_change {
            stopped =
                format!("converged after round {r}: {:.1}% < {:.1}% changed", 100.0 * change, 100.0 * cfg.stop_change);
            break;
        }
    }
    log(&format!("stopped: {stopped}"));
    let confusion = if idx.is_empty() {
        None
    } else {
        let pred: Vec<usize> = idx.iter().map(|&i| res.labels[i] as usize).collect();
        Some(Confusion::new(&pred, &truth, k, 8)?)
    };
    Ok(LdpoReport {
        lesions: n,
        labelled: idx.len(),
        k,
        k_reason,
        init,
        features: describe(cfg, d),
        raw_pixels,
        rounds,
        stopped,
        labels: res.labels,
        centroids: res.centroids,
        feat_dim: d,
        confusion,
    })
}

/// "global average pooling of a width-8 CNN (4 blocks x 1 conv(s)) -> 32 values, standardised ...".
fn describe(cfg: &LdpoConfig, d: usize) -> String {
    let f = &cfg.features;
    let pool = match f.pool_cells {
        1 => "global average pooling".to_string(),
        g => format!("{g}x{g}-grid average pooling"),
    };
    let norm = match f.norm {
        FeatureNorm::L2 => "L2-normalised",
        FeatureNorm::Standardize => "standardised per dimension",
        FeatureNorm::None => "not normalised",
    };
    let rounds =
        if cfg.warm_start { "k-means warm-started from the previous clusters" } else { "fresh k-means++ restarts" };
    format!(
        "{pool} of a width-{} CNN ({} blocks x {} conv(s)) -> {d} values, {norm}; {} epochs a round; later rounds: {rounds}",
        f.width, f.blocks, f.convs_per_block, cfg.epochs
    )
}

/// "purity 0.512, NMI 0.301, ARI 0.201" or a note that nothing is labelled.
pub fn fmt_scores(s: &Option<Scores>) -> String {
    match s {
        Some(s) => format!("purity {:.3}, NMI {:.3}, ARI {:.3}", s.purity, s.nmi, s.ari),
        None => "no labelled lesions to score".to_string(),
    }
}
