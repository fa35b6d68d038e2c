#!/usr/bin/env bash
# Here (no GPU needed): pack what one run of benches/gpu/run.sh on the GPU machine needs into
# .gpu/ (in .gitignore), which the device tool brings along (`carry`).
# The machine there has torch but no Rust, so the binaries built here travel, stripped and
# xz-compressed (about 5 MB for both); with ../shared/data/train_256, the Starry Night image,
# the partial VGG19 and 40 bunny frames the folder is about 45 MB (the limit is 64 MiB
# together with the working tree).
#
#   benches/gpu/pack.sh && du -sh .gpu
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data}
make -s build >/dev/null
readelf -d target/release/infer | grep -q 'libtorch_cuda' || { echo "infer is not linked with libtorch_cuda"; exit 1; }
rm -rf .gpu && mkdir -p .gpu/style .gpu/weights .gpu/frames
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
strip -o "$tmp/infer" target/release/infer
strip -o "$tmp/trainer" target/release/trainer
tar -C "$tmp" -cJf .gpu/bin.tar.xz infer trainer
cp -r "$DATA/train_256" .gpu/
cp "$DATA/style/starry_night.jpg" .gpu/style/
cp "$DATA/weights/vgg19-conv1_1-conv3_4.safetensors" .gpu/weights/
mapfile -t frames < <(find "$DATA/video/bunny_frames" -maxdepth 1 -name '*.jpg' | sort)
cp "${frames[@]:0:40}" .gpu/frames/
du -sh .gpu
