//! The binary's `info` command: works on the available adapter, exits 2 with advice when none is reachable.

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_deeplesion"));
    c.env("XDG_RUNTIME_DIR", "/tmp").env_remove("DEEPLESION_ADAPTER");
    c
}

#[test]
fn info_lists_the_chosen_adapter_and_its_limits() {
    let out = bin().arg("info").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "info failed: {}\n{}", text, String::from_utf8_lossy(&out.stderr));
    for needle in ["Chosen:", "max_storage_buffer_binding_size", "SHADER_F16", "TIMESTAMP_QUERY", "SUBGROUP"] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
}

#[test]
fn info_without_a_reachable_driver_exits_2_with_instructions() {
    // Pointing the Vulkan loader at a driver list that does not exist hides every adapter.
    let out = bin()
        .arg("info")
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains("no GPU adapter found") && err.contains("install"), "stderr: {err}");
}

#[test]
fn an_unknown_adapter_name_is_an_error_listing_the_available_ones() {
    let out = bin().args(["--adapter", "no-such-gpu-xyz", "info"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains("no-such-gpu-xyz") && err.contains("available"), "stderr: {err}");
}
