//! `deeplesion cluster` through the binary on data-fixtures: every output file present and well-formed, bad k reported.

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_deeplesion"))
}

fn fixtures() -> String {
    format!("{}/data-fixtures", env!("CARGO_MANIFEST_DIR"))
}

/// (File_name, lesion index within its key slice) of every DL_info.csv row, in file order.
fn dl_info_lesions(dir: &str) -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(Path::new(dir).join("DL_info.csv")).unwrap();
    let mut out: Vec<(String, usize)> = Vec::new();
    for line in text.lines().skip(1) {
        let name = line.split(',').next().unwrap().to_string();
        let j = out.iter().filter(|(f, _)| *f == name).count();
        out.push((name, j));
    }
    out
}

#[test]
fn cluster_command_writes_well_formed_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c");
    let k = 5;
    // A small network and one short round keep this to seconds on lavapipe.
    let args = [
        "cluster",
        "--data",
        &fixtures(),
        "--out",
        out.to_str().unwrap(),
        "--k",
        "5",
        "--rounds",
        "1",
        "--epochs",
        "1",
        "--patch",
        "32",
        "--blocks",
        "3",
        "--width",
        "4",
        "--restarts",
        "1",
    ];
    let res = bin().env("XDG_RUNTIME_DIR", "/tmp").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(res.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&res.stderr));
    assert!(stdout.contains("raw pixels (baseline)") && stdout.contains("round 1"), "{stdout}");
    assert!(stdout.contains("final clusters vs Coarse_lesion_type"), "{stdout}");

    // pseudo_labels.csv: one row per DL_info.csv lesion, same order, clusters in 0..k, every cluster used.
    let want = dl_info_lesions(&fixtures());
    let csv = std::fs::read_to_string(out.join("pseudo_labels.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("File_name,lesion_index,cluster"));
    let rows: Vec<Vec<String>> = lines.map(|l| l.split(',').map(str::to_string).collect()).collect();
    assert_eq!(rows.len(), want.len());
    let mut used = vec![0usize; k];
    for (r, (name, j)) in rows.iter().zip(&want) {
        assert_eq!(r.len(), 3, "{r:?}");
        assert_eq!(&r[0], name);
        assert_eq!(r[1].parse::<usize>().unwrap(), *j, "{r:?}");
        let c: usize = r[2].parse().unwrap();
        assert!(c < k, "{r:?}");
        used[c] += 1;
    }
    assert!(used.iter().all(|&u| u > 0), "empty cluster in the final labels: {used:?}");

    // centroids.csv: header cluster,f0..; k rows of finite values.
    let cen = std::fs::read_to_string(out.join("centroids.csv")).unwrap();
    let mut lines = cen.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "cluster");
    assert_eq!(header[1], "f0");
    let body: Vec<&str> = lines.collect();
    assert_eq!(body.len(), k);
    for (c, line) in body.iter().enumerate() {
        let v: Vec<&str> = line.split(',').collect();
        assert_eq!(v.len(), header.len(), "{line}");
        assert_eq!(v[0].parse::<usize>().unwrap(), c);
        assert!(v[1..].iter().all(|x| x.parse::<f32>().unwrap().is_finite()), "{line}");
    }

    // confusion.csv: k cluster rows over the 8 coarse types; counts add up to the labelled lesions.
    let conf = std::fs::read_to_string(out.join("confusion.csv")).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let labelled = report["labelled"].as_u64().unwrap() as usize;
    assert!(labelled > 0);
    assert_eq!(report["lesions"].as_u64().unwrap() as usize, want.len());
    assert_eq!(report["k"].as_u64().unwrap() as usize, k);
    let total: usize = conf
        .lines()
        .skip(1)
        .flat_map(|l| l.split(',').skip(1).take(8).map(|x| x.trim().parse::<usize>().unwrap()).collect::<Vec<_>>())
        .sum();
    assert_eq!(total, labelled, "{conf}");
    let rounds = report["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2);
    for r in rounds.iter().chain([&report["raw_pixels"]]) {
        for m in ["purity", "nmi", "ari"] {
            let v = r["scores"][m].as_f64().unwrap();
            assert!((-1.0..=1.0).contains(&v), "{m} = {v}");
        }
    }
    assert!(rounds[1]["change_fraction"].as_f64().is_some());
    let txt = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(txt.contains("refinement"), "{txt}");
    for png in ["metrics.png", "mosaic.png"] {
        let img = image::open(out.join(png)).unwrap();
        assert!(img.width() > 100 && img.height() > 100, "{png}");
    }
}

#[test]
fn cluster_command_rejects_k_above_the_lesion_count_and_unknown_options() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c");
    let res = bin()
        .env("XDG_RUNTIME_DIR", "/tmp")
        .args(["cluster", "--data", &fixtures(), "--out", out.to_str().unwrap(), "--k", "100000", "--rounds", "0"])
        .output()
        .unwrap();
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("larger than the number of lesions"), "{err}");
    assert!(!out.join("pseudo_labels.csv").exists());
    // An unknown feature normalisation is refused before any work, naming the choices.
    let res = bin()
        .args(["cluster", "--data", &fixtures(), "--out", out.to_str().unwrap(), "--feature-norm", "cosine"])
        .output()
        .unwrap();
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("standardize") && err.contains("l2"), "{err}");
}
