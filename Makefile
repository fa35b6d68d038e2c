# faststyle: every target sets up a fresh machine by itself (venv with torch, then cargo).
#   make test            set up, build, run every test (CPU); with ../shared/data present,
#                        the real-data tests as well
#   make test-real       only the real-data tests (#[ignore]d; they read ../shared/data)
#   make demo            set up, build, stylize a rendered test scene with the shipped model
#                        and write the sheet of the built-in style pack beside it
#   make demo INPUT=photo.jpg [OUTPUT=out.jpg]
#   make lint            cargo fmt --check and clippy -D warnings
#   make golden          regenerate tests/golden/*.safetensors with PyTorch
#   make bench           criterion benches (BENCH=filter to select cases)
#   make fuzz            run each cargo-fuzz target for FUZZ_SECONDS (default 60; not in CI)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv

# torch-sys finds libtorch through the venv's python (LIBTORCH_USE_PYTORCH=1 and VIRTUAL_ENV).
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)
export LIBTORCH_USE_PYTORCH := 1

# One profile for tests, demo and benches, so the workspace is compiled once.
CARGO_FLAGS := --release --locked

.PHONY: setup build test test-real demo lint golden bench fuzz clean ffmpeg

$(VENV)/.ready: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.ready

build: setup
	cargo build $(CARGO_FLAGS) --workspace --bins

# The video tests need the ffmpeg CLI: installed with apt-get where it is missing (as root).
ffmpeg:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null); } || \
	  echo "warning: ffmpeg is missing and could not be installed; install it (apt-get install ffmpeg) for the video tests"

# Real photos and weights beside the checkout (never committed); tests that read them are
# #[ignore]d, so a plain `cargo test` never passes by skipping them silently.
REAL_DATA ?= ../shared/data

test: setup ffmpeg
	cargo test $(CARGO_FLAGS) --workspace
	@if [ -d "$(REAL_DATA)" ]; then $(MAKE) --no-print-directory test-real; \
	else echo "note: $(REAL_DATA) is absent, so the real-data tests (make test-real) were not run"; fi

test-real: setup
	cargo test $(CARGO_FLAGS) --workspace -- --ignored

demo: build
	target/release/infer demo $(if $(INPUT),--input "$(INPUT)") $(if $(OUTPUT),--output "$(OUTPUT)")

lint: setup
	cargo fmt --all --check
	$(PYTHON) .ci/module_graph.py --quiet
	cargo clippy $(CARGO_FLAGS) --workspace --all-targets -- -D warnings

bench: setup
	cargo bench --locked --bench transformer -- $(BENCH)

golden: setup
	$(VENV)/bin/python tests/golden/make_golden.py

# libFuzzer through cargo-fuzz on the stable toolchain (RUSTC_BOOTSTRAP lets cargo-fuzz pass
# its -Z flags). No sanitizer: libtorch is not instrumented, and the targets look for panics,
# aborts, hangs and runaway memory in safe Rust. Crashes land in fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 60
fuzz: setup
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	$(VENV)/bin/python fuzz/make_seeds.py
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none checkpoint corpus/checkpoint -- \
		-max_total_time=$(FUZZ_SECONDS) -max_len=16384 -rss_limit_mb=4096
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none config corpus/config -- \
		-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096

clean:
	cargo clean
