// Link libtorch so that CUDA is seen and the binaries run without `LD_LIBRARY_PATH`.
//
// rustc links with `--as-needed` by default, which drops `libtorch_cuda.so` (nothing refers
// to it by symbol): `tch::Cuda::is_available()` is then false even on a GPU machine. We link
// it with `--no-as-needed`, and set an rpath to the libtorch that torch-sys built against
// (`DEP_TCH_LIBTORCH_LIB`, which only reaches crates that depend on `torch-sys` directly).
// The same file is the build script of every crate that produces executables: the `trainer`
// and `infer` binaries, and the test and bench executables of `faststyle` and the root suite.
// (Without it, CUDA is never seen on a GPU machine: the README's GPU section.)

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    // libtorch_cuda.so only exists in CUDA builds of torch; a CPU-only libtorch has none.
    let has_cuda = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .map(|lib| std::path::Path::new(&lib).join("libtorch_cuda.so").exists())
        .unwrap_or(false);
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    if has_cuda {
        println!("cargo:rustc-link-arg=-ltorch_cuda");
    }
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
    // The venv's Python (with torch), for `infer import`/`infer export`'s short helpers.
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
    if let Ok(venv) = std::env::var("VIRTUAL_ENV") {
        println!("cargo:rustc-env=FASTSTYLE_BUILD_PYTHON={venv}/bin/python");
    }
}
