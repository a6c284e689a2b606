//! The library's error type: every failure names the op, file or line it came from.

use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the library can fail with. `anyhow` is used only in `main`, tests and benches.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No GPU or software adapter could be found.
    #[error("no GPU adapter found.\n{hint}")]
    NoAdapter { hint: String },

    /// `--adapter` / `DEEPLESION_ADAPTER` named an adapter that does not exist.
    #[error("adapter '{wanted}' not found; available: {available}")]
    AdapterNotFound { wanted: String, available: String },

    /// The device could not be created.
    #[error("could not create a device on adapter '{adapter}': {message}")]
    DeviceCreation { adapter: String, message: String },

    /// wgpu reported a validation, out-of-memory or internal error while running an op.
    #[error("GPU error in op '{op}': {message}")]
    Gpu { op: String, message: String },

    /// A buffer would pass the adapter's limits (lavapipe never reports OOM, so we check first).
    #[error("op '{op}': a buffer of {bytes} bytes exceeds the adapter limit of {limit} bytes ({what})")]
    TooLarge { op: String, bytes: u64, limit: u64, what: &'static str },

    /// Operand shapes do not fit the op.
    #[error("op '{op}': shape mismatch: {message}")]
    Shape { op: String, message: String },

    /// An argument is out of its valid range (NaN scores, k larger than the points, ...).
    #[error("op '{op}': invalid argument: {message}")]
    InvalidArgument { op: String, message: String },

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A data file has bad content; `location` names the file and, where known, the line.
    #[error("{location}: {message}")]
    Data { location: String, message: String },

    /// A checkpoint or config is malformed.
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },

    /// Training diverged or was interrupted.
    #[error("training stopped: {0}")]
    Training(String),
}

impl Error {
    /// Shape error helper.
    pub fn shape(op: &str, message: impl Into<String>) -> Self {
        Error::Shape { op: op.to_string(), message: message.into() }
    }
    /// Invalid-argument error helper.
    pub fn invalid(op: &str, message: impl Into<String>) -> Self {
        Error::InvalidArgument { op: op.to_string(), message: message.into() }
    }
    /// I/O error helper that keeps the path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    /// Data error helper.
    pub fn data(location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Data { location: location.into(), message: message.into() }
    }
}
