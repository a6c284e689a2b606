//! The GPU context: device and queue, the pending command encoder, the uniform arena, dispatch and readback.

pub mod adapter;
pub mod pipelines;
pub mod pool;
pub mod profile;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

pub use adapter::AdapterClass;
pub use pipelines::{Access, Shader};

use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use pipelines::PipelineCache;
use pool::{Pool, PooledBuffer, STORAGE_USAGE};

/// Which shape a speed-critical kernel (matmul, conv2d) takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Big per-thread register blocks, vec4 loads straight from storage, no workgroup memory:
    /// the fast shape on lavapipe, where a barrier is a coroutine switch.
    RegisterBlocked,
    /// Tiles staged through workgroup memory: the fast shape on real GPUs.
    WorkgroupTiled,
}

/// Largest workgroup count per dimension WebGPU guarantees.
pub const MAX_GROUPS: u32 = 65_535;
/// Bytes per uniform slot; matches the largest `min_uniform_buffer_offset_alignment` in the wild.
const UNIFORM_SLOT: u64 = 256;
/// Uniform slots per arena; the encoder is flushed when they run out.
const UNIFORM_SLOTS: u64 = 2048;

/// Counters that show what the engine did (tests assert on them, benches report them).
#[derive(Debug, Default)]
pub struct Stats {
    pub submits: AtomicU64,
    pub readbacks: AtomicU64,
    pub dispatches: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    pub submits: u64,
    pub readbacks: u64,
    pub dispatches: u64,
    pub buffers_created: u64,
}

/// One buffer argument of a dispatch: bindings 1.. in order.
pub enum Arg<'a> {
    /// Bound `var<storage, read>`.
    R(&'a Tensor),
    /// Bound `var<storage, read_write>`.
    W(&'a Tensor),
}

/// Options for creating the context.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// Adapter index or name substring; `None` uses `DEEPLESION_ADAPTER` or the best one.
    pub adapter: Option<String>,
    /// Fill every freshly allocated output with NaN so an element a kernel forgets to write fails tests.
    pub poison: bool,
}

struct Recorder {
    encoder: Option<wgpu::CommandEncoder>,
    next_slot: u64,
    ops: Vec<&'static str>,
}

/// The GPU context. Create it once and pass `&Gpu` to every op.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    pub class: AdapterClass,
    poison: bool,
    variant_override: AtomicU8,
    subgroups_off: AtomicBool,
    pipelines: PipelineCache,
    pool: Arc<Pool>,
    uniforms: wgpu::Buffer,
    recorder: Mutex<Recorder>,
    uncaptured: Arc<Mutex<Vec<String>>>,
    pub stats: Stats,
    profile: Option<profile::OpProfile>,
}

impl Gpu {
    /// Creates the context on the chosen adapter.
    pub fn new(opts: GpuOptions) -> Result<Gpu> {
        let adapter = adapter::choose(opts.adapter.as_deref())?;
        let info = adapter.get_info();
        let alimits = adapter.limits();
        // Ask for the adapter's own storage limits: the defaults (128 MiB binding) would hide bigger GPUs.
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: alimits.max_storage_buffer_binding_size,
            max_buffer_size: alimits.max_buffer_size,
            max_storage_buffers_per_shader_stage: alimits.max_storage_buffers_per_shader_stage.min(16),
            max_compute_workgroup_storage_size: alimits.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: alimits.max_compute_invocations_per_workgroup,
            max_compute_workgroup_size_x: alimits.max_compute_workgroup_size_x,
            max_compute_workgroup_size_y: alimits.max_compute_workgroup_size_y,
            ..Default::default()
        };
        let features = adapter.features()
            & (wgpu::Features::SHADER_F16 | wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("deeplesion"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::DeviceCreation { adapter: info.name.clone(), message: e.to_string() })?;
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        // The default handler panics; we turn every uncaptured error into a Result at the next flush.
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().push(e.to_string());
        }));
        let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("uniform arena"),
            size: UNIFORM_SLOT * UNIFORM_SLOTS,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let poison = opts.poison || std::env::var("DEEPLESION_POISON").is_ok_and(|v| v == "1");
        Ok(Gpu {
            class: adapter::class_of(&info),
            device,
            queue,
            info,
            limits,
            features,
            poison,
            variant_override: AtomicU8::new(0),
            subgroups_off: AtomicBool::new(false),
            pipelines: PipelineCache::default(),
            pool: Arc::new(Pool::default()),
            uniforms,
            recorder: Mutex::new(Recorder { encoder: None, next_slot: 0, ops: Vec::new() }),
            uncaptured,
            stats: Stats::default(),
            profile: profile::OpProfile::from_env(),
        })
    }

    /// The kernel variant for speed-critical ops: forced, or chosen by adapter class.
    pub fn variant(&self) -> Variant {
        match self.variant_override.load(Ordering::Relaxed) {
            1 => Variant::RegisterBlocked,
            2 => Variant::WorkgroupTiled,
            _ => match self.class {
                AdapterClass::Software => Variant::RegisterBlocked,
                AdapterClass::Gpu => Variant::WorkgroupTiled,
            },
        }
    }

    /// Forces a variant (tests run both on every machine); `None` restores the adapter's choice.
    pub fn force_variant(&self, v: Option<Variant>) {
        let code = match v {
            None => 0,
            Some(Variant::RegisterBlocked) => 1,
            Some(Variant::WorkgroupTiled) => 2,
        };
        self.variant_override.store(code, Ordering::Relaxed);
    }

    /// Whether register-blocked kernels may share loads across SIMD lanes with subgroup broadcasts:
    /// the SUBGROUP feature is on and every subgroup has exactly 8 invocations (lavapipe on 256-bit
    /// vectors), the layout those kernels assume, and it is not switched off.
    pub fn subgroups8(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP)
            && self.info.subgroup_min_size == 8
            && self.info.subgroup_max_size == 8
            && !self.subgroups_off.load(Ordering::Relaxed)
    }

    /// Switches the subgroup kernels off (`true`) or back on, so tests cover the plain vec4 kernels too.
    pub fn disable_subgroups(&self, off: bool) {
        self.subgroups_off.store(off, Ordering::Relaxed);
    }

    /// Whether fresh outputs are filled with NaN.
    pub fn poisoning(&self) -> bool {
        self.poison
    }

    /// Counter snapshot.
    pub fn stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            submits: self.stats.submits.load(Ordering::Relaxed),
            readbacks: self.stats.readbacks.load(Ordering::Relaxed),
            dispatches: self.stats.dispatches.load(Ordering::Relaxed),
            buffers_created: self.pool.created.load(Ordering::Relaxed),
        }
    }

    /// Checks a buffer size against the adapter's limits before allocating.
    pub fn check_size(&self, op: &str, bytes: u64) -> Result<()> {
        let bind = self.limits.max_storage_buffer_binding_size;
        if bytes > bind {
            return Err(Error::TooLarge { op: op.into(), bytes, limit: bind, what: "max storage buffer binding" });
        }
        if bytes > self.limits.max_buffer_size {
            return Err(Error::TooLarge {
                op: op.into(),
                bytes,
                limit: self.limits.max_buffer_size,
                what: "max buffer size",
            });
        }
        Ok(())
    }

    /// A storage buffer of `bytes` from the pool (poisoned with NaN when poisoning is on).
    pub(crate) fn take_buffer(&self, op: &str, bytes: u64, poison: bool) -> Result<PooledBuffer> {
        self.check_size(op, bytes)?;
        let b = self.pool.take(&self.device, bytes.max(4), STORAGE_USAGE);
        if poison && self.poison && bytes > 0 {
            let nan = vec![0xffu8; bytes as usize]; // 0xffffffff is a NaN as f32 and u32::MAX as an index
            self.queue.write_buffer(b.raw(), 0, &nan);
        }
        Ok(b)
    }

    /// An uninitialised tensor (NaN-poisoned in tests) for a kernel to write.
    pub fn empty(&self, op: &str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let bytes = (shape.iter().product::<usize>() * 4) as u64;
        Ok(Tensor::from_parts(shape.to_vec(), dtype, self.take_buffer(op, bytes, true)?))
    }

    /// A zero-filled tensor (cleared in the command stream, so ordering is kept).
    pub fn zeros(&self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = self.empty("zeros", shape, dtype)?;
        let mut rec = self.recorder.lock().unwrap();
        let enc = self.encoder(&mut rec);
        enc.clear_buffer(t.buffer(), 0, None);
        Ok(t)
    }

    /// Uploads f32 data.
    pub fn upload(&self, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        self.upload_bytes(shape, DType::F32, bytemuck::cast_slice(data))
    }

    /// Uploads u32 data (indices, labels).
    pub fn upload_u32(&self, shape: &[usize], data: &[u32]) -> Result<Tensor> {
        self.upload_bytes(shape, DType::U32, bytemuck::cast_slice(data))
    }

    /// Uploads i32 data.
    pub fn upload_i32(&self, shape: &[usize], data: &[i32]) -> Result<Tensor> {
        self.upload_bytes(shape, DType::I32, bytemuck::cast_slice(data))
    }

    fn upload_bytes(&self, shape: &[usize], dtype: DType, bytes: &[u8]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n * 4 != bytes.len() {
            return Err(Error::shape("upload", format!("shape {shape:?} needs {n} elements, got {}", bytes.len() / 4)));
        }
        // A fresh pool buffer is never referenced by the pending encoder, so write_buffer (which lands
        // before the next submit's commands) cannot overtake an earlier reader.
        let b = self.take_buffer("upload", bytes.len() as u64, false)?;
        if !bytes.is_empty() {
            self.queue.write_buffer(b.raw(), 0, bytes);
        }
        Ok(Tensor::from_parts(shape.to_vec(), dtype, b))
    }

    /// Overwrites a tensor's contents in stream order (via a staging copy), e.g. for loading weights.
    pub fn write(&self, t: &Tensor, data: &[f32]) -> Result<()> {
        if data.len() != t.numel() {
            return Err(Error::shape("write", format!("tensor has {} elements, data {}", t.numel(), data.len())));
        }
        let src = self.upload(t.shape(), data)?;
        self.copy(&src, t)
    }

    /// Records a buffer copy of `src` into `dst` (same element count).
    pub fn copy(&self, src: &Tensor, dst: &Tensor) -> Result<()> {
        if src.numel() != dst.numel() {
            return Err(Error::shape("copy", format!("{:?} into {:?}", src.shape(), dst.shape())));
        }
        if src.numel() == 0 {
            return Ok(());
        }
        let mut rec = self.recorder.lock().unwrap();
        let enc = self.encoder(&mut rec);
        enc.copy_buffer_to_buffer(src.buffer(), 0, dst.buffer(), 0, (src.numel() * 4) as u64);
        Ok(())
    }

    /// Records a copy of `count` elements from `src[src_offset..]` into `dst[dst_offset..]` (both
    /// 4-byte element types), e.g. to gather many `[1]` results into one buffer for one readback.
    pub fn copy_region(
        &self,
        src: &Tensor,
        src_offset: usize,
        dst: &Tensor,
        dst_offset: usize,
        count: usize,
    ) -> Result<()> {
        if src_offset + count > src.numel() || dst_offset + count > dst.numel() {
            return Err(Error::shape(
                "copy_region",
                format!("{count} elements from {src_offset} of {:?} to {dst_offset} of {:?}", src.shape(), dst.shape()),
            ));
        }
        if count == 0 {
            return Ok(());
        }
        let mut rec = self.recorder.lock().unwrap();
        let enc = self.encoder(&mut rec);
        enc.copy_buffer_to_buffer(
            src.buffer(),
            (src_offset * 4) as u64,
            dst.buffer(),
            (dst_offset * 4) as u64,
            (count * 4) as u64,
        );
        Ok(())
    }

    /// Rows `start .. start + count` along the first axis of `t` (any 4-byte dtype) as a tensor of
    /// its own (a recorded copy; `t` itself when the range is all of it).
    pub fn slice_rows(&self, t: &Tensor, start: usize, count: usize) -> Result<Tensor> {
        let mut shape = t.shape().to_vec();
        let Some(&rows) = shape.first() else {
            return Err(Error::shape("slice_rows", "a scalar has no rows"));
        };
        if start == 0 && count == rows {
            return Ok(t.clone());
        }
        let per_row = t.numel() / rows.max(1);
        shape[0] = count;
        let out = self.empty("slice_rows", &shape, t.dtype())?;
        self.copy_region(t, start * per_row, &out, 0, count * per_row)?;
        Ok(out)
    }

    fn encoder<'a>(&self, rec: &'a mut Recorder) -> &'a mut wgpu::CommandEncoder {
        rec.encoder.get_or_insert_with(|| {
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("step") })
        })
    }

    /// Records one compute dispatch. Binding 0 gets `params`; bindings 1.. get `args` in order.
    pub fn dispatch<P: bytemuck::Pod>(
        &self,
        op: &'static str,
        shader: &Shader,
        entry: &'static str,
        params: &P,
        args: &[Arg<'_>],
        groups: [u32; 3],
    ) -> Result<()> {
        if groups.contains(&0) {
            return Ok(()); // nothing to do: an empty tensor
        }
        if groups.iter().any(|&g| g > self.limits.max_compute_workgroups_per_dimension) {
            return Err(Error::invalid(
                op,
                format!("dispatch of {groups:?} workgroups exceeds the per-dimension limit"),
            ));
        }
        let access: Vec<Access> = args
            .iter()
            .map(|a| match a {
                Arg::R(_) => Access::Read,
                Arg::W(_) => Access::ReadWrite,
            })
            .collect();
        if self.profile.is_some() {
            self.sync()?; // earlier work must not be charged to this op
        }
        let pipe = self.pipelines.get(&self.device, shader, entry, &access);
        let pbytes = bytemuck::bytes_of(params);
        let slots = (pbytes.len() as u64).div_ceil(UNIFORM_SLOT).max(1);
        let mut rec = self.recorder.lock().unwrap();
        if rec.next_slot + slots > UNIFORM_SLOTS {
            drop(rec);
            self.flush()?;
            rec = self.recorder.lock().unwrap();
        }
        let offset = rec.next_slot * UNIFORM_SLOT;
        rec.next_slot += slots;
        // Lands before this encoder's commands at submit; each dispatch owns its slot until then.
        self.queue.write_buffer(&self.uniforms, offset, pbytes);
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.uniforms,
                offset,
                size: wgpu::BufferSize::new(pbytes.len().max(4) as u64),
            }),
        }];
        for (i, a) in args.iter().enumerate() {
            let t = match a {
                Arg::R(t) | Arg::W(t) => t,
            };
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: t.buffer(),
                    offset: 0,
                    size: wgpu::BufferSize::new((t.numel() * 4).max(4) as u64),
                }),
            });
        }
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(op),
            layout: &pipe.layout,
            entries: &entries,
        });
        {
            let enc = self.encoder(&mut rec);
            let mut pass =
                enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(op), timestamp_writes: None });
            pass.set_pipeline(&pipe.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        rec.ops.push(op);
        drop(rec);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu { op: op.into(), message: e.to_string() });
        }
        self.stats.dispatches.fetch_add(1, Ordering::Relaxed);
        if let Some(p) = &self.profile {
            let t = std::time::Instant::now();
            self.sync()?;
            p.add(op, t.elapsed());
        }
        Ok(())
    }

    /// The per-op time table when `DEEPLESION_PROFILE` is set (see [`profile`]), else `None`.
    pub fn profile_report(&self) -> Option<String> {
        self.profile.as_ref().map(|p| p.report())
    }

    /// Submits the recorded work (if any) without waiting for it.
    pub fn flush(&self) -> Result<()> {
        let mut rec = self.recorder.lock().unwrap();
        let Some(enc) = rec.encoder.take() else { return Ok(()) };
        let ops = std::mem::take(&mut rec.ops);
        rec.next_slot = 0;
        drop(rec);
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let cmd = enc.finish();
        self.queue.submit([cmd]);
        self.stats.submits.fetch_add(1, Ordering::Relaxed);
        self.pool.recycle_pending();
        let err = pollster::block_on(scope.pop());
        let unc: Vec<String> = std::mem::take(&mut *self.uncaptured.lock().unwrap());
        if let Some(e) = err.map(|e| e.to_string()).or_else(|| unc.into_iter().next()) {
            let mut names = ops;
            names.dedup();
            return Err(Error::Gpu { op: names.join(", "), message: e });
        }
        Ok(())
    }

    /// Submits and blocks until the GPU is idle.
    pub fn sync(&self) -> Result<()> {
        self.flush()?;
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu { op: "sync".into(), message: e.to_string() })?;
        Ok(())
    }

    /// Copies a tensor's bytes to the host: one submit and one readback.
    pub fn read_bytes(&self, t: &Tensor) -> Result<Vec<u8>> {
        let n = (t.numel() * 4) as u64;
        if n == 0 {
            return Ok(Vec::new());
        }
        let staging = self.pool.take(&self.device, n, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
        {
            let mut rec = self.recorder.lock().unwrap();
            let enc = self.encoder(&mut rec);
            enc.copy_buffer_to_buffer(t.buffer(), 0, staging.raw(), 0, n);
        }
        self.flush()?;
        self.stats.readbacks.fetch_add(1, Ordering::Relaxed);
        let done: Arc<Mutex<Option<std::result::Result<(), wgpu::BufferAsyncError>>>> = Arc::new(Mutex::new(None));
        let d2 = done.clone();
        staging.raw().map_async(wgpu::MapMode::Read, 0..n, move |r| *d2.lock().unwrap() = Some(r));
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu { op: "readback".into(), message: e.to_string() })?;
        match done.lock().unwrap().take() {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(Error::Gpu { op: "readback".into(), message: e.to_string() }),
            None => return Err(Error::Gpu { op: "readback".into(), message: "map never completed".into() }),
        }
        let out = {
            let view = staging
                .raw()
                .get_mapped_range(0..n)
                .map_err(|e| Error::Gpu { op: "readback".into(), message: e.to_string() })?;
            view.to_vec()
        };
        staging.raw().unmap();
        Ok(out)
    }

    /// Drops cached free buffers.
    pub fn trim_pool(&self) {
        self.pool.trim();
    }
}

/// Workgroup grid for `n` threads in 1-D workgroups of `wg`, folded into y past 65,535 groups.
/// Shaders rebuild the linear index as `gid.x + gid.y * num_workgroups.x * WG`.
pub fn grid_1d(n: usize, wg: u32) -> [u32; 3] {
    let groups = (n as u64).div_ceil(wg as u64);
    if groups == 0 {
        return [0, 1, 1];
    }
    if groups <= MAX_GROUPS as u64 {
        [groups as u32, 1, 1]
    } else {
        let y = groups.div_ceil(MAX_GROUPS as u64);
        let x = groups.div_ceil(y);
        [x as u32, y as u32, 1]
    }
}
