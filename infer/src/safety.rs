//! Output safety: `infer` never overwrites its own input, nor an existing output, unless told
//! to (`--overwrite`), and can resume a half-done folder (`--skip-existing`).

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// What to do with outputs that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExistingOutputs {
    /// Refuse before doing any work (the default: nothing is lost by accident).
    #[default]
    Refuse,
    /// Replace them (`--overwrite`).
    Overwrite,
    /// Keep them and do only the missing ones (`--skip-existing`).
    Skip,
}

impl ExistingOutputs {
    /// From the two command-line flags (clap makes them mutually exclusive).
    pub fn from_flags(overwrite: bool, skip_existing: bool) -> Self {
        match (overwrite, skip_existing) {
            (true, _) => ExistingOutputs::Overwrite,
            (false, true) => ExistingOutputs::Skip,
            (false, false) => ExistingOutputs::Refuse,
        }
    }
}

impl ExistingOutputs {
    /// For one output file: `Ok(true)` when it exists and is to be kept (`--skip-existing`,
    /// said on stderr), `Ok(false)` when the work should go ahead.
    ///
    /// # Errors
    /// It exists and neither `--overwrite` nor `--skip-existing` was given.
    pub fn keep_existing_file(self, output: &Path) -> Result<bool> {
        if !output.exists() {
            return Ok(false);
        }
        match self {
            ExistingOutputs::Refuse => bail!(
                "{}: the output exists; pass --overwrite to replace it or --skip-existing to keep it",
                output.display()
            ),
            ExistingOutputs::Skip => {
                eprintln!("kept existing {}", output.display());
                Ok(true)
            }
            ExistingOutputs::Overwrite => Ok(false),
        }
    }
}

/// `p` made absolute with symbolic links resolved, also when it does not exist yet: the
/// longest existing ancestor is canonicalised and the remaining components appended.
pub fn resolved(p: &Path) -> PathBuf {
    let mut head = p.to_path_buf();
    let mut tail = Vec::new();
    loop {
        if let Ok(c) = head.canonicalize() {
            return tail.iter().rev().fold(c, |acc, comp: &std::ffi::OsString| acc.join(comp));
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_os_string());
                head = if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() };
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// Refuses an output that is the input file, or an output folder inside the input folder,
/// unless `overwrite`.
///
/// # Errors
/// A message naming both paths and the flag that allows it.
pub fn check_output_is_not_input(input: &Path, output: &Path, input_is_dir: bool, overwrite: bool) -> Result<()> {
    if overwrite {
        return Ok(());
    }
    let (ri, ro) = (resolved(input), resolved(output));
    if !input_is_dir && ri == ro {
        bail!(
            "{}: the output is the input itself; refusing to overwrite it (pass --overwrite to replace the input)",
            output.display()
        );
    }
    if input_is_dir && ro.starts_with(&ri) {
        bail!(
            "{}: the output folder is inside the input folder {}; outputs would mix with (or replace) inputs. \
             Choose another folder, or pass --overwrite",
            output.display(),
            input.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_paths_that_do_not_exist_yet() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        assert_eq!(resolved(&dir.path().join("a/b/../c.png")), base.join("a/b/../c.png"));
        assert_eq!(resolved(&dir.path().join("x")), base.join("x"));
    }

    #[test]
    fn refuses_writing_into_the_input() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir(&input).unwrap();
        let img = input.join("a.jpg");
        std::fs::write(&img, b"x").unwrap();
        assert!(check_output_is_not_input(&img, &img, false, false).is_err());
        assert!(check_output_is_not_input(&img, &input.join("./a.jpg"), false, false).is_err());
        assert!(check_output_is_not_input(&img, &img, false, true).is_ok());
        assert!(check_output_is_not_input(&input, &input.join("styled"), true, false).is_err());
        assert!(check_output_is_not_input(&input, &input, true, false).is_err());
        assert!(check_output_is_not_input(&input, &dir.path().join("out"), true, false).is_ok());
        assert!(check_output_is_not_input(&input, &dir.path().join("in-styled"), true, false).is_ok());
    }
}
