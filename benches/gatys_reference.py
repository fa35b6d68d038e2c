"""Gatys et al. 2016 in plain PyTorch: the reference side of benches/gatys_vs_reference.sh.

The loss of a faststyle training config (VGG weights, input convention, content and style
layers with their weights, content/style/TV weights) built from reference/pe.py, the pixels of
one image optimised by torch.optim.LBFGS as jcjohnson/neural-style-pt does (one step of N
iterations, tolerances off, history 100), from the ImageNet mean plus 0.001-sigma noise.

    python benches/gatys_reference.py CONFIG CONTENT SIZE ITERATIONS

Prints seconds per iteration (the style targets, content targets and the L-BFGS step; the
weights file is read before the clock starts) and the final loss.
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from pe import gram, preprocess, tap, tv, vgg_features, vgg_layer_names  # noqa: E402

config_path, content_path, size, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cfg = json.load(open(config_path))
arch, conv = cfg["loss_network"]["arch"], cfg["loss_network"]["preprocessing"]
content_layers = {l["layer"]: l.get("weight", 1.0) for l in cfg["content_layers"]}
style_layers = {l["layer"]: l.get("weight", 1.0) for l in cfg["style_layers"]}
names = list(dict.fromkeys(list(content_layers) + list(style_layers)))
order = vgg_layer_names(arch)
features = vgg_features(arch, max(names, key=order.index))
weights = load_file(cfg["vgg_weights"])
features.load_state_dict({k[len("features."):]: v for k, v in weights.items()
                          if k.startswith("features.") and int(k.split(".")[1]) < len(features)})


def load(path, side):
    img = Image.open(path).convert("RGB")
    s = side / max(img.size)
    img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.BILINEAR)
    return torch.from_numpy(__import__("numpy").asarray(img).copy()).permute(2, 0, 1)[None].float().contiguous()


content, style = load(content_path, size), load(cfg["style_image"], size)
torch.manual_seed(0)
start = time.perf_counter()
with torch.no_grad():
    fs = tap(features, arch, preprocess(style, conv), list(style_layers))
    style_targets = {l: gram(f) for l, f in fs.items()}
    fc = tap(features, arch, preprocess(content, conv), list(content_layers))
mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
x = (torch.randn_like(content) * 0.001 + mean).requires_grad_(True)
opt = torch.optim.LBFGS([x], max_iter=iterations, tolerance_grad=-1, tolerance_change=-1)


def loss_of(x):
    f = tap(features, arch, preprocess(x, conv), names)
    c = sum(w * F.mse_loss(f[l], fc[l]) for l, w in content_layers.items())
    s = sum(w * F.mse_loss(gram(f[l]), style_targets[l]) for l, w in style_layers.items())
    return cfg.get("content_weight", 1e5) * c + cfg.get("style_weight", 1e10) * s + cfg.get("tv_weight", 0.0) * tv(x)


def closure():
    opt.zero_grad()
    loss = loss_of(x)
    loss.backward()
    return loss


opt.step(closure)
seconds = time.perf_counter() - start
with torch.no_grad():
    final = float(loss_of(x))
print(f"pytorch: {iterations} iterations at {size}px in {seconds:.1f} s ({seconds / iterations:.3f} s/iteration); loss {final:.4e}")
