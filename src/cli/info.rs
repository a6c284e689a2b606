//! `deeplesion info`: the adapters found, the one chosen, its limits and optional features.

use deeplesion::gpu::adapter;
use deeplesion::{Gpu, GpuOptions};

pub fn run(wanted: Option<&str>) -> anyhow::Result<()> {
    let all = adapter::list();
    println!("Adapters found: {}", all.len());
    for a in &all {
        println!("  [{}] {} ({}, {}) {}", a.index, a.name, a.backend, a.device_type, a.driver);
    }
    let gpu = Gpu::new(GpuOptions { adapter: wanted.map(str::to_string), poison: false })?;
    let l = &gpu.limits;
    let f = gpu.device.features();
    println!("Chosen: {} ({:?}, {:?}, class {:?})", gpu.info.name, gpu.info.backend, gpu.info.device_type, gpu.class);
    println!("Kernel variant: {:?}", gpu.variant());
    println!("Limits:");
    println!("  max_storage_buffer_binding_size  {} MiB", l.max_storage_buffer_binding_size / (1 << 20));
    println!("  max_buffer_size                  {} MiB", l.max_buffer_size / (1 << 20));
    println!("  max_compute_workgroups_per_dim   {}", l.max_compute_workgroups_per_dimension);
    println!("  max_compute_invocations_per_wg   {}", l.max_compute_invocations_per_workgroup);
    println!(
        "  max_compute_workgroup_size       {} x {} x {}",
        l.max_compute_workgroup_size_x, l.max_compute_workgroup_size_y, l.max_compute_workgroup_size_z
    );
    println!("  max_compute_workgroup_storage    {} KiB", l.max_compute_workgroup_storage_size / 1024);
    println!("Optional features:");
    for (name, feat) in [
        ("SHADER_F16", wgpu::Features::SHADER_F16),
        ("TIMESTAMP_QUERY", wgpu::Features::TIMESTAMP_QUERY),
        ("SUBGROUP", wgpu::Features::SUBGROUP),
    ] {
        println!("  {name:<16} {}", if f.contains(feat) { "yes" } else { "no" });
    }
    Ok(())
}
