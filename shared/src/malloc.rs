//! Tuning of the C allocator that libtorch's CPU tensors come from.
//!
//! libtorch allocates every CPU tensor with `posix_memalign` and frees it as soon as the last
//! reference goes, and a forward pass makes and drops dozens of tensors of tens to hundreds
//! of MB (TransformerNet at 720p: `[1, 32, 728, 1288]` f32 is 120 MB). glibc's malloc serves
//! blocks that large with a fresh `mmap` and returns them with `munmap` on free, and shrinks
//! the heap top past `M_TRIM_THRESHOLD`, so each pass page-faults all its memory in again,
//! zero-filled by the kernel. On the 2-core VM this project is measured on, that costs a
//! fifth of a 640×360 forward and half of a 720p one (README, "Light networks for CPUs").
//! PyTorch's CPU performance guide gives the same cause and recommends a caching allocator
//! (jemalloc/tcmalloc via `LD_PRELOAD`); [`reuse_freed_memory`] gets the effect with glibc's
//! own `mallopt` knobs.

/// Largest heap top glibc may keep free before returning it to the system: 2 GiB − 1 byte
/// (`mallopt` takes a C `int`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD_BYTES: libc::c_int = libc::c_int::MAX;

/// Makes glibc's malloc keep and reuse freed memory instead of unmapping it: no `mmap` for
/// large blocks (`M_MMAP_MAX` = 0; they come from the heap, where freed blocks are reused) and
/// no heap trimming below [`TRIM_THRESHOLD_BYTES`] of free top. Call once at start-up, before
/// the first tensor, from a binary (`infer`, `trainer`, benches, through
/// [`configure_from_env`]), not from a library user's process. The cost: the process keeps its
/// peak heap until it exits instead of shrinking after a large image. Returns whether glibc accepted both settings; `false` (nothing
/// changed) on other C libraries. Measured on this CPU: `infer` 640×360 frames, full network
/// 3.24 → 3.70 frames/s; a 720p forward 2.0 → 1.1 s; a training step (batch 2, 224 px)
/// 1.04 → 0.90 s.
pub fn reuse_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets glibc malloc tuning parameters (it takes the arena lock),
        // with values documented in mallopt(3); it touches no memory of ours.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// The environment variable that overrides the binaries' choice: `FASTSTYLE_MALLOC=reuse`
/// applies [`reuse_freed_memory`], `FASTSTYLE_MALLOC=default` keeps glibc's defaults (a
/// process that must give memory back between images; measuring the difference). Unset or
/// empty leaves the binary's default; any other value is an error.
pub const MALLOC_ENV: &str = "FASTSTYLE_MALLOC";

/// Whether to reuse freed memory, from [`MALLOC_ENV`]'s value (`None`: unset) and the binary's
/// default.
///
/// # Errors
/// [`crate::Error::Config`] naming the variable for a value other than `reuse` or `default`.
pub fn wants_reuse(value: Option<&str>, reuse_by_default: bool) -> crate::Result<bool> {
    match value {
        None | Some("") => Ok(reuse_by_default),
        Some("reuse") => Ok(true),
        Some("default") => Ok(false),
        Some(other) => Err(crate::Error::Config(format!("{MALLOC_ENV}={other}: expected reuse or default"))),
    }
}

/// What the binaries call at start-up: [`reuse_freed_memory`] if [`wants_reuse`] says so for
/// the environment. Returns whether the settings were applied. Reuse costs peak memory, since
/// freed blocks are kept and fragment: `trainer optimize` at 1024 px took 40.9 s at 3.13 GB
/// peak RSS with glibc's defaults and 19.3 s at 4.08 GB with reuse; `infer --tile 512` on a
/// 4K image 722 → 882 MiB. So `trainer optimize`, whose large multi-scale runs are bounded by
/// memory (README), keeps the defaults unless asked; `infer` and training reuse.
///
/// # Errors
/// As [`wants_reuse`] (nothing is changed then).
pub fn configure_from_env(reuse_by_default: bool) -> crate::Result<bool> {
    let value = std::env::var_os(MALLOC_ENV).map(|v| v.to_string_lossy().into_owned());
    Ok(wants_reuse(value.as_deref(), reuse_by_default)? && reuse_freed_memory())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc accepts both settings, and large tensors are still allocated, freed and
    /// allocated again correctly afterwards (from the heap now).
    #[test]
    fn glibc_accepts_the_settings_and_tensors_still_work() {
        assert_eq!(reuse_freed_memory(), cfg!(all(target_os = "linux", target_env = "gnu")));
        for i in 0..3 {
            // 64 MB each, far over glibc's default mmap threshold (128 KiB … 32 MiB).
            let t = tch::Tensor::full([16 << 20], i as f64, (tch::Kind::Float, tch::Device::Cpu));
            assert_eq!(t.sum(tch::Kind::Double).double_value(&[]), (i * (16 << 20)) as f64);
        }
    }

    /// The variable overrides the binary's default both ways; a typo is an error naming it.
    #[test]
    fn the_variable_overrides_the_default_and_rejects_other_values() {
        for default in [true, false] {
            assert_eq!(wants_reuse(None, default).unwrap(), default);
            assert_eq!(wants_reuse(Some(""), default).unwrap(), default);
            assert!(wants_reuse(Some("reuse"), default).unwrap());
            assert!(!wants_reuse(Some("default"), default).unwrap());
        }
        let e = wants_reuse(Some("defualt"), true).unwrap_err().to_string();
        assert!(e.contains("FASTSTYLE_MALLOC=defualt") && e.contains("reuse or default"), "{e}");
    }
}
