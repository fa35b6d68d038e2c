#!/usr/bin/env bash
# The README's pictures: the rendered test scene (infer demo's, 768×512, seed 2016; never a
# photo from ../shared) stylized at full size by each model given, as JPEG.
#
#   docs/pictures.sh NAME=MODEL [NAME=MODEL …]     # → docs/img/scene.jpg, docs/img/NAME.jpg
#   docs/pictures.sh shipped=builtin                # builtin = the model built into infer
#   docs/pictures.sh pack_sheet=sheet               # infer sheet of the built-in style pack
#   docs/pictures.sh NAME=sheet:MODEL               # … of a multi-style model
#
# Extra infer flags for every model go in INFER_FLAGS (e.g. INFER_FLAGS="--style-scale 0.5").
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build >/dev/null
tmp=$(mktemp -d -t faststyle-pictures.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$(pwd)
(cd "$tmp" && "$root/target/release/infer" demo --output "$tmp/ignored.jpg" 2>/dev/null)
scene="$tmp/out/demo/scene.png"
.venv/bin/python -c "from PIL import Image; Image.open('$scene').convert('RGB').save('docs/img/scene.jpg', quality=85)"
for spec in "$@"; do
  name=${spec%%=*} model=${spec#*=}
  if [[ $model == sheet* ]]; then
    sheet_flags=()
    [[ $model == sheet:* ]] && sheet_flags+=(--model "${model#sheet:}")
    target/release/infer sheet "${sheet_flags[@]}" --input "$scene" --output "$tmp/$name.png" --max-size 384
    .venv/bin/python -c "from PIL import Image; Image.open('$tmp/$name.png').save('docs/img/$name.jpg', quality=85)"
    echo "wrote docs/img/$name.jpg"
    continue
  fi
  flags=()
  [ "$model" != builtin ] && flags+=(--model "$model")
  # shellcheck disable=SC2086
  target/release/infer "${flags[@]}" --input "$scene" --output "$tmp/$name.png" --overwrite ${INFER_FLAGS:-}
  .venv/bin/python -c "from PIL import Image; Image.open('$tmp/$name.png').save('docs/img/$name.jpg', quality=85)"
  echo "wrote docs/img/$name.jpg"
done
