"""Stylize a folder of frames with an ONNX file exported by `infer export --format onnx`, in
onnxruntime (CPU): PIL decode -> the graph ("image" [1,3,H,W] RGB 0-255 -> "stylized") -> PIL
JPEG encode at quality 95 (infer's), one frame at a time, as a user of the exported file would.

  python ort_folder.py MODEL.onnx FRAMES_DIR OUT_DIR
"""
import os
import sys

import numpy as np
import onnxruntime
from PIL import Image

model, frames, out = sys.argv[1:4]
os.makedirs(out, exist_ok=True)
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
for name in sorted(os.listdir(frames)):
    if not name.lower().endswith((".jpg", ".jpeg", ".png")):
        continue
    img = np.asarray(Image.open(os.path.join(frames, name)).convert("RGB"), dtype=np.float32)
    x = img.transpose(2, 0, 1)[None]
    (y,) = session.run(["stylized"], {"image": x})
    y = np.clip(y[0].transpose(1, 2, 0), 0, 255).round().astype(np.uint8)
    Image.fromarray(y).save(os.path.join(out, os.path.splitext(name)[0] + ".jpg"), quality=95)
