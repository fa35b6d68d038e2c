"""`infer export --format torchscript`: trace a faststyle TransformerNet into TorchScript.

Run by `infer` with the venv's Python:  python export_torchscript.py WEIGHTS MODEL_JSON OUT
  WEIGHTS     safetensors of the net's F32 tensors under PE's names (written by infer)
  MODEL_JSON  the checkpoint's model config, e.g. {"channels": [32, 64, 128], "residual_blocks": 5}
  OUT         where to save the module (torch.jit.save)

The core net (reference/pe.py TransformerNet) is traced at 64x64 and wrapped in the scripted
AnySize, so the saved module takes [N,3,H,W] RGB 0-255 of any H, W >= 1 and returns the same
size, as faststyle does. A multi-style net ("num_styles" > 1) is wrapped in AnySizeStyled: its
module takes the style weights [N, S] (or [1, S]; rows non-negative, summing to 1) as a second
input, module(x, styles).
"""
import json
import sys

import torch
from safetensors.torch import load_file

from pe import AnySize, AnySizeStyled, TransformerNet

weights, model_json, out = sys.argv[1:4]
cfg = json.loads(model_json)
styles = cfg.get("num_styles", 1)
net = TransformerNet(tuple(cfg["channels"]), cfg["residual_blocks"], styles).eval()
net.load_state_dict(load_file(weights), strict=True)
x = torch.rand(1, 3, 64, 64) * 255
with torch.no_grad():
    if styles == 1:
        module = torch.jit.script(AnySize(torch.jit.trace(net, x, check_trace=False)))
    else:
        core = torch.jit.trace(net, (x, torch.full((1, styles), 1.0 / styles)), check_trace=False)
        module = torch.jit.script(AnySizeStyled(core))
torch.jit.save(module, out)
