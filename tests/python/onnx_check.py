"""Runs an `infer export --format onnx` file in onnxruntime on the inputs tests/interop.rs
wrote (x_*: inputs, s_*: style weights for a multi-style model, y_*: faststyle's outputs).
Prints the largest relative difference; exits 1 if any exceeds 1e-4.
    python onnx_check.py M.onnx IO.safetensors"""
import sys

import numpy as np
import onnxruntime
from safetensors.numpy import load_file

session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
names = [i.name for i in session.get_inputs()]
io = load_file(sys.argv[2])
worst = 0.0
for name in sorted(k for k in io if k.startswith("x_")):
    feed = {"image": io[name]}
    if "styles" in names:
        feed["styles"] = io["s_" + name[2:]]
    ours, theirs = io["y_" + name[2:]], session.run(None, feed)[0]
    assert theirs.shape == ours.shape, (name, theirs.shape, ours.shape)
    worst = max(worst, float(np.abs(theirs - ours).max() / np.abs(ours).max()))
print(f"inputs {names}, max relative difference {worst:.3e}")
sys.exit(0 if worst <= 1e-4 else 1)
