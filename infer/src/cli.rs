//! Command-line interface of `infer`.

use clap::{Parser, Subcommand};
use faststyle::choice::Choice;
use faststyle::{DeviceChoice, Precision, StoreDtype};
use std::path::PathBuf;

/// Stylize images and frame folders with a faststyle checkpoint (one forward pass per image).
///
/// `infer --model M --input PATH --output PATH` stylizes an image file, or every image in a
/// folder (recursively, keeping names and layout). Without --model, the built-in Starry Night
/// checkpoint is used.
#[derive(Debug, Parser)]
#[command(name = "infer", version, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    /// What to do; without a subcommand, stylize.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Stylize options.
    #[command(flatten)]
    pub stylize: StylizeArgs,
}

/// Options of the default action.
#[derive(Debug, Clone, clap::Args)]
pub struct StylizeArgs {
    /// Checkpoint (.safetensors written by trainer); default: the built-in Starry Night
    #[arg(long, value_name = "M")]
    pub model: Option<PathBuf>,
    /// Image file, or folder of images/frames
    #[arg(long, value_name = "PATH", required = true)]
    pub input: Option<PathBuf>,
    /// Output image (.jpg/.jpeg/.png), or output folder when --input is a folder
    #[arg(long, value_name = "PATH", required = true)]
    pub output: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Scale inputs down so the longer side is at most this many pixels (keeps aspect ratio)
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_size: Option<u32>,
    /// Replace existing outputs (and allow writing over the input itself)
    #[arg(long, conflicts_with = "skip_existing")]
    pub overwrite: bool,
    /// Keep existing outputs and do only the missing ones (resume a half-done folder)
    #[arg(long)]
    pub skip_existing: bool,
    /// Style strength: 0 gives the input, 1 the stylized image, between is a linear blend
    #[arg(long, default_value_t = 1.0, value_parser = parse_strength)]
    pub strength: f64,
    /// Keep the input's colours: take only the stylized luminance (Gatys et al. 2016)
    #[arg(long)]
    pub preserve_color: bool,
    /// Style of a multi-style model, by name or index, or a blend of several:
    /// `starry_night`, `2`, `starry_night:0.7,wave:0.3` (weights ≥ 0, normalised to sum 1;
    /// `infer styles M` lists them). Default: the first style
    #[arg(long, value_name = "SPEC")]
    pub style: Option<crate::styles::StyleSpec>,
    /// Stylize at S times the image's size and resize back: below 1 the brush strokes come out
    /// larger (the network paints strokes of a fixed pixel size, so large photos get small
    /// ones), above 1 finer; e.g. 0.5 for a 2048 px photo
    #[arg(long, value_name = "S", default_value_t = 1.0, value_parser = parse_style_scale)]
    pub style_scale: f64,
    /// Network precision: auto is fp16 on CUDA, fp32 on the CPU
    #[arg(long, default_value = "auto", value_parser = Choice::<Precision>::new())]
    pub precision: Precision,
    /// Frames per forward pass (consecutive frames of one size are batched)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub batch: u32,
    /// libtorch intra-op threads for the network (default: libtorch's, one per core)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Stylize images larger than N×N in overlapping N×N tiles blended without seams (bounds
    /// memory by the tile; e.g. 1024 for 4K images on a small machine)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(16..))]
    pub tile: Option<u32>,
    /// Overlap of neighbouring tiles, pixels (default N/8)
    #[arg(long, value_name = "PX", requires = "tile")]
    pub tile_overlap: Option<u32>,
    /// Do only share K of N of a folder (sorted names) or a video (a contiguous frame range,
    /// written as numbered frames into an --output folder): for Slurm arrays and Kubernetes
    /// Indexed Jobs; the N shards partition the input exactly
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::stylize::Shard>,
    /// Frame rate of a video made from a folder of frames (default 25)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub fps: Option<u32>,
    /// Threads decoding and encoding frames (default: one per core)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub io_threads: Option<u32>,
}

impl StylizeArgs {
    /// The tiling these flags ask for (overlap capped below half a tile).
    pub fn tile_config(&self) -> Option<crate::tile::TileConfig> {
        self.tile.map(|n| {
            let mut cfg = crate::tile::TileConfig::new(n);
            if let Some(o) = self.tile_overlap {
                cfg.overlap = o.min(n / 2 - 1);
            }
            cfg
        })
    }

    /// The dtype `--precision` asks for on `device` (`auto`: fp16 on CUDA, fp32 elsewhere).
    pub fn precision_kind(&self, device: tch::Device) -> tch::Kind {
        self.precision.resolve(device, Precision::Fp16).kind()
    }

    /// The output controls these flags ask for.
    pub fn controls(&self) -> faststyle::Controls {
        faststyle::Controls { strength: self.strength, preserve_color: self.preserve_color }
    }
}

fn parse_strength(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is outside 0..1")),
        Err(e) => Err(format!("{s:?} is not a number: {e}")),
    }
}

fn parse_style_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.05..=4.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is outside 0.05..4")),
        Err(e) => Err(format!("{s:?} is not a number: {e}")),
    }
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Print what libtorch sees, as JSON: CUDA available (false on a GPU machine means this
    /// binary was not linked with libtorch_cuda), CUDA devices, cuDNN available and enabled,
    /// CPU threads
    Devices,
    /// Print a checkpoint's metadata: format, architecture, training config, style, step
    Inspect {
        /// Checkpoint file
        model: PathBuf,
    },
    /// Stylize a rendered test scene (or --input PHOTO) with the built-in model, write the
    /// sheet of every built-in pack style beside it, and say where both are
    Demo {
        /// Your photo instead of the rendered scene
        #[arg(long, value_name = "IMG")]
        input: Option<PathBuf>,
        /// Output image (.jpg/.png); default out/demo/<input name>_starry_night.jpg
        #[arg(long, value_name = "IMG")]
        output: Option<PathBuf>,
        /// Checkpoint to use instead of the built-in one
        #[arg(long, value_name = "M")]
        model: Option<PathBuf>,
        /// auto, cpu, cuda or cuda:N
        #[arg(long, default_value = "auto")]
        device: DeviceChoice,
    },
    /// List a checkpoint's styles: index, name (what --style takes), style image
    Styles {
        /// Checkpoint file (default: the built-in style pack, whose styles `--style` reaches
        /// without --model)
        model: Option<PathBuf>,
    },
    /// Every style of a model on one photo, side by side and captioned, after the photo itself
    Sheet {
        /// Checkpoint file (default: the built-in style pack)
        #[arg(long, value_name = "M")]
        model: Option<PathBuf>,
        /// The photo
        #[arg(long, value_name = "IMG")]
        input: PathBuf,
        /// The sheet (.png or .jpg)
        #[arg(long, value_name = "IMG")]
        output: PathBuf,
        /// Scale the photo down so its longer side is at most this many pixels
        #[arg(long, value_name = "PX", default_value_t = 512, value_parser = clap::value_parser!(u32).range(16..))]
        max_size: u32,
        /// Cells per row
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
        columns: u32,
        /// auto, cpu, cuda or cuda:N
        #[arg(long, default_value = "auto")]
        device: DeviceChoice,
    },
    /// Rewrite a checkpoint with another storage dtype (f16 halves the file for shipping)
    Convert {
        /// Checkpoint file
        model: PathBuf,
        /// Output checkpoint file
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Storage dtype
        #[arg(long, default_value = "f16", value_parser = Choice::<StoreDtype>::new())]
        dtype: StoreDtype,
    },
    /// Write a checkpoint as a TorchScript module (torch.jit.load) or an ONNX file
    /// (onnxruntime): [N,3,H,W] RGB 0-255 in and out, any size, plus the style weights for a
    /// multi-style net; checked against faststyle before it is kept
    Export {
        /// Checkpoint file
        model: PathBuf,
        /// Output format: torchscript (torch.jit.load) or onnx (opset 17, for onnxruntime)
        #[arg(long, default_value = "torchscript", value_parser = ["torchscript", "onnx"])]
        format: String,
        /// Output file (e.g. model.pt, model.onnx)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace an existing output
        #[arg(long)]
        overwrite: bool,
    },
    /// Convert a PyTorch reference-example (pytorch/examples fast_neural_style) TransformerNet
    /// state_dict (.pth) into a faststyle checkpoint; legacy running_mean/var keys are dropped
    Import {
        /// The .pth file (torch.save of transformer.state_dict())
        reference: PathBuf,
        /// Output checkpoint (.safetensors)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Style name recorded in the checkpoint (default: the .pth file's stem)
        #[arg(long, value_name = "NAME")]
        style_name: Option<String>,
        /// Replace an existing output
        #[arg(long)]
        overwrite: bool,
    },
}
