//! Atomic file writes: write to a temporary file beside the target, then rename over it.
//!
//! A reader (or a later run after a crash or Ctrl-C) therefore sees either the previous
//! complete file or the new complete file, never a partial one. The temporary file is a
//! hidden `.NAME.XXXXXX.tmp` in the same folder, so the rename never crosses file systems.

use crate::error::{Error, Result};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes `path` atomically: `write` fills a buffered temporary file, which is flushed,
/// synced to disk and renamed onto `path`. The parent folder must exist.
///
/// # Errors
/// [`Error::Io`] naming `path` when the temporary file cannot be created, written, synced or
/// renamed; errors returned by `write` are passed through. On any error the temporary file
/// is removed and `path` is left untouched.
pub fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<&mut std::fs::File>) -> Result<()>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(path, e))?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Writes `bytes` to `path` atomically (see [`write_atomic`]).
///
/// # Errors
/// As [`write_atomic`].
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes).map_err(|e| Error::io(path, e)))
}
