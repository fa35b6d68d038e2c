"""Loads an `infer export` TorchScript module with torch.jit.load and runs it on the inputs
tests/interop.rs wrote (x_*: inputs, y_*: faststyle's outputs for them). Prints the largest
relative difference; exits 1 if any exceeds 1e-4.   python torchscript_check.py M.pt IO.safetensors"""
import sys

import torch
from safetensors.torch import load_file

module = torch.jit.load(sys.argv[1])
io = load_file(sys.argv[2])
worst = 0.0
with torch.no_grad():
    for name in sorted(k for k in io if k.startswith("x_")):
        ours, theirs = io["y_" + name[2:]], module(io[name])
        assert theirs.shape == ours.shape, (name, theirs.shape, ours.shape)
        worst = max(worst, ((theirs - ours).abs().max() / ours.abs().max()).item())
print(f"max relative difference {worst:.3e}")
sys.exit(0 if worst <= 1e-4 else 1)
