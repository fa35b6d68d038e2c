"""Does `infer --style-scale S` give large photos the painting's strokes? A measurement.

For each photo, resized so its shorter side is SIDE px (default 1024), `infer` stylizes it at
each listed style scale. Each output and the photo are then viewed at the painting's scale:
downscaled so the shorter side is 256 px (the yardstick's painting side), where the style
strength of faststyle's fixed yardstick is measured, `1 - S(output) / S(photo)`, S = the
summed MSE between the Grams of image and painting at relu1_2, relu2_2, relu3_3, relu3_4 (VGG19,
caffe input, zero padding, equal weights; `faststyle::quality::StyleYardstick`). At scale 1 the
network paints strokes of its training-crop size, which shrink to a quarter when a 1024 px
result is viewed at 256 px; at 0.25 they keep the painting's proportion.

    .venv/bin/python benches/style_scale.py --model M --photos ../shared/data/content \
        --style ../shared/data/style/starry_night.jpg \
        --vgg ../shared/data/weights/vgg19-conv1_1-conv3_4.safetensors --limit 5

Prints one line per photo and scale (strength, seconds) and the means.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import pe  # noqa: E402

LAYERS = ["relu1_2", "relu2_2", "relu3_3", "relu3_4"]
VIEW_SIDE = 256


def shorter_side(img, side):
    w, h = img.size
    s = side / min(w, h)
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR)


def tensor(img):
    return torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32)).permute(2, 0, 1)[None]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--photos", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--vgg", required=True)
    ap.add_argument("--limit", type=int, default=5)
    ap.add_argument("--side", type=int, default=1024)
    ap.add_argument("--scales", default="1,0.5,0.25")
    ap.add_argument("--infer", default="target/release/infer")
    a = ap.parse_args()
    scales = [float(s) for s in a.scales.split(",")]

    features = pe.vgg_features("vgg19", LAYERS[-1])
    state = load_file(a.vgg)
    features.load_state_dict({k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}, strict=False)
    features.eval()

    def grams(x):
        with torch.no_grad():
            f = pe.tap(features, "vgg19", pe.preprocess(x, "caffe"), LAYERS)
            return [pe.gram(f[n]) for n in LAYERS]

    painting = grams(tensor(shorter_side(Image.open(a.style), VIEW_SIDE)))

    def distance(img):
        return sum(float(((g - p) ** 2).mean()) for g, p in zip(grams(tensor(shorter_side(img, VIEW_SIDE))), painting))

    photos = sorted(f for f in os.listdir(a.photos) if f.lower().endswith((".jpg", ".jpeg", ".png")))[: a.limit]
    means = {s: [] for s in scales}
    with tempfile.TemporaryDirectory() as tmp:
        for name in photos:
            photo = shorter_side(Image.open(os.path.join(a.photos, name)).convert("RGB"), a.side)
            src = os.path.join(tmp, "photo.png")
            photo.save(src)
            s_photo = distance(photo)
            for s in scales:
                out = os.path.join(tmp, f"out_{s}.png")
                cmd = [a.infer, "--input", src, "--output", out, "--overwrite", "--style-scale", str(s), "--device", "cpu"]
                if a.model:
                    cmd += ["--model", a.model]
                t = time.time()
                subprocess.run(cmd, check=True, capture_output=True)
                secs = time.time() - t
                strength = 1 - distance(Image.open(out)) / s_photo
                means[s].append(strength)
                print(f"{name} {photo.size[0]}x{photo.size[1]} style-scale {s}: strength {strength:.3f} ({secs:.1f} s)")
    for s in scales:
        print(f"mean style-scale {s}: strength {np.mean(means[s]):.3f} over {len(means[s])} photos")


if __name__ == "__main__":
    main()
