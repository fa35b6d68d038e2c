#!/usr/bin/env bash
# Every GPU measurement of issue 15 in one command, within a time budget, on the GPU machine
# (no Rust there: the binaries come packed by benches/gpu/pack.sh in .gpu/). Writes
# $OUT/report.json (the numbers), $OUT/report.log (everything printed), the 20-step loss curves
# and, with the time left, a Starry Night trained there ($OUT/starry_night_gpu.safetensors, F16).
#
# There (device tool, carry [".gpu"]):   benches/gpu/run.sh
# Here, to test it on the CPU in a minute: DEVICE=cpu SMALL=1 OUT=out/gpu-test benches/gpu/run.sh
#
# Steps (each device-synchronised before the clock is read: infer and trainer synchronise
# before they report, the PyTorch loop copies every frame back):
#   1. report header: nvidia-smi, `infer devices` (CUDA available, cuDNN), torch's GPU name;
#   2. correctness: infer on 8 PNG frames, DEVICE fp32/fp16/bf16 against CPU fp32 (max and mean
#      |Δ| in 0-255 levels), and 20 training steps on DEVICE against the CPU, same seed;
#   3. inference at 1080p (the 40 frames upscaled, N1080 JPEGs): infer end to end at batch
#      1/4/8 × fp32/fp16/bf16 (frames/s and the per-stage rates of infer's summary line), and a
#      PyTorch eager loop (benches/infer_reference.py) fp32, and fp16 + channels-last;
#   4. training: s/step at batch 4, 256 px (Johnson's recipe) from the dataset cache, loss
#      network fp32 and bf16; projected time for 40k steps;
#   5. the time left: train configs/starry_night.json at batch 4, 256 px towards Johnson's 40k
#      steps (lr 1e-3, the last 4000 at 1e-4), until the budget ends (SIGINT saves a
#      checkpoint), and bring it back as F16.
#
# Further calls go on training (the device keeps ignored folders while it stays warm, about 30 s
# between calls): ONLY=ship benches/gpu/run.sh skips steps 2-4 and resumes the run in SHIP_DIR
# (default out/gpu-ship, with its dataset cache beside it) exactly; on a fresh machine, where
# that folder is gone, SHIP_INIT=FILE starts a new run from a checkpoint brought back before
# (its weights; Adam starts afresh), e.g. with .gpu/starry_night_gpu.safetensors carried along.
set -uo pipefail
cd "$(dirname "$0")/../.."
DEVICE=${DEVICE:-cuda}
SMALL=${SMALL:-0}
BUDGET=${BUDGET:-560}            # seconds for the whole command (the tool allows 600)
OUT=${OUT:-out/gpu}
PACK=${PACK:-.gpu}
DATA=${DATA:-$PACK}              # train_256/, style/, weights/, frames/
ONLY=${ONLY:-all}                # all, or ship (step 5 only, resuming SHIP_DIR)
SHIP_DIR=${SHIP_DIR:-out/gpu-ship}
SHIP_INIT=${SHIP_INIT:-}
START=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - START))); }
mkdir -p "$OUT"
LOG=$OUT/report.log
exec > >(tee "$LOG") 2>&1
WORK=$(mktemp -d -t faststyle-gpu.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Python with torch: the machine's (/opt/torch/.venv), else the project's venv.
PY=${PY:-}
for p in /opt/torch/.venv/bin/python3 .venv/bin/python python3; do
  [[ -z $PY ]] && "$p" -c "import torch" 2>/dev/null && PY=$p
done
TORCH_LIB=$("$PY" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH=$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if [[ -f $PACK/bin.tar.xz ]]; then
  mkdir -p "$WORK/bin" && tar -C "$WORK/bin" -xJf "$PACK/bin.tar.xz" && BIN=$WORK/bin
else
  BIN=target/release
fi
if [[ $SMALL == 1 ]]; then
  SIZE=64 BATCH=2 STEPS20=5 N1080=8 W1080=320 H1080=180 SPEED_STEPS=6 NCHECK=3 SHIP_MAX=45
else
  SIZE=256 BATCH=4 STEPS20=20 N1080=${N1080:-240} W1080=1920 H1080=1080 SPEED_STEPS=200 NCHECK=8 SHIP_MAX=100000
fi
STYLE=$DATA/style/starry_night.jpg
VGG=$DATA/weights/vgg19-conv1_1-conv3_4.safetensors
MODEL=models/starry_night.safetensors
# Everything the run reads, checked before any GPU time is spent: a missing pack would
# otherwise turn every step below into an error and the report into empty numbers.
missing=()
for f in "$DATA/train_256" "$DATA/frames" "$STYLE" "$VGG" "$MODEL"; do [[ -e $f ]] || missing+=("$f"); done
if ((${#missing[@]})); then
  echo "error: missing ${missing[*]}: run benches/gpu/pack.sh here first (it fills $PACK/), or set DATA" >&2
  exit 1
fi
J=$WORK/json && mkdir -p "$J"
train_common=(--style "$STYLE" --vgg "$VGG" --batch-size "$BATCH" --image-size "$SIZE" --preview-images 0)
train_args=(--config configs/starry_night.json "${train_common[@]}")
CACHE=$SHIP_DIR.train-$SIZE.cache
# The training crops as a dataset cache, kept beside SHIP_DIR so further calls reuse it.
prepare_cache() {
  mkdir -p "$(dirname "$CACHE")"
  [[ -f $CACHE ]] || "$BIN/trainer" prepare --dataset "$DATA/train_256" --image-size "$SIZE" --output "$CACHE" 2>&1 | tail -1
}

echo "== 1. machine"
date -u
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv
"$BIN/infer" devices | tee "$J/devices.json"
"$PY" - >"$J/torch.json" <<'PY'
import json, torch
cuda = torch.cuda.is_available()
print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                  "gpu": torch.cuda.get_device_name(0) if cuda else None}))
PY
cat "$J/torch.json"

if [[ $ONLY != ship ]]; then
echo "== 2a. correctness: infer on $DEVICE against the CPU"
mkdir -p "$WORK/png"
"$PY" - "$DATA/frames" "$WORK/png" "$NCHECK" <<'PY'
import os, sys
from PIL import Image
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name in sorted(os.listdir(src))[:n]:
    Image.open(os.path.join(src, name)).convert("RGB").save(os.path.join(dst, os.path.splitext(name)[0] + ".png"))
PY
"$BIN/infer" --model "$MODEL" --input "$WORK/png" --output "$WORK/ref_cpu" --device cpu --precision fp32 | tail -1
# On a CPU (testing this script) fp16 convolutions are emulated and slow: left out there.
precisions=(fp32 fp16 bf16)
[[ $DEVICE == cpu ]] && precisions=(fp32 bf16)
for p in "${precisions[@]}"; do
  "$BIN/infer" --model "$MODEL" --input "$WORK/png" --output "$WORK/out_$p" --device "$DEVICE" --precision "$p" | tail -1
done
"$PY" - "$WORK" >"$J/correctness.json" <<'PY'
import json, os, sys
import numpy as np
from PIL import Image
w = sys.argv[1]
out = {}
for p in ("fp32", "fp16", "bf16"):
    if not os.path.isdir(f"{w}/out_{p}"):
        continue
    d = [np.abs(np.asarray(Image.open(f"{w}/out_{p}/{n}"), np.int16) - np.asarray(Image.open(f"{w}/ref_cpu/{n}"), np.int16))
         for n in sorted(os.listdir(f"{w}/ref_cpu"))]
    out[p] = {"max_abs": int(max(x.max() for x in d)), "mean_abs": float(np.mean([x.mean() for x in d]))}
print(json.dumps(out))
PY
cat "$J/correctness.json"

echo "== 2b. correctness: $STEPS20 training steps on $DEVICE against the CPU (same seed, fp32 loss network)"
for d in cpu "$DEVICE"; do
  "$BIN/trainer" "${train_args[@]}" --dataset "$DATA/train_256" --steps "$STEPS20" --log-every 1 --checkpoint-every 0 --device "$d" --precision fp32 \
    --out "$WORK/curve_$d" | tail -1
  cp "$WORK/curve_$d/metrics.jsonl" "$OUT/curve_$d.jsonl" 2>/dev/null
done
"$PY" - "$WORK/curve_cpu/metrics.jsonl" "$WORK/curve_$DEVICE/metrics.jsonl" >"$J/curve.json" <<'PY'
import json, sys
read = lambda p: [json.loads(l)["loss"] for l in open(p) if json.loads(l)["split"] == "train"]
a, b = read(sys.argv[1]), read(sys.argv[2])
rel = [abs(x - y) / abs(x) for x, y in zip(a, b)]
print(json.dumps({"steps": len(rel), "cpu_first_last": [a[0], a[-1]], "device_first_last": [b[0], b[-1]],
                  "max_rel_diff": max(rel), "mean_rel_diff": sum(rel) / len(rel)}))
PY
cat "$J/curve.json"

echo "== 3. inference: $N1080 frames ${W1080}x${H1080}, JPEG -> JPEG, $(left) s left"
"$PY" - "$DATA/frames" "$WORK/f1080" "$N1080" "$W1080" "$H1080" <<'PY'
import os, sys
from PIL import Image
src, dst, n, w, h = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
os.makedirs(dst)
names = sorted(os.listdir(src))
for i in range(n):
    Image.open(os.path.join(src, names[i % len(names)])).convert("RGB").resize((w, h), Image.BICUBIC).save(
        os.path.join(dst, f"frame_{i:05d}.jpg"), quality=95)
PY
: >"$J/infer.jsonl"
for p in "${precisions[@]}"; do
  for b in 1 4 8; do
    (( $(left) > 200 )) || { echo "skipped $p batch $b: $(left) s left"; continue; }
    rm -rf "$WORK/o"
    s=$(date +%s.%N)
    line=$("$BIN/infer" --model "$MODEL" --input "$WORK/f1080" --output "$WORK/o" --device "$DEVICE" --precision "$p" \
      --batch "$b" 2>&1 | tail -1)
    e=$(date +%s.%N)
    echo "$p batch $b: $line"
    "$PY" -c 'import json,sys; print(json.dumps({"precision": sys.argv[1], "batch": int(sys.argv[2]), "wall_s": float(sys.argv[4]) - float(sys.argv[3]), "frames": int(sys.argv[5]), "summary": sys.argv[6]}))' \
      "$p" "$b" "$s" "$e" "$N1080" "$line" >>"$J/infer.jsonl"
  done
done
: >"$J/pytorch.jsonl"
for flags in "" "--half --channels-last"; do
  [[ $DEVICE == cpu && -n $flags ]] && continue
  (( $(left) > 180 )) || { echo "skipped the PyTorch loop ${flags:-fp32}: $(left) s left"; continue; }
  rm -rf "$WORK/o"
  # shellcheck disable=SC2086
  line=$("$PY" benches/infer_reference.py "$MODEL" "$WORK/f1080" "$WORK/o" --device "$DEVICE" $flags | tail -1)
  echo "pytorch ${flags:-fp32}: $line"
  "$PY" -c 'import json,sys; print(json.dumps({"flags": sys.argv[1], "summary": sys.argv[2]}))' "${flags:-fp32}" "$line" >>"$J/pytorch.jsonl"
done

echo "== 4. training speed: batch $BATCH, ${SIZE}px, $(left) s left"
prepare_cache
: >"$J/train.jsonl"
for p in fp32 bf16; do
  [[ $DEVICE == cpu && $p == bf16 ]] && continue
  (( $(left) > 120 )) || { echo "skipped training speed $p: $(left) s left"; continue; }
  line=$("$BIN/trainer" "${train_args[@]}" --dataset "$CACHE" --steps "$SPEED_STEPS" --log-every 50 --checkpoint-every 0 \
    --device "$DEVICE" --precision "$p" --out "$WORK/speed_$p" 2>&1 | grep "^trained steps")
  echo "$p: $line"
  "$PY" -c 'import json,sys,re; m=re.search(r"\(([0-9.]+) s/step\)", sys.argv[2]); s=float(m.group(1)); print(json.dumps({"precision": sys.argv[1], "s_per_step": s, "steps_per_s": 1/s, "projected_40k_min": s*40000/60}))' \
    "$p" "$line" >>"$J/train.jsonl"
done
cat "$J/train.jsonl"
fi

remaining=$(( $(left) - 40 ))
(( remaining > SHIP_MAX )) && remaining=$SHIP_MAX
echo "== 5. training the shipped style with the $remaining s left"
if (( remaining > 30 )); then
  prepare_cache
  ship_flags=(--steps 40000 --checkpoint-every 2000 --log-every 100 --device "$DEVICE")
  if compgen -G "$SHIP_DIR/checkpoint_*.safetensors" >/dev/null; then
    echo "resuming $SHIP_DIR"
    ship_cmd=("$BIN/trainer" --resume "$SHIP_DIR" "${ship_flags[@]}")
  else
    rm -rf "$SHIP_DIR"
    config=configs/starry_night.json
    if [[ -n $SHIP_INIT ]]; then
      config=$WORK/ship.json
      "$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); c["init_from"]=sys.argv[2]; json.dump(c, open(sys.argv[3], "w"))' \
        configs/starry_night.json "$SHIP_INIT" "$config"
      echo "starting from $SHIP_INIT"
    fi
    # Johnson's length at lr 1e-3, the last tenth at 1e-4 (the shipped recipe's decay).
    ship_cmd=("$BIN/trainer" --config "$config" "${train_common[@]}" --dataset "$CACHE" --lr-decay-every 36000 \
      --lr-decay-factor 0.1 "${ship_flags[@]}" --out "$SHIP_DIR")
  fi
  timeout --foreground -s INT "$remaining" "${ship_cmd[@]}" 2>&1 | grep -vE "^step [0-9]+/"
  last=$(ls "$SHIP_DIR"/final.safetensors "$SHIP_DIR"/checkpoint_*.safetensors 2>/dev/null | sort | tail -1)
  if [[ -n $last ]]; then
    "$BIN/infer" convert "$last" -o "$OUT/starry_night_gpu.safetensors" --dtype f16
    cp "$SHIP_DIR/metrics.jsonl" "$OUT/ship_metrics.jsonl"
  fi
fi

"$PY" - "$J" "$OUT/report.json" "$DEVICE" "$SMALL" <<'PY'
import json, os, sys
j, out = sys.argv[1], sys.argv[2]
load = lambda n: json.load(open(os.path.join(j, n))) if os.path.exists(os.path.join(j, n)) else None
lines = lambda n: [json.loads(l) for l in open(os.path.join(j, n))] if os.path.exists(os.path.join(j, n)) else []
report = {"device": sys.argv[3], "small": sys.argv[4] == "1", "devices": load("devices.json"), "torch": load("torch.json"),
          "infer_vs_cpu": load("correctness.json"), "train_curve_vs_cpu": load("curve.json"),
          "infer": lines("infer.jsonl"), "pytorch_loop": lines("pytorch.jsonl"), "train_speed": lines("train.jsonl")}
for r in report["infer"]:
    r["frames_per_s"] = r["frames"] / r["wall_s"]
json.dump(report, open(out, "w"), indent=1)
print(f"wrote {out}")
PY
echo "done in $(( $(date +%s) - START )) s"
