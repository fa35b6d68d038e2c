"""A plain PyTorch eager stylization loop: the baseline of benches/folder_vs_reference.sh.

One frame at a time, as the PyTorch reference example's `stylize` does: PIL decode -> tensor
-> TransformerNet (reference/pe.py, with faststyle's any-size padding) under no_grad ->
clamp/round -> PIL encode (JPEG quality 95, as infer) into OUT with the same relative name.
The weights are a faststyle checkpoint's, so both sides run the same network.

    python infer_reference.py MODEL.safetensors IN_DIR OUT_DIR [--device cuda] [--half] [--channels-last]

On a GPU, as a user would speed it up: --half runs the network in fp16, --channels-last puts
the weights and each frame in NHWC (cuDNN's fast layout); cudnn.benchmark is on there and the
device is synchronised before the clock is read.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from pe import AnySize, TransformerNet  # noqa: E402

EXTS = {".jpg", ".jpeg", ".png"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--half", action="store_true")
    ap.add_argument("--channels-last", action="store_true")
    a = ap.parse_args()
    dev = torch.device(a.device)
    dtype = torch.float16 if a.half else torch.float32
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    torch.backends.cudnn.benchmark = dev.type == "cuda"
    net = TransformerNet().eval()
    net.load_state_dict({k: v.float() for k, v in load_file(a.model).items() if not k.startswith("train_state.")})
    net = AnySize(net).to(dev, dtype).to(memory_format=fmt)
    src, dst = a.src, a.dst
    files = sorted(
        os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs if os.path.splitext(f)[1].lower() in EXTS
    )
    start = time.perf_counter()
    with torch.no_grad():
        for path in files:
            img = np.asarray(Image.open(path).convert("RGB"))
            x = torch.from_numpy(img.copy()).permute(2, 0, 1).unsqueeze(0).to(dev).to(dtype)
            y = net(x.contiguous(memory_format=fmt))[0].float().clamp(0, 255).round().to(torch.uint8)
            y = y.permute(1, 2, 0).cpu().numpy()
            out = os.path.join(dst, os.path.relpath(path, src))
            os.makedirs(os.path.dirname(out), exist_ok=True)
            Image.fromarray(y).save(out, quality=95)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(f"pytorch: {len(files)} frames in {seconds:.1f} s = {len(files) / seconds:.3f} frames/s")


if __name__ == "__main__":
    main()
