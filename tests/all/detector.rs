//! Detector: the BCE-on-logits kernel against its CPU reference and a finite-difference gradient check.

use deeplesion::detector::bce;
use deeplesion::testing::{assert_close, gpu, grad_rel_err, randn, rng};
use rand::Rng;

#[test]
fn bce_forward_and_backward_match_cpu_on_awkward_sizes() {
    let g = gpu();
    let mut r = rng(7);
    for n in [1usize, 255, 257, 3 * 15 * 17 * 5] {
        let x: Vec<f32> = randn(&mut r, n).iter().map(|v| v * 12.0).collect(); // large |x| exercises stability
        let y: Vec<f32> = (0..n).map(|_| if r.gen_bool(0.3) { 1.0 } else { 0.0 }).collect();
        let w: Vec<f32> = (0..n).map(|_| if r.gen_bool(0.2) { 0.0 } else { r.gen_range(0.5..2.0) }).collect();
        let dy = randn(&mut r, n);
        let (tx, ty, tw, tdy) = (
            g.upload(&[n], &x).unwrap(),
            g.upload(&[n], &y).unwrap(),
            g.upload(&[n], &w).unwrap(),
            g.upload(&[n], &dy).unwrap(),
        );
        let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
        let want: Vec<f32> = bce::cpu::forward(&f64s(&x), &f64s(&y), &f64s(&w)).iter().map(|&v| v as f32).collect();
        let got = bce::forward(&g, &tx, &ty, &tw).unwrap().to_vec(&g).unwrap();
        assert_close(&format!("bce forward n={n}"), &got, &want, 1e-5);
        let want: Vec<f32> =
            bce::cpu::backward(&f64s(&x), &f64s(&y), &f64s(&w), &f64s(&dy)).iter().map(|&v| v as f32).collect();
        let got = bce::backward(&g, &tx, &ty, &tw, &tdy).unwrap().to_vec(&g).unwrap();
        assert_close(&format!("bce backward n={n}"), &got, &want, 1e-5);
    }
}

#[test]
fn bce_gradient_matches_finite_differences() {
    let g = gpu();
    let mut r = rng(11);
    let n = 37;
    let x: Vec<f64> = randn(&mut r, n).iter().map(|&v| v as f64 * 3.0).collect();
    let y: Vec<f64> = (0..n).map(|i| (i % 3 == 0) as u8 as f64).collect();
    let w: Vec<f64> = (0..n).map(|i| 0.5 + (i % 4) as f64 * 0.25).collect();
    let dy: Vec<f64> = randn(&mut r, n).iter().map(|&v| v as f64).collect();
    // L = sum_i dy_i * loss_i(x); dL/dx_i by central differences on the f64 forward.
    let l = |x: &[f64]| bce::cpu::forward(x, &y, &w).iter().zip(&dy).map(|(a, b)| a * b).sum::<f64>();
    let h = 1e-5;
    let numeric: Vec<f64> = (0..n)
        .map(|i| {
            let (mut p, mut m) = (x.clone(), x.clone());
            p[i] += h;
            m[i] -= h;
            (l(&p) - l(&m)) / (2.0 * h)
        })
        .collect();
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let up = |v: &[f64]| g.upload(&[n], &f32s(v)).unwrap();
    let got = bce::backward(&g, &up(&x), &up(&y), &up(&w), &up(&dy)).unwrap().to_vec(&g).unwrap();
    let analytic: Vec<f64> = got.iter().map(|&v| v as f64).collect();
    let e = grad_rel_err(&analytic, &numeric);
    assert!(e < 1e-4, "bce gradient relative error {e}");
}

mod end_to_end {
    //! Training, checkpoints, resume, detection and evaluation on a tiny synthetic dataset.

    use std::path::{Path, PathBuf};
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, OnceLock};

    use deeplesion::data::{Dataset, LoadOptions, Split};
    use deeplesion::detector::checkpoint::Checkpoint;
    use deeplesion::detector::step::LOSS_NAMES;
    use deeplesion::detector::train::{load_network, train, TrainOptions};
    use deeplesion::detector::{infer, Config};
    use deeplesion::eval::{self, detections};
    use deeplesion::testing::gpu;

    /// data-fixtures/ when present, else a tiny dataset generated once per test run.
    fn fixtures() -> PathBuf {
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("data-fixtures");
        if committed.join("DL_info.csv").exists() {
            return committed;
        }
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("deeplesion-detector-fixture-{}", std::process::id()));
            let cfg = deeplesion::data::synth::SynthConfig { patients: 12, size: 64, seed: 3 };
            deeplesion::data::synth::writer::generate(&cfg, &dir, |_| {}).expect("generate fixture data");
            dir
        })
        .clone()
    }

    /// A detector small enough for a few seconds a step on lavapipe.
    fn tiny(epochs: usize) -> Config {
        let mut c = Config::small_cpu();
        c.data.image_size = 64;
        c.data.max_train_images = 8;
        c.data.max_eval_images = 6;
        c.model.convs_per_block = vec![1, 1, 1];
        c.model.head_channels = 256;
        c.rpn.channels = 128;
        c.rpn.anchor_scales = vec![8.0, 16.0, 32.0];
        c.rpn.anchor_ratios = vec![1.0];
        c.train.epochs = epochs;
        c.train.batch_images = 4;
        c.train.lr = 0.01;
        c.train.lr_steps = vec![3];
        c.train.validate = false;
        c
    }

    fn opts(out: &Path, cfg: Config, resume: bool, max_epochs: Option<usize>) -> TrainOptions {
        TrainOptions {
            data: fixtures(),
            out: out.to_path_buf(),
            cfg,
            resume,
            progress: false,
            stop: None,
            max_epochs_this_run: max_epochs,
        }
    }

    #[test]
    fn training_lowers_the_loss_and_detect_and_eval_produce_well_formed_output() {
        let g = gpu();
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let mut cfg = tiny(4);
        cfg.train.validate = true;
        let s = train(&g, &opts(&run, cfg, false, None)).unwrap();
        assert_eq!(s.epochs_done, 4);
        // The loss falls: mean total of the last epoch's steps below the first step's total.
        let log = std::fs::read_to_string(run.join("log.csv")).unwrap();
        let totals: Vec<f32> = log.lines().skip(1).map(|l| l.split(',').nth(7).unwrap().parse().unwrap()).collect();
        let tail: f32 = totals[totals.len() - 2..].iter().sum::<f32>() / 2.0;
        assert!(tail < totals[0], "loss did not fall: {totals:?}");
        for f in ["config.toml", "checkpoint.safetensors", "best.safetensors", "loss.png", "val.csv"] {
            assert!(run.join(f).exists(), "{f} missing");
        }
        // Reload, detect on the test split, write and re-read the detections, evaluate.
        let (net, ck) = load_network(&g, &run.join("checkpoint.safetensors")).unwrap();
        assert_eq!(ck.meta["epoch"], "4");
        let (ds, _) = Dataset::open(&fixtures(), &LoadOptions::default()).unwrap();
        let ds = std::sync::Arc::new(ds);
        let mut dets = Vec::new();
        let m = infer::evaluate_split(&g, &net, &ds, Split::Test, 6, Some(&mut dets)).unwrap();
        assert!(dets.iter().all(|d| d.score.is_finite() && d.bbox[2] >= d.bbox[0] && d.bbox[3] >= d.bbox[1]));
        let p = dir.path().join("dets.csv");
        detections::write_csv(&p, &dets).unwrap();
        assert_eq!(detections::read(&p).unwrap().len(), dets.len());
        assert_eq!(m.iou.overall.sensitivity.len(), 6);
        assert!(m.iou.overall.sensitivity.iter().all(|s| (0.0..=1.0).contains(s)));
        assert!(m.images > 0 && m.lesions > 0);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["overlap_convention"], "pixel-inclusive");
        eval::plot::froc_chart(&dir.path().join("froc.png"), "t", &[("x".into(), m.iou.curve.clone())]).unwrap();
    }

    #[test]
    fn resume_after_two_epochs_equals_four_straight() {
        let g = gpu();
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("straight"), dir.path().join("resumed"));
        let mut cfg = tiny(4);
        cfg.data.flip = true; // the flips come from the saved RNG stream too
        train(&g, &opts(&a, cfg.clone(), false, None)).unwrap();
        let first = train(&g, &opts(&b, cfg.clone(), false, Some(2))).unwrap();
        assert_eq!(first.epochs_done, 2);
        let second = train(&g, &opts(&b, cfg, true, None)).unwrap();
        assert_eq!(second.epochs_done, 2);
        let (ka, kb) = (a.join("checkpoint.safetensors"), b.join("checkpoint.safetensors"));
        let worst = max_weight_diff(&ka, &kb);
        assert!(worst <= 1e-6, "resumed weights differ from straight training by {worst}");
        assert_eq!(Checkpoint::load(&ka).unwrap().meta["step"], Checkpoint::load(&kb).unwrap().meta["step"]);
    }

    #[test]
    fn micro_batches_give_the_update_of_one_pass() {
        // A batch of 4 as one forward pass and as micro-batches of 1 and 3 + 1 (gradients added,
        // losses weighted by their share of the images): the same weights after two steps, to
        // float summation order, since every image samples as many anchors and RoIs.
        // The automatic split: the paper preset's 64-channel conv1 at 512 px is 64 MiB an image.
        assert_eq!(deeplesion::detector::train::images_per_pass(&Config::paper(), 128 << 20), 2);
        assert_eq!(deeplesion::detector::train::images_per_pass(&Config::paper(), 100 << 20), 1);
        let g = gpu();
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one");
        let mut cfg = tiny(1);
        cfg.data.max_train_images = 8;
        train(&g, &opts(&one, cfg.clone(), false, None)).unwrap();
        for per_pass in [1, 3] {
            let micro = dir.path().join(format!("micro{per_pass}"));
            let mut c = cfg.clone();
            c.train.images_per_pass = per_pass;
            train(&g, &opts(&micro, c, false, None)).unwrap();
            let worst = max_weight_diff(&one.join("checkpoint.safetensors"), &micro.join("checkpoint.safetensors"));
            assert!(worst <= 1e-5, "{per_pass} image(s) a pass: weights differ by {worst}");
            let (la, lb) = (
                std::fs::read_to_string(one.join("log.csv")).unwrap(),
                std::fs::read_to_string(micro.join("log.csv")).unwrap(),
            );
            let total = |l: &str| -> Vec<f32> {
                l.lines().skip(1).map(|r| r.split(',').nth(7).unwrap().parse().unwrap()).collect()
            };
            for (a, b) in total(&la).iter().zip(total(&lb)) {
                assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{per_pass} a pass: loss {b} against {a}");
            }
        }
    }

    /// Largest absolute difference between the tensors of two checkpoints (same names required).
    fn max_weight_diff(a: &Path, b: &Path) -> f32 {
        let ca = Checkpoint::load(a).unwrap();
        let cb = Checkpoint::load(b).unwrap();
        assert_eq!(ca.tensors.keys().collect::<Vec<_>>(), cb.tensors.keys().collect::<Vec<_>>());
        let mut worst = 0f32;
        for (k, (_, va)) in &ca.tensors {
            for (x, y) in va.iter().zip(&cb.tensors[k].1) {
                assert!(x.is_finite() && y.is_finite(), "{k} holds a non-finite value");
                worst = worst.max((x - y).abs());
            }
        }
        worst
    }

    #[test]
    fn a_stop_request_saves_mid_epoch_and_resuming_matches_straight_training() {
        let g = gpu();
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("straight"), dir.path().join("stopped"));
        let mut cfg = tiny(2);
        cfg.data.flip = true;
        train(&g, &opts(&a, cfg.clone(), false, None)).unwrap();
        // What Ctrl-C does in `deeplesion train`: the flag is set, the step finishes, a checkpoint is saved.
        let mut o = opts(&b, cfg.clone(), false, None);
        o.stop = Some(Arc::new(AtomicBool::new(true)));
        let s = train(&g, &o).unwrap();
        assert!(s.interrupted);
        assert_eq!((s.steps, s.epochs_done), (1, 0));
        let ck = Checkpoint::load(&b.join("checkpoint.safetensors")).unwrap();
        assert_eq!((ck.meta["epoch"].as_str(), ck.meta["batch"].as_str()), ("0", "1"));
        let s = train(&g, &opts(&b, cfg, true, None)).unwrap();
        assert!(!s.interrupted);
        let worst = max_weight_diff(&a.join("checkpoint.safetensors"), &b.join("checkpoint.safetensors"));
        assert!(worst <= 1e-6, "stopped + resumed differs from straight training by {worst}");
    }

    #[test]
    fn a_non_finite_loss_stops_training_naming_the_step_and_keeps_the_last_good_checkpoint() {
        let g = gpu();
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let mut cfg = tiny(4);
        // Epoch 1 trains normally; from epoch 2 the rate is 1e28, so the weights overflow.
        cfg.train.lr_steps = vec![1];
        cfg.train.lr_gamma = 1e30;
        cfg.train.clip_grad_norm = 0.0;
        let err = train(&g, &opts(&run, cfg, false, None)).expect_err("training must stop");
        let msg = err.to_string();
        assert!(matches!(err, deeplesion::Error::Training(_)), "{msg}");
        let names_a_part = LOSS_NAMES.iter().any(|n| msg.contains(n)) || msg.contains("gradient norm");
        assert!(msg.contains("at step") && msg.contains("epoch 2") && names_a_part, "{msg}");
        let ck = Checkpoint::load(&run.join("checkpoint.safetensors")).unwrap();
        assert_eq!(ck.meta["epoch"], "1", "the epoch-1 checkpoint is the last good one");
        assert!(ck.tensors.values().all(|(_, v)| v.iter().all(|x| x.is_finite())));
    }

    /// The binary: `train` stops cleanly on SIGINT with a checkpoint, then `detect --image`,
    /// `detect --data` and `eval` run on it and write well-formed files.
    #[cfg(unix)]
    #[test]
    fn the_binary_saves_on_sigint_then_detects_on_one_png_and_a_split_and_evaluates() {
        use std::process::{Command, Stdio};
        use std::time::{Duration, Instant};
        let bin = env!("CARGO_BIN_EXE_deeplesion");
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let cfg_path = dir.path().join("tiny.toml");
        let mut cfg = tiny(200); // far more than the test waits for
        cfg.train.validate = false;
        cfg.save(&cfg_path).unwrap();
        let mut child = Command::new(bin)
            .args(["train", "--quiet", "--preset", "small-cpu", "--config"])
            .arg(&cfg_path)
            .arg("--data")
            .arg(fixtures())
            .arg("--out")
            .arg(&run)
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while std::fs::read_to_string(run.join("log.csv")).map_or(true, |l| l.lines().count() < 2) {
            assert!(t0.elapsed() < Duration::from_secs(300), "no training step logged in 300 s");
            assert!(child.try_wait().unwrap().is_none(), "train exited early");
            std::thread::sleep(Duration::from_millis(100));
        }
        let pid = child.id().to_string();
        assert!(Command::new("sh").args(["-c", &format!("kill -INT {pid}")]).status().unwrap().success());
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(130), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("interrupted at step"), "{stdout}");
        let ck = Checkpoint::load(&run.join("checkpoint.safetensors")).unwrap();
        assert!(ck.meta["step"].parse::<usize>().unwrap() >= 1);

        // One PNG slice.
        let png = std::fs::read_dir(fixtures().join("Images_png"))
            .unwrap()
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
            .map(|f| f.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "png"))
            .unwrap();
        let det = dir.path().join("one");
        let st = Command::new(bin)
            .args(["detect", "--model"])
            .arg(&run)
            .arg("--image")
            .arg(&png)
            .arg("--out")
            .arg(&det)
            .args(["--overlay-min-score", "0"])
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .output()
            .unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        let dets = detections::read(&det.join("detections.csv")).unwrap();
        assert!(dets.iter().all(|d| d.score.is_finite() && (0.0..=1.0).contains(&d.score)));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(det.join("detections.json")).unwrap()).unwrap();
        assert!(json.is_array() || json.is_object());
        assert_eq!(std::fs::read_dir(det.join("overlays")).unwrap().count(), 1);

        // A split, then the DeepLesion metrics of that detections file.
        let split = dir.path().join("split");
        let st = Command::new(bin)
            .args(["detect", "--split", "test", "--overlays", "2", "--model"])
            .arg(&run)
            .arg("--data")
            .arg(fixtures())
            .arg("--out")
            .arg(&split)
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .output()
            .unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        let st = Command::new(bin)
            .args(["eval", "--detections"])
            .arg(split.join("detections.csv"))
            .arg("--data")
            .arg(fixtures())
            .output()
            .unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        assert!(String::from_utf8_lossy(&st.stdout).contains("IoU >= 0.5"));
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(split.join("metrics.json")).unwrap()).unwrap();
        assert_eq!(m["iou"]["overall"]["sensitivity"].as_array().unwrap().len(), 6);
        assert!(split.join("froc.png").exists());
    }

    #[test]
    fn coarse_and_pseudo_class_modes_train_with_their_class_counts() {
        use deeplesion::detector::config::ClassMode;
        let g = gpu();
        let dir = tempfile::tempdir().unwrap();
        // A pseudo_labels.csv giving lesion j of each image cluster (j + row) % 3.
        let (ds, _) = Dataset::open(&fixtures(), &LoadOptions::default()).unwrap();
        let mut csv = String::from("File_name,lesion_index,cluster\n");
        for (i, img) in ds.images.iter().enumerate() {
            for j in 0..img.lesions.len() {
                csv += &format!("{},{j},{}\n", img.file_name, (i + j) % 3);
            }
        }
        let labels = dir.path().join("pseudo_labels.csv");
        std::fs::write(&labels, csv).unwrap();
        for (mode, want) in [(ClassMode::Coarse, 9usize), (ClassMode::Pseudo, 3)] {
            let mut cfg = tiny(1);
            cfg.data.max_train_images = 4;
            cfg.data.classes = mode;
            cfg.data.pseudo_labels = Some(labels.display().to_string());
            let run = dir.path().join(format!("{mode:?}"));
            let s = train(&g, &opts(&run, cfg, false, None)).unwrap();
            assert!(s.last_loss.is_finite());
            let (net, ck) = load_network(&g, &run.join("checkpoint.safetensors")).unwrap();
            assert_eq!(net.num_classes, want, "{mode:?}");
            assert_eq!(ck.tensors["model.head.cls.weight"].0[0], want + 1, "background + {want} classes");
        }
    }

    #[test]
    fn torchvision_vgg_tensors_load_into_the_backbone_by_name_and_shape() {
        use deeplesion::detector::model::{torchvision_name, Network};
        let g = gpu();
        let mut cfg = Config::paper();
        cfg.model.convs_per_block = vec![1, 1]; // conv1_1 = features.0, conv2_1 = features.5
        cfg.model.head = deeplesion::detector::config::HeadKind::Fc;
        cfg.model.head_channels = 16;
        cfg.rpn.channels = 16;
        let net = Network::new(&g, &cfg, 1).unwrap();
        let mut ck = Checkpoint::default();
        let shapes = [(0usize, vec![64usize, 3, 3, 3]), (1, vec![128, 64, 3, 3])];
        for (b, shape) in &shapes {
            let n: usize = shape.iter().product();
            let w: Vec<f32> = (0..n).map(|i| (i % 97) as f32 * 0.01 + *b as f32).collect();
            ck.tensors.insert(torchvision_name(*b, 0, "weight"), (shape.clone(), w));
            ck.tensors.insert(torchvision_name(*b, 0, "bias"), (vec![shape[0]], vec![0.5 + *b as f32; shape[0]]));
        }
        assert_eq!(torchvision_name(1, 0, "weight"), "features.5.weight");
        let path = tempfile::tempdir().unwrap();
        let file = path.path().join("vgg16.safetensors");
        ck.save_atomic(&file).unwrap();
        let loaded = Checkpoint::load(&file).unwrap();
        assert_eq!(net.load_torchvision(&g, &loaded).unwrap(), 4);
        for (b, _) in &shapes {
            let ours = net.store.named().into_iter().find(|(n, _)| n == &format!("backbone.conv{}_1.weight", b + 1));
            let got = ours.unwrap().1.value.to_vec(&g).unwrap();
            assert_eq!(got, loaded.tensors[&torchvision_name(*b, 0, "weight")].1);
        }
        // A missing tensor and a wrong shape are errors naming the tensor.
        let mut missing = loaded.clone();
        missing.tensors.remove("features.5.bias");
        let e = net.load_torchvision(&g, &missing).unwrap_err().to_string();
        assert!(e.contains("features.5.bias"), "{e}");
        let mut wrong = loaded;
        wrong.tensors.insert("features.0.weight".into(), (vec![32, 3, 3, 3], vec![0.0; 32 * 27]));
        assert!(net.load_torchvision(&g, &wrong).is_err());
    }
}
