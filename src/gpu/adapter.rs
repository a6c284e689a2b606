//! Adapter discovery and choice: discrete GPU first, then integrated, then software (lavapipe).

use crate::error::{Error, Result};

/// Environment variable that picks an adapter by index or name substring (like `--adapter`).
pub const ADAPTER_ENV: &str = "DEEPLESION_ADAPTER";

/// Coarse class of an adapter: decides which kernel variants are fast on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterClass {
    /// A real GPU (discrete, integrated or virtual): wants workgroup-memory tiles.
    Gpu,
    /// A CPU implementation such as lavapipe: wants register blocking, no workgroup memory.
    Software,
}

/// What a user sees of one adapter in `deeplesion info`.
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    // Compute only: Vulkan, Metal, DX12. GL lacks what the engine needs (storage buffers in compute on some drivers).
    desc.backends = wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12;
    wgpu::Instance::new(desc)
}

/// Ranks adapters: lower is better.
fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// The class of an adapter from its device type.
pub fn class_of(info: &wgpu::AdapterInfo) -> AdapterClass {
    if info.device_type == wgpu::DeviceType::Cpu {
        AdapterClass::Software
    } else {
        AdapterClass::Gpu
    }
}

/// How to get an adapter on this system, printed when none is found.
pub fn no_adapter_hint() -> String {
    let debian = std::path::Path::new("/etc/debian_version").exists();
    if debian {
        "Install Mesa's software Vulkan driver (lavapipe): `sudo apt-get install mesa-vulkan-drivers`, \
         or run `make demo` / `make test`, which install it for you."
            .to_string()
    } else {
        "Install a Vulkan driver for your GPU, or Mesa's software Vulkan driver (lavapipe, package \
         `mesa-vulkan-drivers` or `mesa-vulkan-swrast`); on macOS Metal is used and needs no install."
            .to_string()
    }
}

/// All adapters wgpu can see, in enumeration order.
pub fn enumerate() -> (wgpu::Instance, Vec<wgpu::Adapter>) {
    let inst = instance();
    let adapters = pollster::block_on(inst.enumerate_adapters(inst_backends()));
    (inst, adapters)
}

fn inst_backends() -> wgpu::Backends {
    wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12
}

/// Summaries of every adapter found.
pub fn list() -> Vec<AdapterSummary> {
    let (_i, adapters) = enumerate();
    adapters
        .iter()
        .enumerate()
        .map(|(index, a)| {
            let info = a.get_info();
            AdapterSummary {
                index,
                name: info.name.clone(),
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
            }
        })
        .collect()
}

/// Picks an adapter: by `wanted` (index or case-insensitive name substring), else by the
/// environment variable, else the best-ranked one.
pub fn choose(wanted: Option<&str>) -> Result<wgpu::Adapter> {
    let (_inst, adapters) = enumerate();
    if adapters.is_empty() {
        return Err(Error::NoAdapter { hint: no_adapter_hint() });
    }
    let env = std::env::var(ADAPTER_ENV).ok().filter(|s| !s.is_empty());
    let wanted = wanted.map(str::to_string).or(env);
    if let Some(w) = wanted {
        let found = if let Ok(i) = w.parse::<usize>() {
            adapters.into_iter().nth(i)
        } else {
            let lw = w.to_lowercase();
            let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
            let pos = names.iter().position(|n| n.to_lowercase().contains(&lw));
            match pos {
                Some(p) => adapters.into_iter().nth(p),
                None => return Err(Error::AdapterNotFound { wanted: w, available: names.join(", ") }),
            }
        };
        return found.ok_or_else(|| Error::AdapterNotFound {
            wanted: w.clone(),
            available: list().iter().map(|s| format!("{}: {}", s.index, s.name)).collect::<Vec<_>>().join(", "),
        });
    }
    let mut best: Vec<(u8, usize, wgpu::Adapter)> =
        adapters.into_iter().enumerate().map(|(i, a)| (rank(a.get_info().device_type), i, a)).collect();
    best.sort_by_key(|(r, i, _)| (*r, *i));
    Ok(best.into_iter().next().expect("non-empty").2)
}
