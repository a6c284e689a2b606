//! Safetensors checkpoints (named f32 tensors plus string metadata), written atomically.
//!
//! Atomic: the bytes go to `<path>.tmp`, are fsynced, then renamed over `<path>` and the folder
//! is fsynced, so a crash or Ctrl-C mid-write leaves the previous checkpoint intact.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};

/// Named tensors (host copies) and metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checkpoint {
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pub meta: BTreeMap<String, String>,
}

fn fmt_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Format { path: path.into(), message: e.to_string() }
}

impl Checkpoint {
    /// Serialises to safetensors bytes.
    pub fn to_bytes(&self, path_for_errors: &Path) -> Result<Vec<u8>> {
        let mut views = Vec::with_capacity(self.tensors.len());
        for (name, (shape, data)) in &self.tensors {
            let v = TensorView::new(Dtype::F32, shape.clone(), bytemuck::cast_slice(data))
                .map_err(|e| fmt_err(path_for_errors, format!("tensor {name}: {e:?}")))?;
            views.push((name.clone(), v));
        }
        let meta: HashMap<String, String> = self.meta.clone().into_iter().collect();
        safetensors::serialize(views, &Some(meta)).map_err(|e| fmt_err(path_for_errors, format!("{e:?}")))
    }

    /// Writes the checkpoint atomically (temp file, fsync, rename, fsync of the folder).
    pub fn save_atomic(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes(path)?;
        let tmp = path.with_extension("safetensors.tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            f.write_all(&bytes).map_err(|e| Error::io(&tmp, e))?;
            f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Persist the rename itself; not all platforms allow opening a folder, so best effort.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Reads a checkpoint; every tensor must be f32.
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses safetensors bytes.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| fmt_err(path, format!("{e:?}")))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| fmt_err(path, format!("{e:?}")))?;
        let mut tensors = BTreeMap::new();
        for name in st.names() {
            let v = st.tensor(name).map_err(|e| fmt_err(path, format!("{name}: {e:?}")))?;
            if v.dtype() != Dtype::F32 {
                return Err(fmt_err(path, format!("tensor {name} is {:?}, expected F32", v.dtype())));
            }
            // Copy through from_le_bytes: the mapped data need not be 4-byte aligned.
            let data: Vec<f32> =
                v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            tensors.insert(name.clone(), (v.shape().to_vec(), data));
        }
        let meta = metadata.metadata().clone().unwrap_or_default().into_iter().collect();
        Ok(Checkpoint { tensors, meta })
    }

    /// A metadata value parsed, with an error naming the key.
    pub fn meta_parse<T: std::str::FromStr>(&self, key: &str, path: &Path) -> Result<T> {
        self.meta
            .get(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| fmt_err(path, format!("metadata '{key}' missing or malformed")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_atomic_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ck.safetensors");
        let mut c = Checkpoint::default();
        c.tensors.insert("a.weight".into(), (vec![2, 3], vec![1., 2., 3., 4., 5., -6.5]));
        c.meta.insert("epoch".into(), "3".into());
        c.save_atomic(&p).unwrap();
        c.meta.insert("epoch".into(), "4".into());
        c.save_atomic(&p).unwrap();
        let back = Checkpoint::load(&p).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.meta_parse::<usize>("epoch", &p).unwrap(), 4);
        assert!(!p.with_extension("safetensors.tmp").exists());
    }
}
