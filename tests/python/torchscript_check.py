"""Loads an `infer export` TorchScript module with torch.jit.load and runs it on the inputs
tests/interop.rs wrote (x_*: inputs, y_*: faststyle's outputs for them). The module is run in
float64 as the reference: faststyle's outputs must be within 1e-4 of it (largest difference
relative to the largest output), and the module's own float32 run within 1e-3 (PyTorch's
float32 instance norm over the 2×2-pixel maps of a tiny input is off by ~1.3e-4 of the range
itself). Prints both; exits 1 if either bound is exceeded.
    python torchscript_check.py M.pt IO.safetensors"""
import sys

import torch
from safetensors.torch import load_file

module = torch.jit.load(sys.argv[1])
io = load_file(sys.argv[2])


def rel(a, ref):
    return ((a.double() - ref).abs().max() / ref.abs().max()).item()


ours_worst = theirs_worst = 0.0
with torch.no_grad():
    for name in sorted(k for k in io if k.startswith("x_")):
        x, ours = io[name], io["y_" + name[2:]]
        theirs = module.float()(x)
        reference = module.double()(x.double())
        assert theirs.shape == ours.shape == reference.shape, (name, theirs.shape, ours.shape)
        ours_worst = max(ours_worst, rel(ours, reference))
        theirs_worst = max(theirs_worst, rel(theirs, reference))
print(f"max relative difference to the module in float64: faststyle {ours_worst:.3e}, the module in float32 {theirs_worst:.3e}")
sys.exit(0 if ours_worst <= 1e-4 and theirs_worst <= 1e-3 else 1)
