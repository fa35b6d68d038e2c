"""A plain PyTorch eager training loop: the baseline of benches/train_vs_reference.sh.

It does the training step of pytorch/examples fast_neural_style (`train()` in
neural_style.py): PIL decode -> resize shorter side + centre crop -> TransformerNet ->
VGG features of y and x -> content MSE + Gram style MSE (+ faststyle's TV term) -> Adam,
one batch at a time in the main thread (PE's DataLoader has num_workers=0). The
architecture, loss layers, weights, batch and size are the ones faststyle's trainer uses,
so the two loops do the same arithmetic. Each step's wall time goes to a JSONL file:
{"step": k, "elapsed_sec": t, "loss": ...}.
"""
import argparse
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from pe import TransformerNet, gram, preprocess, tap, tv, vgg_features  # noqa: E402

EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def load_crop(path, size):
    """RGB [3,size,size] float 0-255: shorter side to `size` (bilinear), centre crop."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = size / min(w, h)
    img = img.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    img = img.crop((left, top, left + size, top + size))
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float()


def layers(spec):
    """relu1_2,relu2_2:0.5 -> {name: weight}"""
    out = {}
    for part in spec.split(","):
        name, _, w = part.partition(":")
        out[name] = float(w) if w else 1.0
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--vgg", required=True)
    ap.add_argument("--arch", default="vgg19")
    ap.add_argument("--preprocessing", default="caffe")
    ap.add_argument("--content-layers", default="relu2_2")
    ap.add_argument("--style-layers", default="relu1_2,relu2_2,relu3_3,relu3_4")
    ap.add_argument("--content-weight", type=float, default=1.0)
    ap.add_argument("--style-weight", type=float, default=0.025)
    ap.add_argument("--tv-weight", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--style-size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    files = sorted(
        os.path.join(r, f) for r, _, fs in os.walk(a.dataset) for f in fs if os.path.splitext(f)[1].lower() in EXTS
    )
    random.Random(a.seed).shuffle(files)
    content, style = layers(a.content_layers), layers(a.style_layers)
    names = list(dict.fromkeys(list(content) + list(style)))
    order = {n: i for i, n in enumerate(__import__("pe").vgg_layer_names(a.arch))}
    deepest = max(names, key=order.get)

    features = vgg_features(a.arch, deepest)
    weights = load_file(a.vgg)
    features.load_state_dict({k[len("features."):]: v for k, v in weights.items()
                              if k.startswith("features.") and int(k.split(".")[1]) < len(features)})
    vgg = lambda x: tap(features, a.arch, preprocess(x, a.preprocessing), names)

    s_img = Image.open(a.style).convert("RGB")
    w, h = s_img.size
    k = a.style_size / min(w, h)
    s_img = s_img.resize((round(w * k), round(h * k)), Image.BILINEAR)
    s = torch.from_numpy(np.asarray(s_img, dtype=np.uint8).copy()).permute(2, 0, 1).float()[None]
    with torch.no_grad():
        gram_style = {n: gram(f) for n, f in vgg(s).items() if n in style}

    net = TransformerNet()
    opt = torch.optim.Adam(net.parameters(), a.lr)
    log = open(a.metrics, "w")
    start, pos = time.perf_counter(), 0
    for step in range(1, a.steps + 1):
        batch = []
        while len(batch) < a.batch_size:
            path = files[pos % len(files)]
            pos += 1
            try:
                batch.append(load_crop(path, a.image_size))
            except Exception as e:  # noqa: BLE001 - a bad image is skipped, as in faststyle
                print(f"skipped {path}: {e}", file=sys.stderr)
        x = torch.stack(batch)
        opt.zero_grad()
        y = net(x)
        fy, fx = vgg(y), vgg(x)
        c_loss = a.content_weight * sum(w * F.mse_loss(fy[n], fx[n]) for n, w in content.items())
        s_loss = a.style_weight * sum(
            w * F.mse_loss(gram(fy[n]), gram_style[n].expand(len(batch), -1, -1)) for n, w in style.items()
        )
        t_loss = a.tv_weight * tv(y)
        total = c_loss + s_loss + t_loss
        total.backward()
        opt.step()
        log.write(json.dumps({"step": step, "elapsed_sec": time.perf_counter() - start, "loss": total.item()}) + "\n")
        log.flush()


if __name__ == "__main__":
    main()
