//! The training loop: epochs of batches, losses logged per step, validation each epoch, atomic checkpoints, exact resume.
//!
//! Run folder: `config.toml` (effective config), `log.csv` (one row a step), `loss.png`,
//! `val.csv` (one row an epoch), `checkpoint.safetensors` (latest: model, optimiser, epoch,
//! position, RNG), `best.safetensors` (the model with the best validation sensitivity).
//! Resume continues from the saved position with the same data order and RNG stream, so
//! 2 + 2 epochs equal 4 straight.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::checkpoint::Checkpoint;
use super::config::Config;
use super::data::{self as ddata, ClassMap};
use super::infer;
use super::model::Network;
use super::optim::Optimizer;
use super::step::LOSS_NAMES;
use crate::autograd::Tape;
use crate::data::loader::epoch_order;
use crate::data::{Dataset, LoadOptions, Loader, Split};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::elementwise;
use crate::tensor::Tensor;

/// What to train and where.
pub struct TrainOptions {
    pub data: PathBuf,
    pub out: PathBuf,
    pub cfg: Config,
    /// Continue from `out/checkpoint.safetensors` (its config wins).
    pub resume: bool,
    /// Show a progress bar.
    pub progress: bool,
    /// Set (by Ctrl-C) to stop after the current step with a checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
    /// Stop after this many epochs in this run (tests: 2 then resume 2).
    pub max_epochs_this_run: Option<usize>,
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainSummary {
    pub epochs_done: usize,
    pub steps: usize,
    pub seconds: f64,
    pub images_per_s: f64,
    pub first_loss: f32,
    pub last_loss: f32,
    pub best_epoch: Option<usize>,
    pub best_val_mean_sensitivity: f64,
    pub interrupted: bool,
}

/// Training state beyond the weights.
struct State {
    epoch: usize,
    batch: usize,
    step: usize,
    rng: ChaCha8Rng,
    best: f64,
    best_epoch: Option<usize>,
}

/// The step schedule's rate at `epoch`, ramped linearly over the first `warmup_steps` steps.
pub fn lr_at(cfg: &Config, epoch: usize, step: usize) -> f32 {
    let k = cfg.train.lr_steps.iter().filter(|&&s| epoch >= s).count();
    let warm = cfg.train.warmup_steps;
    let ramp = if step < warm { (step + 1) as f32 / warm as f32 } else { 1.0 };
    cfg.train.lr * cfg.train.lr_gamma.powi(k as i32) * ramp
}

fn save(path: &Path, net: &Network, opt: &Optimizer, st: &State, gpu: &Gpu, with_optim: bool) -> Result<()> {
    let mut ck = Checkpoint::default();
    for (name, p) in net.store.named() {
        ck.tensors.insert(format!("model.{name}"), (p.value.shape().to_vec(), p.value.to_vec(gpu)?));
    }
    if with_optim {
        for (name, shape, data) in opt.state(gpu)? {
            ck.tensors.insert(format!("optim.{name}"), (shape, data));
        }
    }
    let m = &mut ck.meta;
    m.insert("epoch".into(), st.epoch.to_string());
    m.insert("batch".into(), st.batch.to_string());
    m.insert("step".into(), st.step.to_string());
    m.insert("rng_seed".into(), st.rng.get_seed().iter().map(|b| format!("{b:02x}")).collect());
    m.insert("rng_stream".into(), st.rng.get_stream().to_string());
    m.insert("rng_word_pos".into(), st.rng.get_word_pos().to_string());
    m.insert("best".into(), st.best.to_string());
    m.insert("best_epoch".into(), st.best_epoch.map_or("none".into(), |e| e.to_string()));
    m.insert("num_classes".into(), net.num_classes.to_string());
    m.insert(
        "config".into(),
        toml::to_string(&net.cfg).map_err(|e| Error::Format { path: path.into(), message: e.to_string() })?,
    );
    ck.save_atomic(path)
}

/// Loads model weights (`model.*`) into a network built from the checkpoint's own config.
pub fn load_network(gpu: &Gpu, path: &Path) -> Result<(Network, Checkpoint)> {
    let ck = Checkpoint::load(path)?;
    let cfg: Config = toml::from_str(ck.meta.get("config").map(String::as_str).unwrap_or(""))
        .map_err(|e| Error::Format { path: path.into(), message: format!("embedded config: {e}") })?;
    let num_classes: usize = ck.meta_parse("num_classes", path)?;
    let net = Network::new(gpu, &cfg, num_classes)?;
    for (name, _) in net.store.named() {
        let (shape, data) = ck
            .tensors
            .get(&format!("model.{name}"))
            .ok_or_else(|| Error::Format { path: path.into(), message: format!("tensor model.{name} missing") })?;
        net.store.load(gpu, &name, Some(shape), data)?;
    }
    Ok((net, ck))
}

fn restore(gpu: &Gpu, path: &Path) -> Result<(Network, Optimizer, State)> {
    let (net, ck) = load_network(gpu, path)?;
    let mut opt = Optimizer::new(net.cfg.train.momentum, net.cfg.train.weight_decay);
    let state: Vec<_> = ck
        .tensors
        .iter()
        .filter_map(|(k, (s, d))| k.strip_prefix("optim.").map(|n| (n.to_string(), s.clone(), d.clone())))
        .collect();
    opt.load_state(gpu, state)?;
    let seed_hex = ck.meta.get("rng_seed").cloned().unwrap_or_default();
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = seed_hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(|| Error::Format { path: path.into(), message: "rng_seed malformed".into() })?;
    }
    let mut rng = ChaCha8Rng::from_seed(seed);
    rng.set_stream(ck.meta_parse("rng_stream", path)?);
    rng.set_word_pos(ck.meta_parse("rng_word_pos", path)?);
    let best_epoch = ck.meta.get("best_epoch").and_then(|v| v.parse().ok());
    let st = State {
        epoch: ck.meta_parse("epoch", path)?,
        batch: ck.meta_parse("batch", path)?,
        step: ck.meta_parse("step", path)?,
        rng,
        best: ck.meta_parse("best", path)?,
        best_epoch,
    };
    Ok((net, opt, st))
}

fn append(path: &Path, header: &str, line: &str) -> Result<()> {
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| Error::io(path, e))?;
    if new {
        writeln!(f, "{header}").map_err(|e| Error::io(path, e))?;
    }
    writeln!(f, "{line}").map_err(|e| Error::io(path, e))
}

/// Images one forward pass holds: `train.images_per_pass` when set, else as many as keep the
/// first conv's output (n x channels x size^2 floats, the largest activation) within the
/// adapter's storage binding (128 MiB on lavapipe: 2 images of the paper preset at 512 px, which
/// asks for 8 a batch).
pub fn images_per_pass(cfg: &Config, max_binding: u64) -> usize {
    if cfg.train.images_per_pass > 0 {
        return cfg.train.images_per_pass;
    }
    let per_image = (cfg.block_channels(0) * cfg.data.image_size * cfg.data.image_size * 4) as u64;
    (max_binding / per_image.max(1)).max(1) as usize
}

/// The gradients and the four loss parts of one batch. A batch larger than [`images_per_pass`]
/// runs as micro-batches whose losses are weighted by their share of the images and whose
/// gradients are added (gradient accumulation): the same update as one pass wherever every image
/// samples as many anchors and RoIs as the others (the losses are means over the samples).
#[allow(clippy::too_many_arguments)]
fn batch_gradients(
    gpu: &Gpu,
    net: &Network,
    cfg: &Config,
    ds: &Dataset,
    classes: &ClassMap,
    images: &[crate::data::PreparedImage],
    flips: &[bool],
    rng: &mut ChaCha8Rng,
) -> Result<(crate::autograd::Grads, Vec<Tensor>)> {
    let per_pass = images_per_pass(cfg, gpu.limits.max_storage_buffer_binding_size);
    // One random stream an image (anchor and RoI sampling), seeded from the run's stream, so the
    // samples do not depend on how the batch is split into passes.
    let seeds: Vec<u64> = (0..images.len()).map(|_| rng.gen()).collect();
    let mut acc: Option<(crate::autograd::Grads, Vec<Tensor>)> = None;
    for (i, (chunk, fl)) in images.chunks(per_pass).zip(flips.chunks(per_pass)).enumerate() {
        let share = chunk.len() as f32 / images.len() as f32;
        let batch = ddata::stack(gpu, cfg, chunk, fl)?;
        let targets = ddata::targets(ds, chunk, classes, fl)?;
        let mut rngs: Vec<ChaCha8Rng> =
            seeds[i * per_pass..i * per_pass + chunk.len()].iter().map(|&s| ChaCha8Rng::seed_from_u64(s)).collect();
        let tape = Tape::new(gpu);
        let losses = net.train_forward(&tape, &batch, &targets, &mut rngs)?;
        if chunk.len() == images.len() {
            let grads = tape.backward(&losses.total)?;
            return Ok((grads, losses.parts.iter().map(|p| p.value().clone()).collect()));
        }
        let grads = tape.backward(&tape.scale(&losses.total, share)?)?;
        let parts: Vec<Tensor> =
            losses.parts.iter().map(|p| elementwise::scale(gpu, p.value(), share)).collect::<Result<_>>()?;
        acc = Some(match acc {
            None => (grads, parts),
            Some((g, p)) => (
                g.add_params(gpu, &grads)?,
                p.iter().zip(&parts).map(|(a, b)| elementwise::add(gpu, a, b)).collect::<Result<_>>()?,
            ),
        });
    }
    acc.ok_or_else(|| Error::Training("an empty batch has no gradients".into()))
}

/// Trains (or resumes) a detector; see the module doc for the run folder.
pub fn train(gpu: &Gpu, opts: &TrainOptions) -> Result<TrainSummary> {
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    let ck_path = opts.out.join("checkpoint.safetensors");
    let (net, mut opt, mut st) = if opts.resume {
        restore(gpu, &ck_path)?
    } else {
        let classes = ClassMap::new(&opts.cfg)?;
        let net = Network::new(gpu, &opts.cfg, classes.num_classes)?;
        if let Some(p) = &opts.cfg.model.pretrained {
            net.load_torchvision(gpu, &Checkpoint::load(Path::new(p))?)?;
        }
        for f in ["log.csv", "val.csv"] {
            let _ = std::fs::remove_file(opts.out.join(f));
        }
        let opt = Optimizer::new(opts.cfg.train.momentum, opts.cfg.train.weight_decay);
        let rng = ChaCha8Rng::seed_from_u64(opts.cfg.train.seed);
        (net, opt, State { epoch: 0, batch: 0, step: 0, rng, best: f64::NEG_INFINITY, best_epoch: None })
    };
    let cfg = net.cfg.clone();
    cfg.save(&opts.out.join("config.toml"))?;
    let classes = ClassMap::new(&cfg)?;
    let (ds, _summary) = Dataset::open(&opts.data, &LoadOptions::default())?;
    let ds = Arc::new(ds);
    let mut train_idx = ds.indices(Split::Train);
    if cfg.data.max_train_images > 0 {
        train_idx.truncate(cfg.data.max_train_images);
    }
    if train_idx.is_empty() {
        return Err(Error::data(opts.data.display().to_string(), "no training images"));
    }
    let pre = ddata::preprocess_config(&cfg);
    let bsz = cfg.train.batch_images;
    let batches = train_idx.len().div_ceil(bsz);
    let last_epoch = opts.max_epochs_this_run.map_or(cfg.train.epochs, |m| (st.epoch + m).min(cfg.train.epochs));
    let bar = if opts.progress {
        let b = ProgressBar::new(((last_epoch - st.epoch) * batches) as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let log_header = "step,epoch,lr,rpn_cls,rpn_box,head_cls,head_box,total,images_per_s,grad_norm";
    let t0 = Instant::now();
    let (mut images_seen, mut first_loss, mut last_loss, mut interrupted) = (0usize, f32::NAN, f32::NAN, false);
    let start_epoch = st.epoch;
    while st.epoch < last_epoch {
        // The epoch's order depends only on (seed, epoch): a resumed run sees the same batches.
        let order: Vec<usize> = epoch_order(train_idx.len(), Some(cfg.train.seed ^ ((st.epoch as u64 + 1) * 0x9e37)))
            .into_iter()
            .map(|i| train_idx[i])
            .skip(st.batch * bsz)
            .collect();
        let loader = Loader::new(ds.clone(), order, pre.clone(), bsz, None, 2);
        for b in loader {
            let ts = Instant::now();
            let lr = lr_at(&cfg, st.epoch, st.step);
            let fl = ddata::flips(&mut st.rng, b.images.len(), cfg.data.flip);
            if b.images.is_empty() {
                st.batch += 1;
                continue;
            }
            let (grads, parts) = batch_gradients(gpu, &net, &cfg, &ds, &classes, &b.images, &fl, &mut st.rng)?;
            // One readback: the four losses and the gradient norm (logged always: it shows a
            // coming divergence; it clips when set). Both are checked before the update, so a
            // NaN never reaches the weights or a checkpoint.
            let parts: Vec<&Tensor> = parts.iter().collect();
            let (loss_vals, gnorm) = Optimizer::scalars_and_grad_norm(gpu, &net.store, &grads, &parts)?;
            let mut vals = [0f32; 4];
            vals.copy_from_slice(&loss_vals);
            if let Some(i) = vals.iter().position(|v| !v.is_finite()) {
                return Err(Error::Training(format!(
                    "{} loss is {} at step {} (epoch {}, batch {}); the last good checkpoint is {}",
                    LOSS_NAMES[i],
                    vals[i],
                    st.step,
                    st.epoch + 1,
                    st.batch + 1,
                    ck_path.display()
                )));
            }
            if !gnorm.is_finite() {
                return Err(Error::Training(format!(
                    "gradient norm is {gnorm} at step {} (epoch {}, batch {}) with finite losses {vals:?}; \
                     the last good checkpoint is {}",
                    st.step,
                    st.epoch + 1,
                    st.batch + 1,
                    ck_path.display()
                )));
            }
            let clip = cfg.train.clip_grad_norm;
            let grad_scale = if clip > 0.0 && gnorm > clip { clip / gnorm } else { 1.0 };
            opt.step(gpu, &net.store, &grads, lr, grad_scale)?;
            drop(grads);
            gpu.flush()?;
            let total: f32 = vals.iter().sum();
            if first_loss.is_nan() {
                first_loss = total;
            }
            last_loss = total;
            images_seen += b.images.len();
            let ips = b.images.len() as f64 / ts.elapsed().as_secs_f64().max(1e-9);
            append(
                &opts.out.join("log.csv"),
                log_header,
                &format!(
                    "{},{},{lr},{},{},{},{},{total},{ips:.3},{gnorm}",
                    st.step,
                    st.epoch + 1,
                    vals[0],
                    vals[1],
                    vals[2],
                    vals[3]
                ),
            )?;
            st.step += 1;
            st.batch += 1;
            bar.inc(1);
            bar.set_message(format!(
                "ep {} rpn {:.3}/{:.3} head {:.3}/{:.3} {ips:.1} img/s",
                st.epoch + 1,
                vals[0],
                vals[1],
                vals[2],
                vals[3]
            ));
            if opts.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                save(&ck_path, &net, &opt, &st, gpu, true)?;
                interrupted = true;
                break;
            }
        }
        if interrupted {
            break;
        }
        st.epoch += 1;
        st.batch = 0;
        if cfg.train.validate {
            let split = if ds.indices(Split::Val).is_empty() { Split::Test } else { Split::Val };
            let m = infer::evaluate_split(gpu, &net, &ds, split, cfg.data.max_eval_images, None)?;
            let mean = m.iou.overall.mean_0_5_to_4;
            append(
                &opts.out.join("val.csv"),
                "epoch,split,mean_sens_0.5_4,sens_0.5,sens_1,sens_2,sens_4,sens_8,sens_16",
                &format!(
                    "{},{},{mean},{}",
                    st.epoch,
                    split.name(),
                    m.iou.overall.sensitivity.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")
                ),
            )?;
            bar.println(format!("epoch {}: {} mean sensitivity (0.5-4 FPs) {mean:.3}", st.epoch, split.name()));
            if mean > st.best {
                st.best = mean;
                st.best_epoch = Some(st.epoch);
                save(&opts.out.join("best.safetensors"), &net, &opt, &st, gpu, false)?;
            }
        }
        save(&ck_path, &net, &opt, &st, gpu, true)?;
    }
    bar.finish_and_clear();
    super::report::loss_chart(&opts.out.join("log.csv"), &opts.out.join("loss.png"))?;
    let seconds = t0.elapsed().as_secs_f64();
    Ok(TrainSummary {
        epochs_done: st.epoch - start_epoch,
        steps: st.step,
        seconds,
        images_per_s: images_seen as f64 / seconds.max(1e-9),
        first_loss,
        last_loss,
        best_epoch: st.best_epoch,
        best_val_mean_sensitivity: st.best,
        interrupted,
    })
}
