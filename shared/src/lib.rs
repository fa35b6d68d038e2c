//! # faststyle
//!
//! Feed-forward neural style transfer after Johnson, Alahi & Fei-Fei, "Perceptual Losses for
//! Real-Time Style Transfer and Super-Resolution" (ECCV 2016), with the architectural choices
//! of the PyTorch reference example (pytorch/examples `fast_neural_style`, "PE" below).
//!
//! This crate holds everything the `trainer` and `infer` binaries share:
//! - [`transformer`]: the image transformation network, [`TransformerNet`];
//! - [`vgg`]: the frozen VGG16/VGG19 loss network with named taps (`relu2_2`, …);
//! - [`loss`]: Gram matrix, content (feature), style and total-variation losses;
//! - [`checkpoint`]: the self-describing safetensors checkpoint format;
//! - [`image_io`]: image decoding/encoding, resizing and tensor conversion;
//! - [`tensor_file`]: checked reading of safetensors files into a `VarStore`;
//! - [`synthetic`]: procedurally rendered test scenes (the project ships no photos);
//! - [`device`]: `auto|cpu|cuda` device and `auto|fp32|bf16|fp16` precision choices;
//! - [`choice`]: those choices as command-line values;
//! - [`fsutil`]: atomic writes (temp file + rename) and cleanup after a crash;
//! - [`malloc`]: glibc malloc settings that keep freed tensor memory for reuse;
//! - [`progress`]: the progress bar and the warnings printed above it;
//! - [`color`]: output controls (strength, colour preservation);
//! - [`lbfgs`]: L-BFGS with PyTorch's semantics, for optimisation-based style transfer;
//! - [`quality`]: border-band figures, the fixed style-strength yardstick, temporal figures;
//! - [`motion`]: synthetic frame motion and the flow-free temporal and stability losses;
//! - [`sheet`]: contact sheets, with captions.
//!
//! Tensor conventions used throughout: images are `[N, 3, H, W]` `f32` RGB with values in
//! 0–255 (not normalised); the loss network applies its own preprocessing.

pub mod checkpoint;
pub mod choice;
pub mod color;
pub mod device;
pub mod error;
pub mod fsutil;
pub mod image_io;
pub mod lbfgs;
pub mod loss;
pub mod malloc;
pub mod motion;
pub mod progress;
pub mod quality;
pub mod sheet;
pub mod synthetic;
pub mod tensor_file;
pub mod transformer;
pub mod vgg;

pub use checkpoint::{Checkpoint, CheckpointMeta, StyleInfo};
pub use color::Controls;
pub use device::{DeviceChoice, Precision};
pub use error::{Error, Result};
pub use loss::{LayerWeight, LossParts, LossValues, LossWeights, PerceptualLoss};
pub use tensor_file::StoreDtype;
pub use transformer::{style_weights, Preset, TransformerConfig, TransformerNet};
pub use vgg::{LossNetwork, LossNetworkConfig, Preprocessing, VggArch, VggPadding};

/// This crate's version, recorded in every checkpoint it writes.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
