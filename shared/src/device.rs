//! Where and in what precision networks run: [`DeviceChoice`] (`auto`, `cpu`, `cuda`,
//! `cuda:N`) and [`Precision`] (`auto`, `fp32`, `bf16`, `fp16`).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use strum::{Display, EnumString, VariantNames};

/// Which device to run on, as written in configs and on the command line.
///
/// Its text form carries an ordinal (`cuda:1`), so it has its own `FromStr`/`Display` (the
/// derive macros of [`crate::choice`] only name unit variants); serde goes through them.
///
/// `auto` picks the first CUDA device when libtorch sees one, else the CPU. `cuda` and
/// `cuda:N` fail with a clear error when CUDA is not available rather than silently running
/// on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// First CUDA device if available, else CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device with this ordinal (`cuda` is `cuda:0`).
    Cuda(usize),
}

impl DeviceChoice {
    /// Resolves the choice to a concrete libtorch device.
    ///
    /// # Errors
    /// [`Error::Device`] when CUDA is requested but libtorch sees no CUDA device (a CPU-only
    /// libtorch, no driver, or a binary linked without `libtorch_cuda`), or the ordinal is
    /// out of range.
    pub fn resolve(self) -> Result<tch::Device> {
        match self {
            DeviceChoice::Auto => Ok(tch::Device::cuda_if_available()),
            DeviceChoice::Cpu => Ok(tch::Device::Cpu),
            DeviceChoice::Cuda(i) => {
                let n = tch::Cuda::device_count();
                if !tch::Cuda::is_available() || n <= 0 {
                    Err(Error::Device(format!(
                        "cuda:{i} was requested but libtorch sees no CUDA device; \
                         use --device cpu or auto"
                    )))
                } else if i as i64 >= n {
                    Err(Error::Device(format!("cuda:{i} was requested but only {n} CUDA device(s) exist")))
                } else {
                    Ok(tch::Device::Cuda(i))
                }
            }
        }
    }
}

/// What libtorch sees of the machine (`infer devices`; the first lines of the GPU report,
/// `benches/gpu/run.sh`): whether this binary reaches CUDA (false on a GPU machine when
/// `libtorch_cuda` was not linked; see `shared/build.rs`), how many devices, whether cuDNN
/// is available and enabled, and libtorch's CPU threads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceReport {
    /// `tch::Cuda::is_available()`.
    pub cuda_available: bool,
    /// `tch::Cuda::device_count()`.
    pub cuda_devices: i64,
    /// `tch::Cuda::cudnn_is_available()`.
    pub cudnn_available: bool,
    /// `tch::Cuda::user_enabled_cudnn()` (libtorch's `torch.backends.cudnn.enabled`).
    pub cudnn_enabled: bool,
    /// libtorch's intra-op CPU threads.
    pub cpu_threads: i32,
}

impl DeviceReport {
    /// Asks libtorch.
    pub fn probe() -> Self {
        DeviceReport {
            cuda_available: tch::Cuda::is_available(),
            cuda_devices: tch::Cuda::device_count(),
            cudnn_available: tch::Cuda::cudnn_is_available(),
            cudnn_enabled: tch::Cuda::user_enabled_cudnn(),
            cpu_threads: tch::get_num_threads(),
        }
    }
}

/// A device as users write it: `cpu`, `cuda:0`, …
pub fn device_name(device: tch::Device) -> String {
    match device {
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        tch::Device::Cpu => "cpu".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

impl FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| Error::Config(format!("unknown device {s:?}: use auto, cpu, cuda or cuda:N"))),
        }
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Numeric precision of a network's weights and activations: the TransformerNet at
/// inference (`infer --precision`) or the frozen loss network in training
/// (`loss_network_precision`). Written `auto`, `fp32` (also `f32`), `bf16`, `fp16` (also
/// `f16`), case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Display, EnumString, VariantNames)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum Precision {
    /// The fastest safe choice for the device: see [`Precision::resolve`].
    #[default]
    Auto,
    /// IEEE single precision.
    #[strum(to_string = "fp32", serialize = "f32")]
    Fp32,
    /// bfloat16: fp32's range, 8 mantissa bits; needs no loss scaling.
    Bf16,
    /// IEEE half precision (in training, with dynamic loss scaling against underflow).
    #[strum(to_string = "fp16", serialize = "f16")]
    Fp16,
}

impl Precision {
    /// The concrete choice on `device`: `auto` becomes `on_cuda` on a CUDA device and fp32
    /// elsewhere (bf16 and fp16 convolutions are slow on CPUs without AVX-512). Inference
    /// passes fp16, the training loss network bf16 (no loss scaling needed).
    pub fn resolve(self, device: tch::Device, on_cuda: Precision) -> Precision {
        match (self, device) {
            (Precision::Auto, tch::Device::Cuda(_)) => on_cuda,
            (Precision::Auto, _) => Precision::Fp32,
            (p, _) => p,
        }
    }

    /// The libtorch dtype (`auto` as fp32; resolve it first).
    pub fn kind(self) -> tch::Kind {
        match self {
            Precision::Bf16 => tch::Kind::BFloat16,
            Precision::Fp16 => tch::Kind::Half,
            Precision::Auto | Precision::Fp32 => tch::Kind::Float,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (s, d) in [
            ("auto", DeviceChoice::Auto),
            ("CPU", DeviceChoice::Cpu),
            ("cuda", DeviceChoice::Cuda(0)),
            ("cuda:1", DeviceChoice::Cuda(1)),
        ] {
            assert_eq!(s.parse::<DeviceChoice>().unwrap(), d);
        }
        assert_eq!(DeviceChoice::Cuda(0).to_string(), "cuda:0");
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn precision_names_agree_between_serde_and_text() {
        use strum::VariantNames;
        for name in Precision::VARIANTS {
            let p: Precision = name.parse().unwrap();
            assert_eq!(&p.to_string(), name);
            assert_eq!(serde_json::to_value(p).unwrap(), *name);
        }
        assert_eq!("F16".parse::<Precision>().unwrap(), Precision::Fp16);
        assert_eq!(Precision::Auto.resolve(tch::Device::Cuda(0), Precision::Bf16), Precision::Bf16);
        assert_eq!(Precision::Auto.resolve(tch::Device::Cpu, Precision::Fp16), Precision::Fp32);
        assert_eq!(Precision::Fp16.resolve(tch::Device::Cpu, Precision::Bf16), Precision::Fp16);
    }

    #[test]
    fn cpu_always_resolves() {
        assert_eq!(DeviceChoice::Cpu.resolve().unwrap(), tch::Device::Cpu);
    }
}
