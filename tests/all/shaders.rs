//! naga parses and validates every file under shaders/ on the CPU, with no adapter.

#[test]
fn every_shader_parses_and_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut count = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        count += 1;
        let src = std::fs::read_to_string(&path).unwrap();
        match naga::front::wgsl::parse_str(&src) {
            Err(e) => failures.push(format!("{}: {}", path.display(), e.emit_to_string(&src))),
            Ok(module) => {
                // `*_sg.wgsl` kernels use subgroup broadcasts; the launchers pick them only when the
                // adapter has the SUBGROUP feature. Everything else must validate with no capability.
                let sg = path.file_stem().and_then(|s| s.to_str()).is_some_and(|s| s.ends_with("_sg"));
                let caps = if sg { naga::valid::Capabilities::SUBGROUP } else { naga::valid::Capabilities::empty() };
                let mut v = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
                if sg {
                    v.subgroup_stages(naga::valid::ShaderStages::COMPUTE);
                    v.subgroup_operations(naga::valid::SubgroupOperationSet::all());
                }
                if let Err(e) = v.validate(&module) {
                    failures.push(format!("{}: {}", path.display(), e.emit_to_string(&src)));
                }
            }
        }
    }
    assert!(count > 0, "no shaders found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
