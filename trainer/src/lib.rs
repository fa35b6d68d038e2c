//! `trainer`: learns a Johnson et al. (2016) TransformerNet for one style image.
//!
//! The binary is a thin shell over [`run`]: parse [`TrainArgs`], resolve and validate the
//! [`TrainConfig`], then [`train::train`].

pub mod cli;
pub mod config;
pub mod dataset;
pub mod train;

pub use cli::TrainArgs;
pub use config::TrainConfig;
pub use train::{train, TrainSummary};

/// Resolves the arguments into a validated config and trains.
///
/// # Errors
/// A config error naming the config file, or any training error (see [`train::train`]).
pub fn run(args: &TrainArgs) -> anyhow::Result<TrainSummary> {
    let cfg = args.resolve()?;
    train(&cfg)
}
