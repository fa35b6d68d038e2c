//! The error type of the `faststyle` library.
//!
//! Every variant that concerns a file names it, so a binary can print the error alone and the
//! user knows which file and what is wrong (`main` prints it with `{:#}`).

use std::path::PathBuf;

/// Errors from loading, validating, running and saving faststyle models and images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error while reading or writing `path`. The OS error is part of
    /// the message, not a separate cause, so `{:#}` says it once.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or folder concerned (for a write: the file asked for, never a temporary).
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },

    /// `path` is not an image this build can decode (unknown format, corrupt or truncated
    /// data, or over the decoder's size limits).
    #[error("{}: cannot decode image: {reason}", path.display())]
    Decode {
        /// The image file.
        path: PathBuf,
        /// What the decoder reported.
        reason: String,
    },

    /// Encoding or writing an output image failed.
    #[error("{}: cannot write image: {reason}", path.display())]
    Encode {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// Laying out tensors as a safetensors file failed (a tensor file, not an image).
    #[error("{}: cannot write tensor file: {reason}", path.display())]
    WriteTensors {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// A folder holds no file with an image extension, at any depth.
    #[error("{}: no images found ({extensions}) in this folder or below", path.display())]
    NoImages {
        /// The folder.
        path: PathBuf,
        /// The extensions looked for, comma-separated.
        extensions: String,
    },

    /// The output extension names no format we write.
    #[error(
        "{}: unsupported output format {ext:?}: use .jpg, .jpeg or .png",
        path.display()
    )]
    UnsupportedOutputFormat {
        /// The output file.
        path: PathBuf,
        /// Its extension, or "" when it has none.
        ext: String,
    },

    /// The file is not a readable safetensors file (bad or truncated header, bad offsets).
    #[error("{}: not a valid safetensors file: {reason}", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What the parser reported.
        reason: String,
    },

    /// Tensors that the model needs are absent from the file.
    #[error("{}: missing tensors: {}", path.display(), names.join(", "))]
    MissingTensors {
        /// The file.
        path: PathBuf,
        /// The absent tensor names.
        names: Vec<String>,
    },

    /// A tensor has the wrong shape for the model being loaded.
    #[error(
        "{}: tensor {name} has shape {found:?}, expected {expected:?}",
        path.display()
    )]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// Its shape in the file.
        found: Vec<i64>,
        /// The shape the model needs.
        expected: Vec<i64>,
    },

    /// A tensor has a dtype that cannot hold weights (integers, booleans, …).
    #[error(
        "{}: tensor {name} has dtype {found}, expected F32, F16, BF16 or F64",
        path.display()
    )]
    BadDtype {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// Its dtype in the file.
        found: String,
    },

    /// A checkpoint written by a newer faststyle, with a format this build does not know.
    #[error(
        "{}: checkpoint format version {found} is newer than this faststyle supports \
         (version {supported}); upgrade faststyle to load it",
        path.display()
    )]
    FutureFormat {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },

    /// A checkpoint that is well-formed safetensors but not a usable faststyle checkpoint:
    /// no or invalid metadata, another architecture, unexpected or non-finite tensors.
    #[error("{}: {reason}", path.display())]
    BadCheckpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A loss-network layer name that the chosen VGG does not have.
    #[error("unknown layer {name:?} for {arch}; valid layers: {}", valid.join(", "))]
    UnknownLayer {
        /// The requested name.
        name: String,
        /// The VGG variant, e.g. "vgg16".
        arch: String,
        /// Every valid tap name of that variant, shallow to deep.
        valid: Vec<String>,
    },

    /// A configuration value out of its valid range.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The requested device cannot be used.
    #[error("device: {0}")]
    Device(String),

    /// An error raised by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io { path: path.into(), error }
    }
}

/// `message` prefixed with `path`, unless the message already names it (most of this
/// crate's errors do), so reports never say the path twice.
pub fn about(path: &std::path::Path, message: &str) -> String {
    let shown = path.display().to_string();
    if message.contains(&shown) {
        message.to_string()
    } else {
        format!("{shown}: {message}")
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
