#!/usr/bin/env bash
# Gatys' optimisation on CPU: `trainer optimize` against a plain PyTorch torch.optim.LBFGS
# loop (benches/gatys_reference.py) on the same loss (configs/starry_night.json: VGG19 to
# relu3_4, caffe input, its layers and weights), the same photo, size and iteration count,
# one after the other.
#
#   benches/gatys_vs_reference.sh                      # 256 px, 100 iterations
#   SIZE=512 ITERATIONS=50 benches/gatys_vs_reference.sh
#
# Needs the real data beside the checkout (../shared/data: the config's style image and VGG
# file). Prints both rates and the ratio (PyTorch s/iteration over ours; > 1: we are faster).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-256} ITERATIONS=${ITERATIONS:-100}
CONFIG=${CONFIG:-configs/starry_night.json}
PHOTO=${PHOTO:-../shared/data/content/adain_golden_gate.jpg}
make -s build >/dev/null 2>&1
OUT=$(mktemp -d -t faststyle-gatys-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
ours=$(target/release/trainer optimize --config "$CONFIG" --content "$PHOTO" --output "$OUT/ours.png" \
  --image-size "$SIZE" --iterations "$ITERATIONS" --device cpu 2>&1 | tail -1)
echo "faststyle: $ours"
theirs=$(.venv/bin/python benches/gatys_reference.py "$CONFIG" "$PHOTO" "$SIZE" "$ITERATIONS")
echo "$theirs"
a=$(sed -E 's/.*\(([0-9.]+) s\/iteration\).*/\1/' <<<"$ours")
b=$(sed -E 's/.*\(([0-9.]+) s\/iteration\).*/\1/' <<<"$theirs")
echo "ratio (PyTorch / faststyle s/iteration): $(python3 -c "print(f'{$b / $a:.2f}')")"
