//! Any bytes given to the checkpoint loader must give `Ok` or an `Err`, never a panic, a
//! hang or an abort: header and offsets (safetensors), `__metadata__` (format, version, model
//! and training configs), and tensor dtypes, shapes and values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = faststyle::tensor_file::TensorFile::from_bytes("fuzz.safetensors", data.to_vec()) else {
        return;
    };
    let _ = faststyle::checkpoint::CheckpointMeta::from_map(file.path(), &file.metadata());
    let _ = faststyle::Checkpoint::from_file(&file, tch::Device::Cpu);
});
