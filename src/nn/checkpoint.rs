//! Saving and loading a parameter store as a safetensors file, matched by parameter name.

use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::params::ParamStore;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// What a load matched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Parameters overwritten from the file, in the store's order.
    pub loaded: Vec<String>,
    /// Store parameters the file does not hold (left as they were).
    pub missing: Vec<String>,
    /// File tensors with no parameter of that name (ignored).
    pub unexpected: Vec<String>,
}

fn format_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Format { path: path.to_path_buf(), message: message.into() }
}

impl ParamStore {
    /// Writes every parameter (F32, its shape, under its name) to a safetensors file. Reads each
    /// parameter back from the GPU once.
    pub fn save(&self, gpu: &Gpu, path: &Path) -> Result<()> {
        let mut host: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(self.len());
        for (name, p) in self.named() {
            let bytes: Vec<u8> = p.value.to_vec(gpu)?.iter().flat_map(|v| v.to_le_bytes()).collect();
            host.push((name, p.value.shape().to_vec(), bytes));
        }
        let mut views = Vec::with_capacity(host.len());
        for (name, shape, bytes) in &host {
            let view =
                TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(|e| format_err(path, e.to_string()))?;
            views.push((name.clone(), view));
        }
        safetensors::serialize_to_file(views, &None, path).map_err(|e| match e {
            safetensors::SafeTensorError::IoError(io) => Error::io(path, io),
            other => format_err(path, other.to_string()),
        })
    }

    /// Loads parameters by name from a safetensors file written by [`ParamStore::save`] (or any
    /// F32 safetensors file). With `strict`, every store parameter must be in the file and every
    /// file tensor in the store; otherwise the names in common are loaded (e.g. a pretrained
    /// backbone into a bigger model). A shape mismatch is always an error, and nothing is written
    /// unless every tensor to be loaded checks out.
    pub fn load_file(&self, gpu: &Gpu, path: &Path, strict: bool) -> Result<LoadReport> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| format_err(path, e.to_string()))?;
        let mut report = LoadReport::default();
        let mut todo = Vec::new();
        for (name, view) in st.tensors() {
            let Some(id) = self.id(&name) else {
                report.unexpected.push(name);
                continue;
            };
            let p = self.get(id);
            if view.dtype() != Dtype::F32 {
                return Err(format_err(path, format!("tensor '{name}' is {:?}, expected F32", view.dtype())));
            }
            if view.shape() != p.value.shape() {
                return Err(format_err(
                    path,
                    format!("tensor '{name}' has shape {:?}, the parameter {:?}", view.shape(), p.value.shape()),
                ));
            }
            let data: Vec<f32> =
                view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            todo.push((id, name, data));
        }
        report.missing =
            self.named().into_iter().map(|(n, _)| n).filter(|n| !todo.iter().any(|(_, t, _)| t == n)).collect();
        report.unexpected.sort();
        if strict && (!report.missing.is_empty() || !report.unexpected.is_empty()) {
            return Err(format_err(
                path,
                format!("strict load: missing {:?}, unexpected {:?}", report.missing, report.unexpected),
            ));
        }
        todo.sort_by_key(|t| t.0); // the store's order, not the file's (sorted by name)
        for (_, name, data) in todo {
            self.load(gpu, &name, None, &data)?;
            report.loaded.push(name);
        }
        Ok(report)
    }
}
