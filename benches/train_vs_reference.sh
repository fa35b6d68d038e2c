#!/usr/bin/env bash
# Training speed on CPU: faststyle's `trainer` against a plain PyTorch eager loop
# (benches/train_reference.py) doing the same training step: TransformerNet, the VGG19
# loss network of configs/starry_night.json (content relu2_2, style relu1_2/2_2/3_3/3_4,
# caffe preprocessing), batch 2 at 224 px, Adam. Both run one after the other on the same
# photos; steady-state seconds per step are taken over steps WARMUP+1..STEPS of each log.
#
#   benches/train_vs_reference.sh                 # ../shared/data (synthetic if absent)
#   STEPS=40 BATCH=4 SIZE=256 benches/train_vs_reference.sh
#
# Prints both step rates and the ratio (faststyle / PyTorch; > 1 means faststyle is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-20} BATCH=${BATCH:-2} SIZE=${SIZE:-224} WARMUP=${WARMUP:-3}
DATA=${DATA:-../shared/data}
make -s build >/dev/null 2>&1
PY=.venv/bin/python
OUT=$(mktemp -d -t faststyle-train-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

if [[ -d $DATA/train && -f $DATA/weights/vgg19-conv1_1-conv3_4.safetensors ]]; then
  TRAIN=$DATA/train STYLE=$DATA/style/starry_night.jpg VGG=$DATA/weights/vgg19-conv1_1-conv3_4.safetensors
  echo "data: $DATA (real photos, ImageNet VGG19 up to conv3_4)"
else
  echo "data: $DATA not found; using generated photos and random VGG19 weights (speed only)"
  TRAIN=$OUT/train STYLE=$OUT/style.png VGG=$OUT/vgg19.safetensors
  $PY - "$OUT" <<'PY'
import os, sys, numpy as np, torch
from PIL import Image
from safetensors.torch import save_file
out = sys.argv[1]; os.makedirs(f"{out}/train")
rng = np.random.default_rng(0)
for i in range(64):
    yy, xx = np.mgrid[0:320, 0:480] / 40.0
    img = 127 + 120 * np.sin(xx * rng.uniform(0.2, 2) + yy * rng.uniform(0.2, 2) + rng.uniform(0, 6, (3, 1, 1)))
    Image.fromarray(img.transpose(1, 2, 0).astype(np.uint8)).save(f"{out}/train/{i:03}.jpg")
Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(f"{out}/style.png")
# VGG19 conv1_1..conv3_4 (torchvision indices 0..16), He-scaled random weights.
w, idx, c = {}, 0, 3
for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, 256]:
    if v == "M":
        idx += 1
        continue
    w[f"features.{idx}.weight"] = torch.randn(v, c, 3, 3) * (2 / (9 * c)) ** 0.5
    w[f"features.{idx}.bias"] = torch.zeros(v)
    c, idx = v, idx + 2
save_file(w, f"{out}/vgg19.safetensors")
PY
fi

common=(--batch-size "$BATCH" --image-size "$SIZE" --steps "$STEPS")
echo "== faststyle trainer: $STEPS steps, batch $BATCH, ${SIZE}px, CPU"
/usr/bin/time -f "faststyle process wall %e s, peak RSS %M KB" \
  target/release/trainer --config configs/starry_night.json --dataset "$TRAIN" --style "$STYLE" --vgg "$VGG" \
  "${common[@]}" --device cpu --log-every 1 --checkpoint-every 0 --preview-images 0 \
  --out "$OUT/faststyle" 2>&1 | grep -E "trained steps|process wall" || true
echo "== PyTorch eager loop (benches/train_reference.py): same settings"
/usr/bin/time -f "pytorch process wall %e s, peak RSS %M KB" \
  $PY benches/train_reference.py --dataset "$TRAIN" --style "$STYLE" --vgg "$VGG" "${common[@]}" \
  --metrics "$OUT/reference.jsonl" 2>&1 | grep -E "process wall" || true

$PY - "$OUT/faststyle/metrics.jsonl" "$OUT/reference.jsonl" "$WARMUP" "$STEPS" <<'PY'
import json, sys
def rate(path):
    t = {}
    for line in open(path):
        m = json.loads(line)
        if m.get("split", "train") == "train":
            t[m["step"]] = m["elapsed_sec"]
    w, s = int(sys.argv[3]), int(sys.argv[4])
    return (t[s] - t[w]) / (s - w)
ours, ref = rate(sys.argv[1]), rate(sys.argv[2])
print(f"faststyle: {ours:.3f} s/step ({1 / ours:.3f} steps/s)")
print(f"pytorch:   {ref:.3f} s/step ({1 / ref:.3f} steps/s)")
print(f"ratio (faststyle steps/s ÷ pytorch steps/s): {ref / ours:.2f}x")
PY
