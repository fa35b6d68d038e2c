"""Seed corpora for the fuzz targets (run by `make fuzz`, from the repository root).

corpus/checkpoint: a tiny but valid faststyle checkpoint (TransformerNet with 1 channel per
layer and no residual blocks, a few KB, so libFuzzer can mutate all of it), and the same with
F16 tensors. corpus/config: the repository's training configs.
"""
import json
import os
import shutil

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ck_dir = os.path.join(HERE, "corpus", "checkpoint")
cfg_dir = os.path.join(HERE, "corpus", "config")
os.makedirs(ck_dir, exist_ok=True)
os.makedirs(cfg_dir, exist_ok=True)

torch.manual_seed(0)
shapes = {
    "conv1.conv2d.weight": [1, 3, 9, 9], "conv1.conv2d.bias": [1],
    "conv2.conv2d.weight": [1, 1, 3, 3], "conv2.conv2d.bias": [1],
    "conv3.conv2d.weight": [1, 1, 3, 3], "conv3.conv2d.bias": [1],
    "deconv1.conv2d.weight": [1, 1, 3, 3], "deconv1.conv2d.bias": [1],
    "deconv2.conv2d.weight": [1, 1, 3, 3], "deconv2.conv2d.bias": [1],
    "deconv3.conv2d.weight": [3, 1, 9, 9], "deconv3.conv2d.bias": [3],
}
for i in range(1, 6):
    shapes[f"in{i}.weight"] = [1]
    shapes[f"in{i}.bias"] = [1]
meta = {
    "format": "faststyle.transformer_net",
    "format_version": "1",
    "model_config": json.dumps({"channels": [1, 1, 1], "residual_blocks": 0}),
    "train_config": json.dumps({"steps": 1}),
    "style_image": "seed.png",
    "step": "1",
    "loss_network": json.dumps({"arch": "vgg16", "preprocessing": "torchvision", "weights": "vgg16.safetensors"}),
    "faststyle_version": "0.1.0",
}
tensors = {k: torch.randn(v) * 0.1 for k, v in shapes.items()}
save_file(tensors, os.path.join(ck_dir, "tiny_f32.safetensors"), metadata=meta)
save_file({k: v.half() for k, v in tensors.items()}, os.path.join(ck_dir, "tiny_f16.safetensors"), metadata=meta)

configs = os.path.join(HERE, "..", "configs")
for name in sorted(os.listdir(configs)):
    if name.endswith(".json"):
        shutil.copy(os.path.join(configs, name), os.path.join(cfg_dir, name))
print("seeds:", sorted(os.listdir(ck_dir)), sorted(os.listdir(cfg_dir)))
