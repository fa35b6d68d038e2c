//! Atomic file writes: write to a temporary file beside the target, then rename over it.
//!
//! A reader (or a later run after a crash or Ctrl-C) therefore sees either the previous
//! complete file or the new complete file, never a partial one. The temporary file is a
//! hidden `.NAME.PID.XXXXXX.tmp` in the same folder, so the rename never crosses file
//! systems; a process killed mid-write (`kill -9`) leaves only such a file, which
//! [`remove_stale_temp_files`] deletes on the next run once its writer is gone.

use crate::error::{Error, Result};
use std::io::{BufWriter, Write};
use std::path::Path;

/// A new empty temporary file beside `path`, named `.NAME.PID.XXXXXX.tmp` (the name
/// [`remove_stale_temp_files`] recognises), created with the usual `0666 & !umask` mode.
fn temp_file_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.{}.", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // tempfile creates private (0600) files; the finished file gets the usual 0666 & !umask.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(dir).map_err(|e| Error::io(path, without_temp_path(e)))
}

/// tempfile's error without the ` at path ".x.jpg.123.abcdef.tmp"` it appends (it wraps the
/// OS error so that its code is out of reach): our errors name the file the user asked for,
/// once, never our temporary.
fn without_temp_path(error: std::io::Error) -> std::io::Error {
    if error.raw_os_error().is_some() || error.get_ref().is_none() {
        return error;
    }
    match error.to_string().split_once(" at path ") {
        Some((message, _)) => std::io::Error::new(error.kind(), message.to_string()),
        None => error,
    }
}

/// A temporary path beside `path` for a file some other program writes (ffmpeg, PyTorch):
/// deleted when dropped, or renamed onto `path` with `TempPath::persist` once complete. A
/// process killed before either leaves a file [`remove_stale_temp_files`] cleans up.
///
/// # Errors
/// [`Error::Io`] naming `path` when the folder does not allow creating it.
pub fn temp_path_beside(path: &Path) -> Result<tempfile::TempPath> {
    Ok(temp_file_beside(path)?.into_temp_path())
}

/// Writes `path` atomically: `write` fills a buffered temporary file, which is flushed,
/// synced to disk and renamed onto `path`. The parent folder must exist.
///
/// # Errors
/// [`Error::Io`] naming `path` when the temporary file cannot be created, written, synced or
/// renamed; errors returned by `write` (of any type that an [`Error`] converts into) are
/// passed through. On any error the temporary file is removed and `path` is left untouched.
pub fn write_atomic<F, E>(path: &Path, write: F) -> std::result::Result<(), E>
where
    F: FnOnce(&mut BufWriter<&mut std::fs::File>) -> std::result::Result<(), E>,
    E: From<Error>,
{
    let mut tmp = temp_file_beside(path)?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    #[cfg(feature = "fault-injection")]
    fault::delay_before_rename();
    tmp.persist(path).map_err(|e| Error::io(path, without_temp_path(e.error)))?;
    Ok(())
}

/// Testing aids, compiled only with the `fault-injection` feature (test builds).
#[cfg(feature = "fault-injection")]
pub mod fault {
    /// Environment variable naming milliseconds to sleep between writing a temporary file
    /// and renaming it: it holds the write window open so a test can `kill -9` the process
    /// mid-write deterministically (tests/train_faults.rs).
    pub const DELAY_RENAME_ENV: &str = "FASTSTYLE_FAULT_DELAY_RENAME_MS";

    pub(crate) fn delay_before_rename() {
        if let Some(ms) = std::env::var(DELAY_RENAME_ENV).ok().and_then(|v| v.parse::<u64>().ok()) {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
}

/// Writes `bytes` to `path` atomically (see [`write_atomic`]).
///
/// # Errors
/// As [`write_atomic`].
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes).map_err(|e| Error::io(path, e)))
}

/// If `name` is one of our temporary files (`.NAME.PID.XXXXXX.tmp`), the PID of its writer.
fn temp_file_writer(name: &str) -> Option<u32> {
    let stem = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = stem.rsplitn(3, '.');
    let random = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    let target = parts.next()?;
    (random.len() == 6 && random.chars().all(|c| c.is_ascii_alphanumeric()) && !target.is_empty()).then_some(pid)
}

/// Deletes the temporary files that [`write_atomic`] left in `dir` (and below, when
/// `recursive`) when its writer was killed, i.e. those whose writer process no longer
/// exists. Files of running writers, and every other file, are left alone. Returns how many
/// were removed. Linux only (it asks `/proc`); elsewhere it removes nothing.
pub fn remove_stale_temp_files(dir: &Path, recursive: bool) -> usize {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return 0;
    }
    let mut removed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() && recursive {
                stack.push(e.path());
            } else if ft.is_file() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = temp_file_writer(&name) {
                    if pid != std::process::id()
                        && !proc.join(pid.to_string()).exists()
                        && std::fs::remove_file(e.path()).is_ok()
                    {
                        removed += 1;
                    }
                }
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_with_umask_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        write_bytes_atomic(&p, b"one").unwrap();
        write_bytes_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Group/other read bits follow the umask (022 or 002 usually), not tempfile's 0600.
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_ne!(mode, 0o600, "mode {mode:o}");
            assert_eq!(mode & 0o600, 0o600);
        }
    }

    #[test]
    fn stale_temp_files_of_dead_writers_are_removed() {
        assert_eq!(temp_file_writer(".frame.jpg.1234.aB3xYz.tmp"), Some(1234));
        assert_eq!(temp_file_writer(".frame.jpg.tmp"), None);
        assert_eq!(temp_file_writer("frame.1234.aB3xYz.tmp"), None);
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        // PID 2^22+1 is above Linux's pid_max, so no such process exists.
        let dead = sub.join(".a.png.4194305.abcdef.tmp");
        let live = dir.path().join(format!(".b.png.{}.abcdef.tmp", std::process::id()));
        let other = dir.path().join(".hidden.tmp");
        for p in [&dead, &live, &other] {
            std::fs::write(p, b"partial").unwrap();
        }
        assert_eq!(remove_stale_temp_files(dir.path(), false), 0, "not recursive: sub/ untouched");
        assert_eq!(remove_stale_temp_files(dir.path(), true), 1);
        assert!(!dead.exists() && live.exists() && other.exists());
    }

    #[test]
    fn a_failed_write_names_the_file_asked_for_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing/out.jpg");
        let e = write_bytes_atomic(&p, b"x").unwrap_err();
        let msg = e.to_string();
        assert_eq!(msg.matches(&p.display().to_string()).count(), 1, "{msg}");
        assert!(!msg.contains(".out.jpg.") && !msg.contains("at path"), "names a temporary file: {msg}");
        assert!(msg.contains("No such file or directory"), "{msg}");
        assert!(std::error::Error::source(&e).is_none(), "the OS error is said once, not again as a cause");
    }

    #[test]
    fn a_failing_writer_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        write_bytes_atomic(&p, b"old").unwrap();
        let r: Result<()> = write_atomic(&p, |_| Err(Error::Config("boom".into())));
        assert!(r.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
