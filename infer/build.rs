// The one build script for every crate that links libtorch: see its comment.
include!("../shared/build.rs");
