"""Is an int8 path in libtorch worth offering (issue 14)? PyTorch's own libtorch (the venv's,
the build faststyle links) quantizes the reference TransformerNet (reference/pe.py, the same
weights) with FX graph mode post-training static quantization, the "x86" backend (fbgemm
conv kernels on AVX2), calibrated on CALIB frames; then, on other frames at their own size:
  - speed: median of REPS forwards, fp32 vs int8, same graph, same threads;
  - accuracy: mean and max |int8 - fp32| of the 0-255 output, rounded to levels.
The bar (issue 14): int8 >= 1.5x fp32 with <= 2 levels mean difference.

  .venv/bin/python benches/light/int8.py FRAMES_DIR MODEL.safetensors [MODEL ...]
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
from pe import load_checkpoint  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from timing import median_seconds  # noqa: E402

CALIB, TEST, REPS = 8, 8, 5
frames_dir, models = sys.argv[1], sys.argv[2:]
torch.set_num_threads(os.cpu_count())
names = sorted(n for n in os.listdir(frames_dir) if n.lower().endswith((".jpg", ".jpeg", ".png")))
load = lambda n: torch.from_numpy(np.asarray(Image.open(os.path.join(frames_dir, n)).convert("RGB"), dtype=np.float32)).permute(2, 0, 1)[None]
calib = [load(n) for n in names[:CALIB]]
test = [load(n) for n in names[-TEST:]]


rows = []
for path in models:
    net = load_checkpoint(path)
    channels = [net.conv1.conv2d.out_channels, net.conv2.conv2d.out_channels, net.conv3.conv2d.out_channels]
    fp32 = median_seconds(net, test[0], REPS)
    # "all": every layer int8; "inner": conv1 and deconv3 (the 9x9 convs at full resolution,
    # whose input and output are the image) stay fp32, the usual first/last-layer exception.
    for variant in ("all", "inner"):
        qconfig = get_default_qconfig_mapping("x86")
        if variant == "inner":
            qconfig = qconfig.set_module_name("conv1", None).set_module_name("deconv3", None)
        with torch.no_grad():
            prepared = prepare_fx(net, qconfig, example_inputs=(calib[0],))
            for x in calib:
                prepared(x)
            qnet = convert_fx(prepared)
            diffs = [(qnet(x).clamp(0, 255).round() - net(x).clamp(0, 255).round()).abs() for x in test]
        int8 = median_seconds(qnet, test[0], REPS)
        row = {
            "model": path,
            "channels": channels,
            "int8_layers": variant,
            "size": list(test[0].shape[2:]),
            "fp32_ms": fp32 * 1e3,
            "int8_ms": int8 * 1e3,
            "speedup": fp32 / int8,
            "mean_abs_levels": float(torch.cat([d.flatten() for d in diffs]).mean()),
            "max_abs_levels": float(max(d.max() for d in diffs)),
        }
        rows.append(row)
        print(f"{path} {channels} int8 {variant}: fp32 {row['fp32_ms']:.1f} ms, int8 {row['int8_ms']:.1f} ms "
              f"(x{row['speedup']:.2f}), |int8 - fp32| mean {row['mean_abs_levels']:.2f} "
              f"max {row['max_abs_levels']:.0f} levels", flush=True)
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}))
