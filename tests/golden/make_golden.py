"""Golden values for tests/golden.rs, computed with PyTorch (the venv's torch==2.11.0).

Run from the repository root:  .venv/bin/python tests/golden/make_golden.py

It writes, next to this script:
  transformer_net.safetensors  inputs and outputs of TransformerNet (PE architecture)
  conditional_in.safetensors   a 3-style TransformerNet (conditional instance norm) on one-hot and blended style weights
  losses.safetensors           inputs, Gram matrix, loss values and their gradient of a VGG16 loss network
  motion.safetensors           the synthetic-motion warp, its valid mask, and the temporal and stability losses
                               (squared and absolute distance)

The networks and losses come from reference/pe.py: plain PyTorch written from the papers and
the PyTorch reference example, independently of the Rust code. Parameters are not random: each tensor is filled by `fill()` below, a formula
the Rust test evaluates with the same libtorch ops, so only inputs and outputs are stored.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "reference"))
from pe import AnySize, TransformerNet, gram, preprocess, tap, tv, vgg_features  # noqa: E402
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
        "y_odd": AnySize(net)(x_odd).contiguous(),
    },
    os.path.join(HERE, "transformer_net.safetensors"),
)

# --- Conditional instance norm: 3 styles, small widths ----------------------------------
cin = TransformerNet(channels=(8, 16, 32), residual_blocks=2, num_styles=3).eval()
fill_module(cin)
x_cin = pattern([4, 3, 16, 20], 2.0)
styles = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.2, 0.5, 0.3], [0.0, 1.0, 0.0]])
save_file(
    {"x": x_cin, "styles": styles, "y": cin(x_cin, styles).contiguous()},
    os.path.join(HERE, "conditional_in.safetensors"),
)

# --- VGG16 loss network and losses ------------------------------------------------------
features = vgg_features("vgg16", "relu4_3")  # torchvision indices 0..22
fill_module(torch.nn.ModuleDict({"features": features}))
TAPS = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]


def vgg(x, preprocessing):
    return tap(features, "vgg16", preprocess(x, preprocessing), TAPS)


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
    # d total / d y, for the plain and the checkpointed backward pass.
    with torch.enable_grad():
        yg = y.clone().requires_grad_(True)
        fyg = vgg(yg, conv)
        total = (
            CW * F.mse_loss(fyg["relu2_2"], fx["relu2_2"])
            + SW * sum(w * F.mse_loss(gram(fyg[l]), gram(fs[l]).expand(2, -1, -1)) for l, w in STYLE_LAYER_WEIGHTS.items())
            + TVW * tv(yg)
        )
        (out[f"{conv}_grad_y"],) = torch.autograd.grad(total, yg)
# Multi-scale style loss, scales 1 and 1/2 (area downscaling), torchvision convention: the style
# term is the mean over the scales; its gradient with respect to y.
SCALES = [1.0, 0.5]


def down(t, s):
    h, w = t.shape[-2:]
    return t if s == 1.0 else F.adaptive_avg_pool2d(t, (max(1, round(h * s)), max(1, round(w * s))))


with torch.enable_grad():
    yg = y.clone().requires_grad_(True)
    style_ms = sum(
        w * F.mse_loss(gram(vgg(down(yg, s), "torchvision")[l]), gram(vgg(down(style, s), "torchvision")[l]).expand(2, -1, -1))
        for s in SCALES
        for l, w in STYLE_LAYER_WEIGHTS.items()
    ) / len(SCALES)
    out["multiscale_style"] = (SW * style_ms).reshape(1).detach()
    (out["multiscale_style_grad_y"],) = torch.autograd.grad(SW * style_ms, yg)
save_file(out, os.path.join(HERE, "losses.safetensors"))

# --- L-BFGS (torch.optim.LBFGS) ---------------------------------------------------------
# Two small problems in float64, the iterate recorded after every optimizer.step():
#   quartic: 0.5 |A x - b|^2 + 0.1 sum(x^4), no line search (neural-style's setting), and a
#            neural-style run (one step, max_iter 30, tolerances off);
#   rosenbrock: the extended Rosenbrock function with the strong-Wolfe line search.
A = torch.sin(torch.arange(48, dtype=torch.float64) * 0.7 + 0.3).reshape(8, 6)
b = torch.cos(torch.arange(8, dtype=torch.float64) * 0.5)
x0 = torch.tensor([-1.2, 1.0, -1.2, 1.0, -1.2, 1.0], dtype=torch.float64)


def quartic(x):
    return 0.5 * (A @ x - b).pow(2).sum() + 0.1 * x.pow(4).sum()


def rosenbrock(x):
    return (100 * (x[1::2] - x[0::2] ** 2) ** 2 + (1 - x[0::2]) ** 2).sum()


def run_lbfgs(f, steps, **kw):
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], **kw)

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    xs, losses = [], []
    for _ in range(steps):
        losses.append(float(opt.step(closure)))
        xs.append(x.detach().clone())
    return torch.stack(xs), torch.tensor(losses, dtype=torch.float64)


lbfgs = {"A": A, "b": b, "x0": x0}
lbfgs["quartic_x"], lbfgs["quartic_loss"] = run_lbfgs(quartic, 4, lr=1, max_iter=5, history_size=3)
lbfgs["neural_style_x"], lbfgs["neural_style_loss"] = run_lbfgs(
    quartic, 1, max_iter=30, tolerance_grad=-1, tolerance_change=-1
)
lbfgs["rosenbrock_x"], lbfgs["rosenbrock_loss"] = run_lbfgs(
    rosenbrock, 4, lr=1, max_iter=5, history_size=3, line_search_fn="strong_wolfe"
)
save_file({k: v.contiguous() for k, v in lbfgs.items()}, os.path.join(HERE, "lbfgs.safetensors"))


# Flow-free video losses (shared/src/motion.rs). The motion: content shifted by `shift` px,
# then rotated (degrees, counter-clockwise on screen) and zoomed about the centre; output pixel
# p samples the input at M (p - shift), M = R(-rotation) / zoom, written for F.affine_grid in
# normalised coordinates (x * 2/W, y * 2/H).
def motion_theta(h, w, shift, rotation, zoom):
    r = math.radians(rotation)
    m = torch.tensor([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]], dtype=torch.float64) / zoom
    t = -m @ torch.tensor(shift, dtype=torch.float64)
    d_inv = torch.diag(torch.tensor([2 / w, 2 / h], dtype=torch.float64))
    d = torch.linalg.inv(d_inv)
    return torch.cat([d_inv @ m @ d, (d_inv @ t)[:, None]], 1)[None].float()


def warp(x, theta):
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    cover = F.grid_sample(torch.ones_like(x[:, :1]), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out, (cover >= 0.999).float()


mx = pattern([2, 3, 12, 16], 0.4)       # frames
my = pattern([2, 3, 12, 16], 1.1)       # f(x), as if stylized
my_moved = pattern([2, 3, 12, 16], 2.3)  # f(T(x))
my_noisy = pattern([2, 3, 12, 16], 3.7)  # f(x + noise)
theta = motion_theta(12, 16, (1.5, -2.25), 4.0, 1.06)
warped, mask = warp(mx, theta)
y_warped, _ = warp(my, theta)
temporal = ((my_moved - y_warped) ** 2 * mask).sum() / (mask.sum() * 3)
temporal_abs = ((my_moved - y_warped).abs() * mask).sum() / (mask.sum() * 3)  # distance "absolute"
save_file(
    {
        "x": mx, "y": my, "y_moved": my_moved, "y_noisy": my_noisy, "theta": theta,
        "warped": warped.contiguous(), "mask": mask.contiguous(),
        "temporal": temporal.reshape(1), "stability": F.mse_loss(my_noisy, my).reshape(1),
        "temporal_abs": temporal_abs.reshape(1), "stability_abs": F.l1_loss(my_noisy, my).reshape(1),
    },
    os.path.join(HERE, "motion.safetensors"),
)
print("wrote", sorted(f for f in os.listdir(HERE) if f.endswith(".safetensors")))
