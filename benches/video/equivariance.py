"""How much of a model's frame-difference ratio is flicker, and how much is the texture it paints
(issue 13)? On the first FRAMES frames of a folder, each resized to SIZE px on its longer side:

  - real: mean |O_t - O_{t-1}| / mean |I_t - I_{t-1}| over consecutive frames (what
    `trainer eval --frames` reports; its resizing differs slightly, so its figure is the one
    to quote);
  - for whole-pixel shifts S of the frame (a camera pan with the motion known exactly, no
    resampling), with d = mean |S(x) - x|:
      ideal  = mean |S(f(x)) - f(x)| / d   the ratio of a network whose texture moves with the
                                           scene (perfectly shift-equivariant): the part of the
                                           ratio that is the stylization's own detail, not flicker;
      actual = mean |f(S(x)) - f(x)| / d   what the network does;
      error  = mean |f(S(x)) - S(f(x))| / d   how far it is from moving its texture with the scene.
Means skip an 8 px margin (np.roll wraps around). Runs the PE reference TransformerNet
(reference/pe.py) on the checkpoint's weights, one thread.

  .venv/bin/python benches/video/equivariance.py FRAMES_DIR MODEL.safetensors [MODEL ...]
"""
import glob
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
from pe import load_checkpoint  # noqa: E402

FRAMES, SIZE, MARGIN, SHIFTS = 40, 320, 8, (1, 2, 3, 4)
frames_dir, models = sys.argv[1], sys.argv[2:]
torch.set_num_threads(1)


def load(path):
    im = Image.open(path).convert("RGB")
    scale = SIZE / max(im.size)
    im = im.resize((round(im.size[0] * scale), round(im.size[1] * scale)), Image.BICUBIC)
    return np.asarray(im, np.float32).transpose(2, 0, 1)


def mean_abs(a):
    return float(np.abs(a[:, MARGIN:-MARGIN, MARGIN:-MARGIN]).mean())


files = sorted(glob.glob(os.path.join(frames_dir, "*")))[:FRAMES]
inputs = [load(f) for f in files]
for path in models:
    net = load_checkpoint(path)

    def stylize(x):
        with torch.no_grad():
            return net(torch.from_numpy(np.ascontiguousarray(x))[None])[0].numpy()

    outputs = [stylize(x) for x in inputs]
    pairs = range(1, len(inputs))
    real = np.mean([mean_abs(outputs[t] - outputs[t - 1]) for t in pairs]) / np.mean(
        [mean_abs(inputs[t] - inputs[t - 1]) for t in pairs])
    row = {"model": path, "real": real}
    for s in SHIFTS:
        ideal, actual, error = [], [], []
        for x, o in list(zip(inputs, outputs))[::4]:
            xs, os_ = np.roll(x, s, axis=2), np.roll(o, s, axis=2)
            d = mean_abs(xs - x)
            fs = stylize(xs)
            ideal.append(mean_abs(os_ - o) / d)
            actual.append(mean_abs(fs - o) / d)
            error.append(mean_abs(fs - os_) / d)
        row[f"shift{s}"] = {"ideal": np.mean(ideal), "actual": np.mean(actual), "error": np.mean(error)}
    print(json.dumps(row), flush=True)
