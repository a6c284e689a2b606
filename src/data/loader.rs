//! A prefetching batch loader: worker threads preprocess images ahead of the trainer, delivered in a seeded shuffle order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::dataset::Dataset;
use super::preprocess::{load_image, PreparedImage, PreprocessConfig};

/// One batch: the prepared images in order, and messages for images that failed to load
/// (those are skipped, not fatal: a single corrupt PNG should not stop training).
#[derive(Debug, Default)]
pub struct Batch {
    pub images: Vec<PreparedImage>,
    pub skipped: Vec<String>,
}

/// The order of one epoch: identity, or a ChaCha8 shuffle of `0..n` with `seed`.
pub fn epoch_order(n: usize, seed: Option<u64>) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    if let Some(s) = seed {
        v.shuffle(&mut ChaCha8Rng::seed_from_u64(s));
    }
    v
}

struct Shared {
    stop: AtomicBool,
    next: AtomicUsize,
    /// Items handed to the consumer; workers stay within `window` items of it.
    consumed: Mutex<usize>,
    cv: Condvar,
}

/// Iterates one epoch of batches. Dropping it stops and joins the workers.
pub struct Loader {
    rx: Option<Receiver<(usize, Result<PreparedImage, String>)>>,
    pending: BTreeMap<usize, Result<PreparedImage, String>>,
    emitted: usize,
    total: usize,
    batch: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Loader {
    /// Load `images` (indices into `ds.images`) in batches of `batch`, shuffled with
    /// `shuffle_seed` (None keeps the given order), on `workers` threads (at least 1), with at
    /// most `2 * batch` images prepared ahead of the consumer.
    pub fn new(
        ds: Arc<Dataset>,
        images: Vec<usize>,
        cfg: PreprocessConfig,
        batch: usize,
        shuffle_seed: Option<u64>,
        workers: usize,
    ) -> Loader {
        let batch = batch.max(1);
        let order: Vec<usize> = epoch_order(images.len(), shuffle_seed).into_iter().map(|i| images[i]).collect();
        let total = order.len();
        let window = 2 * batch + workers;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            next: AtomicUsize::new(0),
            consumed: Mutex::new(0),
            cv: Condvar::new(),
        });
        let (tx, rx) = sync_channel(window);
        let order = Arc::new(order);
        let cfg = Arc::new(cfg);
        let handles = (0..workers.max(1))
            .map(|_| {
                let (ds, order, cfg, shared, tx) = (ds.clone(), order.clone(), cfg.clone(), shared.clone(), tx.clone());
                std::thread::spawn(move || loop {
                    if shared.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let pos = shared.next.fetch_add(1, Ordering::Relaxed);
                    if pos >= order.len() {
                        return;
                    }
                    {
                        let mut c = shared.consumed.lock().unwrap_or_else(|p| p.into_inner());
                        while pos >= *c + window && !shared.stop.load(Ordering::Relaxed) {
                            c = shared.cv.wait(c).unwrap_or_else(|p| p.into_inner());
                        }
                    }
                    if shared.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let rec = &ds.images[order[pos]];
                    let r = load_image(&ds, rec, &cfg).map_err(|e| format!("{}: {e}", rec.file_name));
                    if tx.send((pos, r)).is_err() {
                        return;
                    }
                })
            })
            .collect();
        Loader { rx: Some(rx), pending: BTreeMap::new(), emitted: 0, total, batch, shared, workers: handles }
    }

    /// Number of batches in the epoch.
    pub fn len(&self) -> usize {
        self.total.div_ceil(self.batch)
    }

    /// True when there is nothing to load.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn next_item(&mut self) -> Option<Result<PreparedImage, String>> {
        if self.emitted >= self.total {
            return None;
        }
        while !self.pending.contains_key(&self.emitted) {
            match self.rx.as_ref()?.recv() {
                Ok((pos, r)) => {
                    self.pending.insert(pos, r);
                }
                Err(_) => return None,
            }
        }
        let r = self.pending.remove(&self.emitted);
        self.emitted += 1;
        *self.shared.consumed.lock().unwrap_or_else(|p| p.into_inner()) = self.emitted;
        self.shared.cv.notify_all();
        r
    }
}

impl Iterator for Loader {
    type Item = Batch;
    fn next(&mut self) -> Option<Batch> {
        let mut b = Batch::default();
        while b.images.len() + b.skipped.len() < self.batch {
            match self.next_item() {
                Some(Ok(img)) => b.images.push(img),
                Some(Err(msg)) => {
                    eprintln!("warning: image skipped: {msg}");
                    b.skipped.push(msg)
                }
                None => break,
            }
        }
        (!b.images.is_empty() || !b.skipped.is_empty()).then_some(b)
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.cv.notify_all();
        self.rx.take(); // unblocks workers waiting to send
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}
