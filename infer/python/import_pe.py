"""`infer import`: read a PyTorch reference-example TransformerNet state_dict (torch.save of
`transformer.state_dict()`, as pytorch/examples fast_neural_style saves it) into safetensors.

Run by `infer` with the venv's Python:  python import_pe.py REF_PTH OUT_SAFETENSORS
Drops the legacy InstanceNorm buffers (`inN.running_mean`, `inN.running_var`, and
`num_batches_tracked`) that old PyTorch versions saved, as PE's own `stylize` does; converts
every other tensor to contiguous float32. Prints {"kept": [...], "dropped": [...]} as JSON.
"""
import json
import re
import sys

import torch
from safetensors.torch import save_file

src, out = sys.argv[1:3]
sd = torch.load(src, map_location="cpu", weights_only=True)
if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
    sd = sd["state_dict"]
if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
    sys.exit(f"{src}: not a state_dict (a dict of tensor names to tensors)")
legacy = re.compile(r"(^|\.)(running_mean|running_var|num_batches_tracked)$")
dropped = sorted(k for k in sd if legacy.search(k))
kept = {k: v.detach().float().contiguous() for k, v in sd.items() if k not in dropped}
save_file(kept, out)
print(json.dumps({"kept": sorted(kept), "dropped": dropped}))
