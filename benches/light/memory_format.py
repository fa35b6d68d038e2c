"""Would channels-last (NHWC) memory make the light networks faster relative to the full one
(issue 14)? libtorch picks oneDNN's NHWC convolution kernels when a tensor's strides are
channels-last; the narrow layers of `half` and `mobile` might use the vectors better that way.

The network is faststyle's `forward_fast` form in eager PyTorch, built from a checkpoint's
weights (reference/pe.py loads them): sub-pixel deconv1/deconv2, deconv3 in phase form,
instance norm as group norm with one group per channel (README, "Light networks for CPUs").
It is checked against the PE reference forward of the same weights before anything is timed.
Then, on one frame at its own size: median of REPS forwards per round, ROUNDS rounds
interleaving NCHW and NHWC for every model, the median of the rounds reported. Run it with
faststyle's allocator setting (glibc keeps freed memory), as `infer` runs:

  MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=-1 .venv/bin/python benches/light/memory_format.py \
      FRAME.jpg models/starry_night.safetensors models/starry_night_half.safetensors \
      models/starry_night_mobile.safetensors
"""
import os
import statistics
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
from pe import load_checkpoint  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from timing import median_seconds  # noqa: E402

ROUNDS, REPS = 5, 7
PHASES = [(0, 0), (0, 1), (1, 0), (1, 1)]


def phase_weights(w):
    """[O, C, k, k] -> [4O, C, k+1, k+1]: a stride-1 odd conv as 4 output phases of a stride-2 one."""
    o, c, k, _ = w.shape
    return torch.stack([F.pad(w, (b, 1 - b, a, 1 - a)) for a, b in PHASES], 1).reshape(4 * o, c, k + 1, k + 1)


def subpixel_weights(w):
    """[O, C, 3, 3] -> [4O, C, 2, 2]: nearest x2 upsample + 3x3 conv as 4 phases of a 2x2 conv."""

    def along(w, dim, phase):
        k = lambda i: w.narrow(dim, i, 1)
        return torch.cat([k(0), k(1) + k(2)] if phase == 0 else [k(0) + k(1), k(2)], dim)

    return torch.cat([along(along(w, 2, a), 3, b) for a, b in PHASES], 0)


class Fast:
    """forward_fast of a single-style checkpoint, weights in the given memory format."""

    def __init__(self, net, memory_format):
        fmt = lambda w: w.detach().contiguous(memory_format=memory_format)
        conv = lambda layer: (fmt(layer.conv2d.weight), layer.conv2d.bias.detach(), layer.conv2d.stride[0])
        norm = lambda layer: (layer.weight.detach(), layer.bias.detach())
        self.down = [(conv(getattr(net, f"conv{i}")), norm(getattr(net, f"in{i}"))) for i in (1, 2, 3)]
        self.res = [
            (conv(b.conv1), norm(b.in1), conv(b.conv2), norm(b.in2))
            for b in (getattr(net, f"res{i}") for i in range(1, net.blocks + 1))
        ]
        self.up = [
            ((fmt(subpixel_weights(d.conv2d.weight.detach())), d.conv2d.bias.detach().repeat(4)), norm(n))
            for d, n in ((net.deconv1, net.in4), (net.deconv2, net.in5))
        ]
        w3 = net.deconv3.conv2d
        self.last = (fmt(phase_weights(w3.weight.detach())), w3.bias.detach().repeat_interleave(4))
        self.memory_format = memory_format

    @staticmethod
    def conv(x, c):
        w, b, stride = c
        p = w.shape[2] // 2
        return F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), w, b, stride=stride)

    @staticmethod
    def norm(x, n):
        return F.group_norm(x, x.shape[1], n[0], n[1], 1e-5)

    def __call__(self, x):
        y = x.contiguous(memory_format=self.memory_format)
        for c, n in self.down:
            y = self.norm(self.conv(y, c), n).relu_()
        for c1, n1, c2, n2 in self.res:
            r = self.norm(self.conv(self.norm(self.conv(y, c1), n1).relu_(), c2), n2)
            r += y
            y = r
        for (w, b), n in self.up:
            batch, _, h, wd = y.shape
            o = w.shape[0] // 4
            z = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), w, b).view(batch, 2, 2, o, h + 1, wd + 1)
            out = torch.empty(batch, o, 2 * h, 2 * wd)
            interleaved = out.view(batch, o, h, 2, wd, 2)
            for a, bb in PHASES:
                interleaved[:, :, :, a, :, bb].copy_(z[:, a, bb, :, a : a + h, bb : bb + wd])
            y = self.norm(out.contiguous(memory_format=self.memory_format), n).relu_()
        w, b = self.last
        return F.pixel_shuffle(F.conv2d(F.pad(y, (4, 4, 4, 4), mode="reflect"), w, b, stride=2), 2)


def main():
    frame, models = sys.argv[1], sys.argv[2:]
    torch.set_num_threads(os.cpu_count())
    torch.set_grad_enabled(False)
    img = np.asarray(Image.open(frame).convert("RGB"), dtype=np.float32)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    h, w = x.shape[2] // 4 * 4, x.shape[3] // 4 * 4
    x = x[:, :, :h, :w].contiguous()
    nets = {}
    for path in models:
        pe = load_checkpoint(path)
        reference = pe(x)
        pair = (Fast(pe, torch.contiguous_format), Fast(pe, torch.channels_last))
        for f in pair:
            err = ((f(x) - reference).abs().max() / reference.abs().max()).item()
            assert err < 1e-4, f"{path}: the fast form is {err:.1e} off PE's forward"
        nets[os.path.basename(path)] = pair
    times = {name: ([], []) for name in nets}
    for _ in range(ROUNDS):
        for name, (nchw, nhwc) in nets.items():
            times[name][0].append(1000 * median_seconds(nchw, x, REPS))
            times[name][1].append(1000 * median_seconds(nhwc, x, REPS))
    print(f"{w}x{h}, {torch.get_num_threads()} threads, median of {ROUNDS} rounds of {REPS} forwards")
    print("| model | NCHW ms | channels-last ms | change |")
    print("|---|---|---|---|")
    medians = {}
    for name, (a, b) in times.items():
        medians[name] = (statistics.median(a), statistics.median(b))
        ma, mb = medians[name]
        print(f"| {name} | {ma:.1f} | {mb:.1f} | {100 * (mb / ma - 1):+.1f}% |")
    first = next(iter(medians.values()))
    for name, (ma, mb) in list(medians.items())[1:]:
        print(f"{name}: x{first[0] / ma:.2f} the first model's rate in NCHW, x{first[1] / mb:.2f} in channels-last")


if __name__ == "__main__":
    main()
