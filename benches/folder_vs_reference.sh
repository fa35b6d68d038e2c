#!/usr/bin/env bash
# Folder throughput on this machine: `infer` against a plain PyTorch eager loop
# (benches/infer_reference.py: PIL decode -> same architecture and weights -> PIL encode, one
# frame at a time) on the same frames, one after the other. Prints both rates and the ratio,
# and checks both wrote the same file names.
#
#   benches/folder_vs_reference.sh                       # ../shared/data/video/bunny_frames
#   FRAMES=dir MODEL=m.safetensors INFER_ARGS="--batch 2" benches/folder_vs_reference.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${FRAMES:-../shared/data/video/bunny_frames}
MODEL=${MODEL:-models/starry_night.safetensors}
INFER_ARGS=${INFER_ARGS:-}
make -s build >/dev/null 2>&1
[[ -d $FRAMES ]] || { echo "no frame folder at $FRAMES (set FRAMES=DIR)"; exit 1; }
OUT=$(mktemp -d -t faststyle-folder-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
n=$(find "$FRAMES" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | wc -l)
echo "frames: $FRAMES ($n files), model: $MODEL, CPU threads: $(nproc)"

s=$(date +%s.%N)
# shellcheck disable=SC2086
target/release/infer --model "$MODEL" --input "$FRAMES" --output "$OUT/faststyle" --device cpu $INFER_ARGS 2>&1 | tail -1
ours=$(python3 -c "print($n / ($(date +%s.%N) - $s))")
s=$(date +%s.%N)
.venv/bin/python benches/infer_reference.py "$MODEL" "$FRAMES" "$OUT/pytorch"
ref=$(python3 -c "print($n / ($(date +%s.%N) - $s))")

if diff <(cd "$OUT/faststyle" && find . -type f | sort) <(cd "$OUT/pytorch" && find . -type f | sort) >/dev/null; then
  echo "output names and layout: identical ($n files)"
else
  echo "output names and layout: DIFFERENT"; exit 1
fi
printf 'faststyle: %.3f frames/s (process wall, model load included)\n' "$ours"
printf 'pytorch:   %.3f frames/s (process wall, interpreter and model load included)\n' "$ref"
printf 'ratio (faststyle / pytorch): %.2fx\n' "$(python3 -c "print($ours / $ref)")"
