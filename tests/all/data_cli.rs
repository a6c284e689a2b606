//! The data commands through the binary: synth, stats (table and JSON), mine, view, and bad input reported with file and line.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_deeplesion"))
}

fn run_ok(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{args:?} failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[test]
fn synth_stats_mine_view_work_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("set");
    let ds = d.to_str().unwrap();
    let t = run_ok(&["synth", "--out", ds, "--patients", "4", "--size", "64", "--seed", "2"]);
    assert!(t.contains("4 patients"), "{t}");
    let json = dir.path().join("stats.json");
    let t = run_ok(&["stats", ds, "--json", json.to_str().unwrap()]);
    assert!(t.contains("split") && t.contains("long diameter"), "{t}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(v["stats"]["total"]["images"].as_u64().unwrap() >= 4);
    assert_eq!(v["load"]["skipped"].as_array().unwrap().len(), 0);
    let t = run_ok(&["mine", ds]);
    assert!(t.contains("0 rows whose stored box differs"), "{t}");
    let mined = std::fs::read_to_string(d.join("mined_boxes.csv")).unwrap();
    assert!(mined.starts_with("File_name,Line,Mined_box"));
    let csv = std::fs::read_to_string(d.join("DL_info.csv")).unwrap();
    let first = csv.lines().nth(1).unwrap().split(',').next().unwrap().to_string();
    let png = dir.path().join("x.png");
    let t = run_ok(&["view", ds, "--image", &first, "--out", png.to_str().unwrap(), "--zoom", "2"]);
    assert!(t.contains("128x128"), "{t}");
    assert_eq!(image::open(&png).unwrap().width(), 128);
    // An unknown image is a clear error.
    let out = bin().args(["view", ds, "--image", "nope_001.png", "--out", png.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope_001.png"));
}

#[test]
fn bad_rows_are_reported_and_strict_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let row = super::data_reader::EXAMPLE_ROW.replace("33.8477", "abc");
    std::fs::write(d.join("DL_info.csv"), format!("{}\n{row}\n", super::data_reader::header())).unwrap();
    let out = bin().args(["stats", d.to_str().unwrap(), "--no-image-check"]).output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DL_info.csv:2") && err.contains("not a number"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 rows skipped"));
    let out = bin().args(["stats", d.to_str().unwrap(), "--strict"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DL_info.csv:2"));
}
