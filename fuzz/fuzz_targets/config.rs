//! Any bytes given to the training-config parser must give `Ok` or an `Err`, never a panic:
//! JSON syntax, unknown fields, wrong types, and then validation of the parsed values.
#![no_main]

use faststyle_trainer::TrainConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cfg) = serde_json::from_slice::<TrainConfig>(data) {
        let _ = cfg.validate(None);
        let _ = serde_json::to_string(&cfg);
    }
});
