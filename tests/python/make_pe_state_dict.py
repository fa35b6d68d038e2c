"""Makes a PyTorch reference-example state_dict for tests/interop.rs, as PE saves it
(torch.save(transformer.state_dict(), path)), with the legacy InstanceNorm keys that models
saved by old PyTorch carry (inN.running_mean / running_var), plus an input and PE's eager
output for it.   python make_pe_state_dict.py OUT.pth IO.safetensors [missing|notdict]"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
from pe import TransformerNet  # noqa: E402

out, io = sys.argv[1:3]
mode = sys.argv[3] if len(sys.argv) > 3 else ""
torch.manual_seed(7)
net = TransformerNet().eval()
with torch.no_grad():
    for p in net.parameters():  # move InstanceNorm off its identity init so weights matter
        p.add_(torch.randn_like(p) * 0.05)
sd = net.state_dict()
for name in ["in1", "in2", "res1.in1", "res3.in2"]:
    c = sd[f"{name}.weight"].numel()
    sd[f"{name}.running_mean"], sd[f"{name}.running_var"] = torch.zeros(c), torch.ones(c)
if mode == "missing":
    del sd["deconv2.conv2d.bias"]
torch.save([1, 2, 3] if mode == "notdict" else sd, out)
x = torch.rand(1, 3, 24, 32) * 255
with torch.no_grad():
    save_file({"x": x, "y": net(x).contiguous()}, io)
