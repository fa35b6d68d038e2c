"""Golden values for tests/golden.rs, computed with PyTorch (the venv's torch==2.11.0).

Run from the repository root:  .venv/bin/python tests/golden/make_golden.py

It writes, next to this script:
  transformer_net.safetensors  inputs and outputs of TransformerNet (PE architecture)
  losses.safetensors           inputs, Gram matrix and loss values of a VGG16 loss network

The networks here are written from ../shared/DESIGN.md in plain PyTorch, independently of
the Rust code: TransformerNet as in pytorch/examples fast_neural_style (reflection padding,
affine InstanceNorm2d, nearest x2 upsample + conv), VGG16 `features` as torchvision numbers
it, the losses as PE's utils (gram / (c*h*w), F.mse_loss) plus the TV loss of faststyle's
loss.rs docs. Parameters are not random: each tensor is filled by `fill()` below, a formula
the Rust test evaluates with the same libtorch ops, so only inputs and outputs are stored.
"""
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_grad_enabled(False)


def fill(name, shape, k):
    """Deterministic parameter k (in sorted-name order). Mirrors tests/support `fill_param`."""
    n = math.prod(shape)
    s = torch.sin(torch.arange(n, dtype=torch.float64) * 0.7 + 0.3 * k)
    if len(shape) == 4:  # conv weight: std ~ gain/sqrt(fan_in)
        gain = 2.0 if name.startswith("features.") else 1.0
        v = s * (gain / math.sqrt(shape[1] * shape[2] * shape[3]))
    elif name.endswith("conv2d.bias") or name.startswith("features."):
        v = s * 0.1
    elif name.endswith(".weight"):  # instance-norm scale
        v = 1.0 + 0.2 * s
    else:  # instance-norm shift
        v = 0.2 * s
    return v.reshape(shape).float()


def fill_module(module):
    sd = module.state_dict()
    for k, name in enumerate(sorted(sd)):
        sd[name].copy_(fill(name, list(sd[name].shape), k))


class ConvLayer(torch.nn.Module):
    def __init__(self, cin, cout, k, stride):
        super().__init__()
        self.pad = k // 2
        self.conv2d = torch.nn.Conv2d(cin, cout, k, stride)

    def forward(self, x):
        return self.conv2d(F.pad(x, [self.pad] * 4, mode="reflect"))


class UpsampleConvLayer(ConvLayer):
    def forward(self, x):
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResidualBlock(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.in1 = ConvLayer(c, c, 3, 1), torch.nn.InstanceNorm2d(c, affine=True)
        self.conv2, self.in2 = ConvLayer(c, c, 3, 1), torch.nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
        return x + self.in2(self.conv2(F.relu(self.in1(self.conv1(x)))))


class TransformerNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        IN = lambda c: torch.nn.InstanceNorm2d(c, affine=True)
        self.conv1, self.in1 = ConvLayer(3, 32, 9, 1), IN(32)
        self.conv2, self.in2 = ConvLayer(32, 64, 3, 2), IN(64)
        self.conv3, self.in3 = ConvLayer(64, 128, 3, 2), IN(128)
        for i in range(1, 6):
            setattr(self, f"res{i}", ResidualBlock(128))
        self.deconv1, self.in4 = UpsampleConvLayer(128, 64, 3, 1), IN(64)
        self.deconv2, self.in5 = UpsampleConvLayer(64, 32, 3, 1), IN(32)
        self.deconv3 = ConvLayer(32, 3, 9, 1)

    def forward(self, x):
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        for i in range(1, 6):
            y = getattr(self, f"res{i}")(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def stylize_any_size(net, x):
    """Pad to a multiple of 4 (>= 8) by reflection, split evenly, then crop back (DESIGN.md)."""
    h, w = x.shape[2:]
    t = lambda s: max(8, -(-s // 4) * 4)
    dh, dw = t(h) - h, t(w) - w
    l, r, top, b = dw // 2, dw - dw // 2, dh // 2, dh - dh // 2
    y = net(F.pad(x, [l, r, top, b], mode="reflect"))
    return y[:, :, top:top + h, l:l + w]


def pattern(shape, phase):
    n = math.prod(shape)
    return (127.5 + 127.5 * torch.sin(torch.arange(n, dtype=torch.float64) * 0.37 + phase)).reshape(shape).float()


# --- TransformerNet -------------------------------------------------------------------
net = TransformerNet().eval()
assert sum(p.numel() for p in net.parameters()) == 1_679_235
fill_module(net)
x_aligned = pattern([1, 3, 16, 24], 0.0)     # multiple of 4: PE's forward as is
x_odd = pattern([2, 3, 13, 18], 1.0)         # padded 13x18 -> 16x20, cropped back
save_file(
    {
        "x_aligned": x_aligned,
        "y_aligned": net(x_aligned).contiguous(),
        "x_odd": x_odd,
        "y_odd": stylize_any_size(net, x_odd).contiguous(),
    },
    os.path.join(HERE, "transformer_net.safetensors"),
)

# --- VGG16 loss network and losses ------------------------------------------------------
VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M"]
layers, c = [], 3
for v in VGG16:
    if v == "M":
        layers.append(torch.nn.MaxPool2d(2, 2))
    else:
        layers += [torch.nn.Conv2d(c, v, 3, padding=1), torch.nn.ReLU()]
        c = v
features = torch.nn.Sequential(*layers[:23])  # up to relu4_3 (index 22)
fill_module(torch.nn.ModuleDict({"features": features}))
TAPS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}


def vgg(x, preprocessing):
    if preprocessing == "torchvision":
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        x = (x / 255.0 - mean) / std
    else:  # caffe: BGR, 0-255, minus BGR mean
        x = x.flip(1) - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    out = {}
    for i, layer in enumerate(features):
        x = layer(x)
        for name, idx in TAPS.items():
            if idx == i:
                out[name] = x
    return out


def gram(f):
    n, c, h, w = f.shape
    f = f.view(n, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


def tv(y):
    dx = y[:, :, :, 1:] - y[:, :, :, :-1]
    dy = y[:, :, 1:, :] - y[:, :, :-1, :]
    return (dx.pow(2).sum() + dy.pow(2).sum()) / (2 * y.shape[0])


y = pattern([2, 3, 24, 24], 2.0)
x = pattern([2, 3, 24, 24], 3.0)
style = pattern([1, 3, 28, 20], 4.0)
STYLE_LAYER_WEIGHTS = {"relu1_2": 1.0, "relu2_2": 0.5, "relu3_3": 2.0, "relu4_3": 1.0}
CW, SW, TVW = 2.0, 30.0, 1e-3  # arbitrary global weights; the test uses the same
out = {"y": y, "x": x, "style": style, "gram_relu1_2": gram(vgg(y, "torchvision")["relu1_2"]).contiguous()}
for conv in ["torchvision", "caffe"]:
    fy, fx, fs = vgg(y, conv), vgg(x, conv), vgg(style, conv)
    content = F.mse_loss(fy["relu2_2"], fx["relu2_2"])
    style_loss = sum(
        w * F.mse_loss(gram(fy[l]), gram(fs[l]).expand(2, -1, -1)) for l, w in STYLE_LAYER_WEIGHTS.items()
    )
    out[f"{conv}_content"] = (CW * content).reshape(1)
    out[f"{conv}_style"] = (SW * style_loss).reshape(1)
    out[f"{conv}_tv"] = (TVW * tv(y)).reshape(1)
    out[f"{conv}_total"] = (CW * content + SW * style_loss + TVW * tv(y)).reshape(1)
save_file(out, os.path.join(HERE, "losses.safetensors"))
print("wrote", sorted(f for f in os.listdir(HERE) if f.endswith(".safetensors")))
