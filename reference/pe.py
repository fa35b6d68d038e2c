"""The PyTorch reference side of faststyle's checks and benchmarks, in plain eager PyTorch.

Written from Johnson et al. 2016, the PyTorch reference example and torchvision's VGG,
independently of the Rust code:
  - TransformerNet as in pytorch/examples fast_neural_style ("PE"): reflection padding, affine
    InstanceNorm2d, nearest x2 upsample + conv; state_dict keys as PE's (conv1.conv2d.weight ...).
  - VGG16/VGG19 `features` numbered as torchvision, cut after the deepest tap.
  - Preprocessing: torchvision (RGB, /255, ImageNet mean/std) or caffe (BGR, 0-255, minus mean).
  - Losses as PE's utils (gram / (c*h*w), F.mse_loss) plus the TV loss of faststyle's loss.rs.

Used by tests/golden/make_golden.py (golden values) and benches/*_reference.py (speed baselines).
"""
import torch
import torch.nn.functional as F

# Convs per block: VGG16 2-2-3-3-3, VGG19 2-2-4-4-4 (configurations D and E).
VGG_BLOCKS = {"vgg16": [2, 2, 3, 3, 3], "vgg19": [2, 2, 4, 4, 4]}
WIDTHS = [64, 128, 256, 512, 512]


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


class CondInstanceNorm(torch.nn.Module):
    """Conditional instance norm (Dumoulin, Shlens & Kudlur 2017, eq. 1): a scale and shift
    per style, weight/bias [S, C]; style weights [N, S] (rows summing to 1) blend them per
    sample: gamma = styles @ weight, beta = styles @ bias."""

    def __init__(self, c, styles):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(styles, c))
        self.bias = torch.nn.Parameter(torch.zeros(styles, c))

    def forward(self, x, styles):
        y = F.instance_norm(x, eps=1e-5)
        return y * (styles @ self.weight)[:, :, None, None] + (styles @ self.bias)[:, :, None, None]


def norm(layer, x, styles):
    """A norm layer of TransformerNet: conditional ones take the style weights."""
    return layer(x, styles) if isinstance(layer, CondInstanceNorm) else layer(x)


def instance_norm(c, styles):
    return torch.nn.InstanceNorm2d(c, affine=True) if styles == 1 else CondInstanceNorm(c, styles)


class ResidualBlock(torch.nn.Module):
    def __init__(self, c, styles=1):
        super().__init__()
        self.conv1, self.in1 = ConvLayer(c, c, 3, 1), instance_norm(c, styles)
        self.conv2, self.in2 = ConvLayer(c, c, 3, 1), instance_norm(c, styles)

    def forward(self, x, styles=None):
        return x + norm(self.in2, self.conv2(F.relu(norm(self.in1, self.conv1(x), styles))), styles)


class TransformerNet(torch.nn.Module):
    """[N,3,H,W] RGB 0-255 in and out; H and W multiples of 4 (PE's forward as is).

    PE's net has channels (32, 64, 128) and 5 residual blocks; faststyle's model config may
    change both (`channels`, `residual_blocks`), and so may this class. With `num_styles` > 1
    every norm is a CondInstanceNorm and forward takes style weights [N, S].
    """

    def __init__(self, channels=(32, 64, 128), residual_blocks=5, num_styles=1):
        super().__init__()
        c1, c2, c3 = channels
        IN = lambda c: instance_norm(c, num_styles)
        self.blocks = residual_blocks
        self.conv1, self.in1 = ConvLayer(3, c1, 9, 1), IN(c1)
        self.conv2, self.in2 = ConvLayer(c1, c2, 3, 2), IN(c2)
        self.conv3, self.in3 = ConvLayer(c2, c3, 3, 2), IN(c3)
        for i in range(1, residual_blocks + 1):
            setattr(self, f"res{i}", ResidualBlock(c3, num_styles))
        self.deconv1, self.in4 = UpsampleConvLayer(c3, c2, 3, 1), IN(c2)
        self.deconv2, self.in5 = UpsampleConvLayer(c2, c1, 3, 1), IN(c1)
        self.deconv3 = ConvLayer(c1, 3, 9, 1)

    def forward(self, x, styles=None):
        y = F.relu(norm(self.in1, self.conv1(x), styles))
        y = F.relu(norm(self.in2, self.conv2(y), styles))
        y = F.relu(norm(self.in3, self.conv3(y), styles))
        for i in range(1, self.blocks + 1):
            y = getattr(self, f"res{i}")(y, styles)
        y = F.relu(norm(self.in4, self.deconv1(y), styles))
        y = F.relu(norm(self.in5, self.deconv2(y), styles))
        return self.deconv3(y)


class AnySize(torch.nn.Module):
    """Any H, W >= 1 in, the same size out, as faststyle's TransformerNet::forward: pad to a
    multiple of 4 and at least 8 (split evenly, extra pixel right/bottom; reflection where
    every pad is smaller than its side, else edge replication), run `core`, crop back.
    TorchScript-scriptable, so a traced `core` keeps working at every size."""

    def __init__(self, core):
        super().__init__()
        self.core = core

    def forward(self, x):
        xp, top, left = pad_any(x)
        y = self.core(xp)
        return y[:, :, top:top + x.shape[2], left:left + x.shape[3]]


class AnySizeStyled(torch.nn.Module):
    """AnySize for a multi-style core: forward(x, styles) with style weights [N, S] (or
    [1, S] for the whole batch), each row non-negative and summing to 1."""

    def __init__(self, core):
        super().__init__()
        self.core = core

    def forward(self, x, styles):
        xp, top, left = pad_any(x)
        y = self.core(xp, styles.expand(x.shape[0], styles.shape[1]))
        return y[:, :, top:top + x.shape[2], left:left + x.shape[3]]


class OnnxAnySize(torch.nn.Module):
    """AnySize for ONNX export (traced with dynamic N, H, W): reflection-pads to a multiple
    of 4 with the pad arithmetic recorded as graph ops, runs `core` (with the style weights
    [N, S] when `styled`), crops back. Equal to AnySize for sides >= 5 (AnySize also pads
    sides below 8 up to 8)."""

    def __init__(self, core, styled):
        super().__init__()
        self.core, self.styled = core, styled

    def forward(self, x, styles=None):
        h, w = x.shape[2], x.shape[3]
        ph, pw = (4 - h % 4) % 4, (4 - w % 4) % 4
        top, left = ph // 2, pw // 2
        xp = F.pad(x, [left, pw - left, top, ph - top], mode="reflect")
        y = self.core(xp, styles) if self.styled else self.core(xp)
        return y[:, :, top:top + h, left:left + w]


def load_checkpoint(path):
    """A faststyle checkpoint (safetensors) as an eval-mode TransformerNet: widths and block count
    from its `model_config` metadata, weights in f32, the training state left out."""
    import json
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, "pt") as f:
        model = json.loads(f.metadata()["model_config"])
    net = TransformerNet(tuple(model["channels"]), model["residual_blocks"]).eval()
    net.load_state_dict({k: v.float() for k, v in load_file(path).items() if not k.startswith("train_state")}, strict=True)
    return net


def pad_any(x):
    """x padded as AnySize pads it, with the top and left pads (to crop back)."""
    h, w = x.shape[2], x.shape[3]
    th, tw = max(8, (h + 3) // 4 * 4), max(8, (w + 3) // 4 * 4)
    dh, dw = th - h, tw - w
    left, top = dw // 2, dh // 2
    right, bottom = dw - left, dh - top
    if left < w and right < w and top < h and bottom < h:
        xp = F.pad(x, [left, right, top, bottom], mode="reflect")
    else:
        xp = F.pad(x, [left, right, top, bottom], mode="replicate")
    return xp, top, left


def vgg_layer_names(arch):
    """torchvision `features` index -> name (convB_K, reluB_K, poolB)."""
    names = []
    for b, n in enumerate(VGG_BLOCKS[arch], start=1):
        for k in range(1, n + 1):
            names += [f"conv{b}_{k}", f"relu{b}_{k}"]
        names.append(f"pool{b}")
    return names


def vgg_features(arch, last):
    """torchvision-numbered VGG `features` cut after the layer named `last`; frozen."""
    layers, c = [], 3
    for b, n in enumerate(VGG_BLOCKS[arch]):
        for _ in range(n):
            layers += [torch.nn.Conv2d(c, WIDTHS[b], 3, padding=1), torch.nn.ReLU()]
            c = WIDTHS[b]
        layers.append(torch.nn.MaxPool2d(2, 2))
    features = torch.nn.Sequential(*layers[: vgg_layer_names(arch).index(last) + 1])
    for p in features.parameters():
        p.requires_grad_(False)
    return features


def preprocess(x, convention):
    """[N,3,H,W] RGB 0-255 -> the VGG's input convention."""
    if convention == "torchvision":
        mean = x.new_tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = x.new_tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        return (x / 255.0 - mean) / std
    return x.flip(1) - x.new_tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)


def tap(features, arch, x, names):
    """Runs `features` on preprocessed x; returns {name: activation} for the names asked."""
    idx = {n: i for i, n in enumerate(vgg_layer_names(arch))}
    want = {idx[n]: n for n in names}
    out = {}
    for i, layer in enumerate(features):
        x = layer(x)
        if i in want:
            out[want[i]] = x
    return out


def gram(f):
    n, c, h, w = f.shape
    f = f.view(n, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


def tv(y):
    dx = y[:, :, :, 1:] - y[:, :, :, :-1]
    dy = y[:, :, 1:, :] - y[:, :, :-1, :]
    return (dx.pow(2).sum() + dy.pow(2).sum()) / (2 * y.shape[0])
