//! Running the workspace's binaries from tests: the one place that starts them. Every run is
//! checked for a Rust panic (a binary must fail with a message, never a panic). This file
//! uses only std, so the `trainer` and `infer` crates' own tests include it by path
//! (`#[path = "../../tests/support/run.rs"] mod run;`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// A finished run of a binary: its exit status and what it printed.
#[derive(Debug)]
pub struct Ran {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Ran {
    /// Whether it exited with status 0.
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// `(ok, stderr)`: what most checks look at.
    pub fn ok_and_stderr(self) -> (bool, String) {
        (self.status.success(), self.stderr)
    }
}

/// Runs `cmd` to the end.
///
/// # Panics
/// When it cannot be started, or when it panicked (`panicked at` on its stderr).
pub fn run(cmd: &mut Command) -> Ran {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let ran = Ran {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!ran.stderr.contains("panicked at"), "{cmd:?} panicked:\n{}", ran.stderr);
    ran
}

/// Runs the workspace binary `name` (see [`bin`]) with `args`.
///
/// # Panics
/// As [`run`] and [`bin`].
pub fn run_bin<S: AsRef<OsStr>>(name: &str, args: &[S]) -> Ran {
    run(Command::new(bin(name)).args(args))
}

/// Path of a workspace binary (`trainer`, `infer`) built in the same profile as the running
/// test. `cargo test --workspace` (and `make test`) builds them before running any test,
/// because the `trainer` and `infer` packages have integration tests of their own.
///
/// # Panics
/// When the binary has not been built, with the command to build it.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace` (or `make test`), which builds the binaries",
        path.display()
    );
    path
}
