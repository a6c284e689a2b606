//! Buffer pool: storage buffers are recycled by size class so a training step allocates nothing after the first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Usage of every pooled storage buffer: read and written by kernels, copied in and out.
pub const STORAGE_USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

/// Rounds a byte size up to its size class: powers of two split in quarters, so waste stays under 25%.
pub fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(256);
    let p = 63 - (b - 1).leading_zeros() as u64; // 2^p < b <= 2^(p+1) for b > 1
    let base = 1u64 << p;
    let quarter = (base / 4).max(1);
    let steps = (b - base).div_ceil(quarter);
    base + steps * quarter
}

#[derive(Default)]
struct State {
    /// Buffers ready for reuse, by (size class, usage bits).
    free: HashMap<(u64, u32), Vec<wgpu::Buffer>>,
    /// Buffers dropped while the current encoder may still use them: freed on the next submit.
    pending: Vec<((u64, u32), wgpu::Buffer)>,
}

/// The pool shared by the GPU context and every live buffer.
#[derive(Default)]
pub struct Pool {
    state: Mutex<State>,
    /// Buffers created since the context was made (a test watches this stay flat).
    pub created: AtomicU64,
    /// Bytes held by all buffers the pool has created.
    pub bytes_created: AtomicU64,
}

impl Pool {
    /// Takes a buffer of at least `bytes` from the pool or creates one.
    pub fn take(self: &Arc<Self>, device: &wgpu::Device, bytes: u64, usage: wgpu::BufferUsages) -> PooledBuffer {
        let class = size_class(bytes);
        let key = (class, usage.bits());
        let reused = self.state.lock().unwrap().free.get_mut(&key).and_then(|v| v.pop());
        let buffer = reused.unwrap_or_else(|| {
            self.created.fetch_add(1, Ordering::Relaxed);
            self.bytes_created.fetch_add(class, Ordering::Relaxed);
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("pooled"),
                size: class,
                usage,
                mapped_at_creation: false,
            })
        });
        PooledBuffer { buffer: Some(buffer), key, pool: self.clone() }
    }

    /// Moves buffers released during the last encoder into the free lists (called after each submit).
    pub fn recycle_pending(&self) {
        let mut st = self.state.lock().unwrap();
        let pending = std::mem::take(&mut st.pending);
        for (key, b) in pending {
            st.free.entry(key).or_default().push(b);
        }
    }

    /// Drops every free buffer (frees memory between phases, e.g. after training).
    pub fn trim(&self) {
        self.state.lock().unwrap().free.clear();
    }
}

/// A buffer on loan from the pool; returns itself when dropped.
pub struct PooledBuffer {
    buffer: Option<wgpu::Buffer>,
    key: (u64, u32),
    pool: Arc<Pool>,
}

impl PooledBuffer {
    /// The wgpu buffer.
    pub fn raw(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("buffer present until drop")
    }
    /// Allocated size in bytes (the size class, at least the requested size).
    pub fn capacity(&self) -> u64 {
        self.key.0
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(b) = self.buffer.take() {
            // Not reusable until the encoder that may still read it has been submitted.
            if let Ok(mut st) = self.pool.state.lock() {
                st.pending.push((self.key, b));
            }
        }
    }
}

impl std::fmt::Debug for PooledBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PooledBuffer({} bytes)", self.key.0)
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_cover_the_request_and_waste_under_a_quarter() {
        for b in [1u64, 255, 256, 257, 1000, 1024, 1025, 4096 * 3 + 7, 1 << 27] {
            let c = size_class(b);
            assert!(c >= b.max(256), "{b} -> {c}");
            assert!((c as f64) <= (b.max(256) as f64) * 1.25 + 1.0, "{b} -> {c}");
            assert_eq!(c % 4, 0);
        }
    }
}
