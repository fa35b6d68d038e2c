"""Checkerboard and stripe check of stylized outputs in the power spectrum (issue 11).

On the first LIMIT photos of a folder (by name), each resized to SIZE px on its shorter side
(bicubic) and centre-cropped to SIZE x SIZE as `trainer eval` crops them, it runs each model (the
PE reference TransformerNet of reference/pe.py on the checkpoint's weights) and measures the
luma power spectrum (Hann window, mean removed) of:

  - each model's output, and, with --gatys-cache, Gatys@100 on the same loss (the images
    `trainer eval` caches, matched by the photo's SHA-256) and the photo itself;

reporting per photo and as the median over photos:

  - nyq  = power on the lines f = 1/2 cycle/px (either axis) over the mean of the 4 lines next
           to them: a period-2 pattern (the checkerboard of stride-2 upsampling, Odena et al.
           2016, "Deconvolution and Checkerboard Artifacts") shows as a peak, nyq >> 1;
  - qtr  = the same on the lines f = 1/4 (period 4, the net's two upsamplings together);
  - hi   = share of the power (above 0.02 cycle/px) at periods <= 3 px on either axis: how much
           of the image is fine texture;
  - amp  = mean |y - y_notched| in grey levels, y_notched being the output with the f = 1/2
           lines removed from its spectrum (per channel): how much the period-2 component
           changes the pixels.

With --upsample-check it also re-runs each model with its nearest-neighbour upsampling swapped
for bilinear (no retraining; the picture changes) to see whether the period-2 peak comes from
the upsampling. With --picture FILE it writes, for the first photo, a 3x zoom of the first
model's output next to the same with the f = 1/2 lines removed (look at it: a visible
checkerboard disappears in the right half). Pictures of ../shared photos stay out of the repo.

  .venv/bin/python benches/quality/spectrum.py --content ../shared/data/content \
      --gatys-cache runs/gatys-cache models/starry_night.safetensors [MODEL ...]
"""
import argparse
import glob
import hashlib
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
from pe import load_checkpoint  # noqa: E402

EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def crop(img, size):
    w, h = img.size
    k = size / min(w, h)
    img = img.resize((max(size, round(w * k)), max(size, round(h * k))), Image.BICUBIC)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def luma(a):
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114


def without_nyquist(a):
    """[S, S, 3] image with its f = 1/2 lines (either axis) removed from each channel's spectrum."""
    n = a.shape[0]
    spec = np.fft.fft2(a, axes=(0, 1))
    spec[n // 2, :, :] = 0
    spec[:, n // 2, :] = 0
    return np.real(np.fft.ifft2(spec, axes=(0, 1)))


def figures(a):
    """{nyq, qtr, hi, amp} of an [S, S, 3] float image, 0-255."""
    n = a.shape[0]
    win = np.outer(np.hanning(n), np.hanning(n))
    y = luma(a)
    power = np.abs(np.fft.fft2((y - y.mean()) * win)) ** 2
    f = np.fft.fftfreq(n)
    fy, fx = np.abs(f)[:, None], np.abs(f)[None, :]

    def line_peak(k):
        line = lambda j: power[:, j].sum() + power[j, :].sum()  # noqa: E731
        return line(k) / np.mean([line((k + d) % n) for d in (-2, -1, 1, 2)])

    r = np.sqrt(fx**2 + fy**2)
    hi = power[np.maximum(fx, fy) >= 1 / 3].sum() / power[r > 0.02].sum()
    return {"nyq": line_peak(n // 2), "qtr": line_peak(n // 4), "hi": hi, "amp": np.abs(a - without_nyquist(a)).mean()}


def stylize(net, img):
    x = torch.from_numpy(np.asarray(img, np.float32).copy()).permute(2, 0, 1)[None]
    with torch.no_grad():
        return net(x).clamp(0, 255).round()[0].permute(1, 2, 0).numpy().astype(np.float64)


def bilinear(net):
    """The net with each UpsampleConvLayer's nearest-neighbour x2 swapped for bilinear."""
    for layer in (net.deconv1, net.deconv2):
        def forward(x, layer=layer):
            up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            return layer.conv2d(F.pad(up, [layer.pad] * 4, mode="reflect"))
        layer.forward = forward
    return net


def gatys_images(cache):
    """{photo sha256: path of its Gatys@100 png} from a `trainer eval` Gatys cache."""
    out = {}
    for j in sorted(glob.glob(os.path.join(cache, "*.json"))):
        png = j[:-5] + "_100.png"
        if os.path.exists(png):
            out.setdefault(json.load(open(j))["key"]["photo_sha256"], png)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--content", required=True)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--gatys-cache")
    ap.add_argument("--upsample-check", action="store_true")
    ap.add_argument("--picture")
    a = ap.parse_args()

    photos = sorted(p for p in glob.glob(os.path.join(a.content, "*")) if os.path.splitext(p)[1].lower() in EXTS)
    photos = photos[: a.limit]
    gatys = gatys_images(a.gatys_cache) if a.gatys_cache else {}
    columns = {os.path.basename(m).removesuffix(".safetensors"): load_checkpoint(m) for m in a.models}
    rows = {}
    for p in photos:
        img = crop(Image.open(p).convert("RGB"), a.size)
        row = {"photo": figures(np.asarray(img, np.float64))}
        sha = hashlib.sha256(open(p, "rb").read()).hexdigest()
        if sha in gatys:
            row["gatys@100"] = figures(np.asarray(Image.open(gatys[sha]).convert("RGB"), np.float64))
        for name, net in columns.items():
            row[name] = figures(stylize(net, img))
        rows[os.path.basename(p)] = row
        if a.picture and len(rows) == 1:
            y = stylize(next(iter(columns.values())), img)
            notched = without_nyquist(y)
            box = (a.size // 4, a.size // 4, 3 * a.size // 4, 3 * a.size // 4)
            side = 3 * (box[2] - box[0])
            sheet = Image.new("RGB", (2 * side, side))
            for i, im in enumerate((y, notched)):
                tile = Image.fromarray(im.clip(0, 255).round().astype(np.uint8)).crop(box)
                sheet.paste(tile.resize((side, side), Image.NEAREST), (i * side, 0))
            sheet.save(a.picture)

    keys = list(dict.fromkeys(k for r in rows.values() for k in r))
    for fig in ("nyq", "qtr", "hi", "amp"):
        print(f"\n{fig}")
        print("photo".ljust(26) + "".join(k[:20].rjust(21) for k in keys))
        for name, r in rows.items():
            print(name[:25].ljust(26) + "".join((f"{r[k][fig]:21.3f}" if k in r else " " * 21) for k in keys))
        med = [np.median([r[k][fig] for r in rows.values() if k in r]) for k in keys]
        print("median".ljust(26) + "".join(f"{v:21.3f}" for v in med))
    if a.upsample_check:
        print("\nnyq / qtr with bilinear instead of nearest-neighbour upsampling (no retraining), median")
        for name, net in columns.items():
            net = bilinear(net)
            figs = [figures(stylize(net, crop(Image.open(p).convert("RGB"), a.size))) for p in photos]
            print(f"{name}: nyq {np.median([f['nyq'] for f in figs]):.2f}, qtr {np.median([f['qtr'] for f in figs]):.2f}")


if __name__ == "__main__":
    main()
