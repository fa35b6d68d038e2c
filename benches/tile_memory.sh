#!/usr/bin/env bash
# Peak memory of `infer --tile` on a 4K (3840×2160) image on the CPU, against untiled
# stylization of a smaller image, plus the tiled-vs-untiled difference on a size that fits.
#
#   benches/tile_memory.sh                 # tile 512; PHOTO=path to use your own picture
#   TILE=1024 benches/tile_memory.sh
# Goal (issue 3): 4K within 4 GiB peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
TILE=${TILE:-512}
make -s build >/dev/null 2>&1
OUT=$(mktemp -d -t faststyle-tile-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
PY=.venv/bin/python
PHOTO=${PHOTO:-$(ls ../shared/data/content/*.jpg 2>/dev/null | head -1 || true)}
$PY - "$OUT" "$PHOTO" <<'PY'
import sys, numpy as np
from PIL import Image
out, photo = sys.argv[1], sys.argv[2]
if photo:
    im = Image.open(photo).convert("RGB")
else:  # no photo here: a smooth generated picture
    y, x = np.mgrid[0:540, 0:960] / 60.0
    im = Image.fromarray((127 + 120 * np.sin(np.stack([x + y, x - y, x * 0.7]) )).transpose(1, 2, 0).astype(np.uint8))
im.resize((3840, 2160), Image.BICUBIC).save(f"{out}/4k.png")
im.resize((960, 540), Image.BICUBIC).save(f"{out}/960.png")
PY
peak() {  # peak RSS (MiB) and wall seconds of a command
  $PY -c 'import resource, subprocess, sys, time
t = time.time(); r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if r.returncode: sys.exit(r.stderr)
print(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB peak RSS, {time.time() - t:.1f} s")' "$@"
}
echo "4K 3840x2160, --tile $TILE: $(peak target/release/infer --input "$OUT/4k.png" --output "$OUT/4k_t.png" --tile "$TILE" --device cpu)"
echo "960x540 untiled:          $(peak target/release/infer --input "$OUT/960.png" --output "$OUT/960.png.out.png" --device cpu)"
target/release/infer --input "$OUT/960.png" --output "$OUT/960_t.png" --tile 256 --device cpu 2>/dev/null
$PY - "$OUT/960.png.out.png" "$OUT/960_t.png" <<'PY'
import sys, numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p)).astype(int) for p in sys.argv[1:3])
d = np.abs(a - b)
print(f"960x540 tiled (256) vs untiled: max {d.max()}, mean {d.mean():.2f}, p99 {np.percentile(d, 99):.0f} levels")
PY
