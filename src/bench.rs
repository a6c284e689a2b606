//! Kernel benchmark cases shared by `deeplesion bench` and the criterion bench: set-up, timed GPU run, CPU reference.

use std::time::Instant;

use rand::SeedableRng;

use crate::error::Result;
use crate::gpu::{Gpu, Variant};
use crate::ops::conv2d::{self, Conv2dParams};
use crate::ops::matmul;
use crate::ops::maxpool::{self, MaxPool2dParams};
use crate::tensor::Tensor;

/// What a case measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// C [M, N] = op(A) op(B); `ta`/`tb`: the operand is stored transposed (A as [K, M], B as [N, K]).
    Matmul {
        m: usize,
        k: usize,
        n: usize,
        ta: bool,
        tb: bool,
    },
    ConvForward(ConvShape),
    ConvBackwardData(ConvShape),
    ConvBackwardWeight(ConvShape),
    MaxPool {
        n: usize,
        c: usize,
        h: usize,
        w: usize,
    },
}

/// A 3x3 pad-1 stride-1 convolution: batch n, c -> o channels on h x w.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub n: usize,
    pub c: usize,
    pub o: usize,
    pub h: usize,
    pub w: usize,
}

impl ConvShape {
    fn flops(&self) -> f64 {
        2.0 * (self.n * self.o * self.h * self.w * self.c * 9) as f64
    }
    fn params() -> Conv2dParams {
        Conv2dParams { stride: 1, pad: 1 }
    }
}

const POOL: MaxPool2dParams = MaxPool2dParams { kernel: 2, stride: 2, pad: 0 };

impl Kind {
    /// Kernel name for tables.
    pub fn kernel(&self) -> &'static str {
        match self {
            Kind::Matmul { .. } => "matmul",
            Kind::ConvForward(_) => "conv2d_forward",
            Kind::ConvBackwardData(_) => "conv2d_backward_data",
            Kind::ConvBackwardWeight(_) => "conv2d_backward_weight",
            Kind::MaxPool { .. } => "maxpool2d_forward",
        }
    }

    /// Human-readable shape.
    pub fn shape(&self) -> String {
        match self {
            // "nt": B stored transposed (a Linear layer's forward), "tn": A (its weight gradient).
            Kind::Matmul { m, k, n, ta, tb } => match (ta, tb) {
                (false, false) => format!("{m}x{k}x{n}"),
                _ => format!("{m}x{k}x{n} {}{}", if *ta { 't' } else { 'n' }, if *tb { 't' } else { 'n' }),
            },
            Kind::ConvForward(s) | Kind::ConvBackwardData(s) | Kind::ConvBackwardWeight(s) => {
                format!("n{} {}->{} {}x{} k3p1", s.n, s.c, s.o, s.h, s.w)
            }
            Kind::MaxPool { n, c, h, w } => format!("{n}x{c}x{h}x{w} k2s2"),
        }
    }

    /// Work of one run: (amount, unit) where the unit is "GFLOP/s" (flops) or "GB/s" (bytes moved).
    pub fn work(&self) -> (f64, &'static str) {
        match self {
            Kind::Matmul { m, k, n, .. } => (2.0 * (m * k * n) as f64, "GFLOP/s"),
            Kind::ConvForward(s) | Kind::ConvBackwardData(s) | Kind::ConvBackwardWeight(s) => (s.flops(), "GFLOP/s"),
            // Reads the input once, writes the max and the u32 argmax.
            Kind::MaxPool { n, c, h, w } => (4.0 * (n * c * h * w + 2 * n * c * (h / 2) * (w / 2)) as f64, "GB/s"),
        }
    }
}

/// The benchmark cases of the issue (plus matmul with one operand transposed, as a Linear layer's
/// forward and weight gradient run it); `quick` keeps one of each kernel at the smaller size.
pub fn cases(quick: bool) -> Vec<Kind> {
    let big = ConvShape { n: 1, c: 64, o: 64, h: 128, w: 128 };
    let deep = ConvShape { n: 1, c: 128, o: 128, h: 64, w: 64 };
    let mm = |ta, tb| Kind::Matmul { m: 1024, k: 1024, n: 1024, ta, tb };
    let mut v = vec![mm(false, false)];
    if !quick {
        v.extend([mm(false, true), mm(true, false)]);
    }
    let convs: &[ConvShape] = if quick { &[deep] } else { &[big, deep] };
    for &s in convs {
        v.extend([Kind::ConvForward(s), Kind::ConvBackwardData(s), Kind::ConvBackwardWeight(s)]);
    }
    v.push(Kind::MaxPool { n: 1, c: 64, h: 128, w: 128 });
    v
}

/// Inputs of one case on the GPU (and on the host for the CPU reference).
pub struct Prepared {
    pub kind: Kind,
    host: Vec<Vec<f32>>,
    dev: Vec<Tensor>,
}

fn random(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> Vec<f32> {
    use rand::Rng;
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

impl Prepared {
    /// Uploads seeded random inputs for `kind`.
    pub fn new(gpu: &Gpu, kind: Kind) -> Result<Prepared> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let shapes: Vec<Vec<usize>> = match kind {
            Kind::Matmul { m, k, n, ta, tb } => {
                vec![if ta { vec![k, m] } else { vec![m, k] }, if tb { vec![n, k] } else { vec![k, n] }]
            }
            Kind::ConvForward(s) => vec![vec![s.n, s.c, s.h, s.w], vec![s.o, s.c, 3, 3], vec![s.o]],
            Kind::ConvBackwardData(s) => vec![vec![s.n, s.o, s.h, s.w], vec![s.o, s.c, 3, 3]],
            Kind::ConvBackwardWeight(s) => vec![vec![s.n, s.c, s.h, s.w], vec![s.n, s.o, s.h, s.w]],
            Kind::MaxPool { n, c, h, w } => vec![vec![n, c, h, w]],
        };
        let mut host = Vec::new();
        let mut dev = Vec::new();
        for s in shapes {
            let data = random(&mut rng, s.iter().product());
            dev.push(gpu.upload(&s, &data)?);
            host.push(data);
        }
        Ok(Prepared { kind, host, dev })
    }

    /// Records one run of the kernel (not waited for).
    pub fn run_gpu(&self, gpu: &Gpu) -> Result<()> {
        let d = &self.dev;
        match self.kind {
            Kind::Matmul { ta, tb, .. } => drop(matmul::matmul(gpu, &d[0], &d[1], ta, tb)?),
            Kind::ConvForward(_) => drop(conv2d::conv2d_forward(gpu, &d[0], &d[1], Some(&d[2]), ConvShape::params())?),
            Kind::ConvBackwardData(s) => {
                drop(conv2d::conv2d_backward_data(gpu, &d[0], &d[1], &[s.n, s.c, s.h, s.w], ConvShape::params())?)
            }
            Kind::ConvBackwardWeight(s) => {
                drop(conv2d::conv2d_backward_weight(gpu, &d[0], &d[1], &[s.o, s.c, 3, 3], ConvShape::params())?)
            }
            Kind::MaxPool { .. } => drop(maxpool::maxpool2d_forward(gpu, &d[0], POOL)?),
        }
        Ok(())
    }

    /// Runs the CPU reference once (the plain-loop references in `ops::*::cpu`, f64 accumulation).
    pub fn run_cpu(&self) {
        let h = &self.host;
        match self.kind {
            Kind::Matmul { m, k, n, ta, tb } => {
                drop(std::hint::black_box(matmul::cpu::matmul(&h[0], &h[1], m, k, n, ta, tb)))
            }
            Kind::ConvForward(s) => {
                let (x, w, b) = (conv2d::cpu::to_f64(&h[0]), conv2d::cpu::to_f64(&h[1]), conv2d::cpu::to_f64(&h[2]));
                let y =
                    conv2d::cpu::forward(&x, [s.n, s.c, s.h, s.w], &w, [s.o, s.c, 3, 3], Some(&b), ConvShape::params());
                std::hint::black_box(y);
            }
            Kind::ConvBackwardData(s) => {
                let (dy, w) = (conv2d::cpu::to_f64(&h[0]), conv2d::cpu::to_f64(&h[1]));
                let dx =
                    conv2d::cpu::backward_data(&dy, &w, [s.o, s.c, 3, 3], [s.n, s.c, s.h, s.w], ConvShape::params());
                std::hint::black_box(dx);
            }
            Kind::ConvBackwardWeight(s) => {
                let (x, dy) = (conv2d::cpu::to_f64(&h[0]), conv2d::cpu::to_f64(&h[1]));
                let dw =
                    conv2d::cpu::backward_weight(&x, [s.n, s.c, s.h, s.w], &dy, [s.o, s.c, 3, 3], ConvShape::params());
                std::hint::black_box(dw);
            }
            Kind::MaxPool { n, c, h: hh, w } => {
                let x = conv2d::cpu::to_f64(&h[0]);
                std::hint::black_box(maxpool::cpu::forward(&x, [n, c, hh, w], POOL));
            }
        }
    }
}

/// One measured row.
#[derive(Debug, Clone)]
pub struct Row {
    pub kernel: &'static str,
    pub variant: Variant,
    /// Whether the subgroup-broadcast kernels were on (register-blocked variant, 8-lane subgroups).
    pub subgroups: bool,
    pub shape: String,
    pub gpu_ms: f64,
    pub rate: f64,
    pub unit: &'static str,
    pub cpu_ms: Option<f64>,
    pub cpu_rate: Option<f64>,
}

/// Times a case: one warm-up (pipeline compilation), then the median of `reps` runs, each
/// recorded, submitted and waited for on its own. The CPU reference runs once when asked.
pub fn measure(gpu: &Gpu, kind: Kind, reps: usize, with_cpu: bool) -> Result<Row> {
    let prep = Prepared::new(gpu, kind)?;
    prep.run_gpu(gpu)?;
    gpu.sync()?;
    let mut times = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        prep.run_gpu(gpu)?;
        gpu.sync()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let gpu_s = times[times.len() / 2];
    let (work, unit) = kind.work();
    let cpu_s = with_cpu.then(|| {
        let t = Instant::now();
        prep.run_cpu();
        t.elapsed().as_secs_f64()
    });
    Ok(Row {
        kernel: kind.kernel(),
        variant: gpu.variant(),
        subgroups: gpu.variant() == Variant::RegisterBlocked
            && gpu.subgroups8()
            && !matches!(kind, Kind::MaxPool { .. }),
        shape: kind.shape(),
        gpu_ms: gpu_s * 1e3,
        rate: work / gpu_s / 1e9,
        unit,
        cpu_ms: cpu_s.map(|s| s * 1e3),
        cpu_rate: cpu_s.map(|s| work / s / 1e9),
    })
}

impl Row {
    /// The variant as printed: "RegisterBlocked+sg" when the subgroup kernels were on.
    pub fn variant_label(&self) -> String {
        if self.subgroups {
            format!("{:?}+sg", self.variant)
        } else {
            format!("{:?}", self.variant)
        }
    }
}

/// A short training loop of the tiny CNN (`nn::smoke::TinyCnn`): speed and engine traffic per step.
#[derive(Debug, Clone)]
pub struct TrainRow {
    pub steps: usize,
    pub steps_per_s: f64,
    pub ms_per_step: f64,
    pub submits_per_step: f64,
    pub readbacks_per_step: f64,
    pub dispatches_per_step: f64,
    pub new_buffers_per_step: f64,
}

/// Runs 2 warm-up steps, then `steps` timed steps (upload a batch, forward, backward, SGD, read the loss).
pub fn train_loop(gpu: &Gpu, steps: usize) -> Result<TrainRow> {
    use crate::nn::smoke::{self, TinyCnn};
    let mut net = TinyCnn::new(gpu, 1)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut step = |net: &mut TinyCnn| -> Result<f32> {
        let (img, lab) = smoke::batch(&mut rng);
        let images = gpu.upload(&[smoke::BATCH, 1, smoke::SIDE, smoke::SIDE], &img)?;
        let labels = gpu.upload_u32(&[smoke::BATCH], &lab)?;
        Ok(net.step(gpu, &images, &labels)?.to_vec(gpu)?[0])
    };
    for _ in 0..2 {
        step(&mut net)?;
    }
    let steps = steps.max(1);
    let s0 = gpu.stats();
    let t = Instant::now();
    for _ in 0..steps {
        step(&mut net)?;
    }
    let secs = t.elapsed().as_secs_f64();
    let s1 = gpu.stats();
    let per = |a: u64, b: u64| (b - a) as f64 / steps as f64;
    Ok(TrainRow {
        steps,
        steps_per_s: steps as f64 / secs,
        ms_per_step: secs * 1e3 / steps as f64,
        submits_per_step: per(s0.submits, s1.submits),
        readbacks_per_step: per(s0.readbacks, s1.readbacks),
        dispatches_per_step: per(s0.dispatches, s1.dispatches),
        new_buffers_per_step: per(s0.buffers_created, s1.buffers_created),
    })
}
