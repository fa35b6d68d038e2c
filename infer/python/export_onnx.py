"""`infer export --format onnx`: export a faststyle TransformerNet to ONNX and run the file
once in onnxruntime for faststyle to compare.

Run by `infer` with the venv's Python:  python export_onnx.py WEIGHTS MODEL_JSON OUT CHECK_IN CHECK_OUT
  WEIGHTS     safetensors of the net's F32 tensors under PE's names (written by infer)
  MODEL_JSON  the checkpoint's model config, e.g. {"channels": [32, 64, 128], "residual_blocks": 5}
  OUT         where to write the .onnx file
  CHECK_IN    safetensors with "x" (and "styles" for a multi-style net): the check input
  CHECK_OUT   where onnxruntime's output "y" for it is written

The graph (opset 17) takes "image" [N,3,H,W] float32 RGB 0-255 with dynamic N, H, W (H, W >= 5;
reference/pe.py OnnxAnySize pads to a multiple of 4 inside the graph) and, for a multi-style
net, "styles" [N,S] (rows non-negative, summing to 1); it returns "stylized", the same size.
"""
import json
import sys

import onnxruntime
import torch
from safetensors.torch import load_file, save_file

from pe import OnnxAnySize, TransformerNet

weights, model_json, out, check_in, check_out = sys.argv[1:6]
cfg = json.loads(model_json)
styles = cfg.get("num_styles", 1)
net = TransformerNet(tuple(cfg["channels"]), cfg["residual_blocks"], styles).eval()
net.load_state_dict(load_file(weights), strict=True)
module = OnnxAnySize(net, styles > 1)
x = torch.rand(1, 3, 37, 53) * 255
axes = {"image": {0: "n", 2: "h", 3: "w"}, "stylized": {0: "n", 2: "h", 3: "w"}}
inputs, names = (x,), ["image"]
if styles > 1:
    inputs, names = (x, torch.full((1, styles), 1.0 / styles)), ["image", "styles"]
    axes["styles"] = {0: "n"}
with torch.no_grad():
    torch.onnx.export(module, inputs, out, input_names=names, output_names=["stylized"], dynamic_axes=axes,
                      opset_version=17, dynamo=False)
check = load_file(check_in)
feed = {"image": check["x"].numpy()}
if styles > 1:
    feed["styles"] = check["styles"].numpy()
y = onnxruntime.InferenceSession(out, providers=["CPUExecutionProvider"]).run(None, feed)[0]
save_file({"y": torch.from_numpy(y).contiguous()}, check_out)
