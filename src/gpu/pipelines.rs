//! Shaders compiled into the binary and the pipeline cache keyed by shader, entry point and binding signature.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One `.wgsl` file under shaders/, compiled into the binary.
#[derive(Debug)]
pub struct Shader {
    /// File stem, e.g. "elementwise" for shaders/elementwise.wgsl.
    pub name: &'static str,
    /// The WGSL source.
    pub source: &'static str,
}

/// Declares a `Shader` constant for `shaders/<name>.wgsl`.
#[macro_export]
macro_rules! shader {
    ($name:literal) => {
        $crate::gpu::Shader {
            name: $name,
            source: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $name, ".wgsl")),
        }
    };
}

/// How a storage buffer is bound. Binding 0 is always the uniform params struct; storage
/// bindings follow from 1 in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    ReadWrite,
}

pub(crate) struct CachedPipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// (shader name, entry point, storage access list).
type PipelineKey = (&'static str, &'static str, Vec<Access>);

/// Pipelines by (shader, entry point, storage access list).
#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<CachedPipeline>>>,
}

impl PipelineCache {
    pub fn get(
        &self,
        device: &wgpu::Device,
        shader: &Shader,
        entry: &'static str,
        access: &[Access],
    ) -> Arc<CachedPipeline> {
        let key = (shader.name, entry, access.to_vec());
        if let Some(p) = self.pipelines.lock().unwrap().get(&key) {
            return p.clone();
        }
        let module = {
            let mut m = self.modules.lock().unwrap();
            m.entry(shader.name)
                .or_insert_with(|| {
                    device.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(shader.name),
                        source: wgpu::ShaderSource::Wgsl(shader.source.into()),
                    })
                })
                .clone()
        };
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }];
        for (i, a) in access.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: *a == Access::Read },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let layout =
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(entry), entries: &entries });
        let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pl),
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        let p = Arc::new(CachedPipeline { pipeline, layout });
        self.pipelines.lock().unwrap().insert(key, p.clone());
        p
    }
}
