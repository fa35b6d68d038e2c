# faststyle: every target sets up a fresh machine by itself (venv with torch, then cargo).
#   make test            set up, build, run every test (CPU)
#   make demo            set up, build, stylize a rendered test scene with the shipped model
#   make demo INPUT=photo.jpg [OUTPUT=out.jpg]
#   make lint            cargo fmt --check and clippy -D warnings
#   make golden          regenerate tests/golden/*.safetensors with PyTorch

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv

# torch-sys finds libtorch through the venv's python (LIBTORCH_USE_PYTORCH=1 and VIRTUAL_ENV).
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)
export LIBTORCH_USE_PYTORCH := 1

# One profile for tests, demo and benches, so the workspace is compiled once.
CARGO_FLAGS := --release --locked

.PHONY: setup build test demo lint golden clean

$(VENV)/.ready: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.ready

build: setup
	cargo build $(CARGO_FLAGS) --workspace --bins

test: setup
	cargo test $(CARGO_FLAGS) --workspace

demo: build
	target/release/infer demo $(if $(INPUT),--input "$(INPUT)") $(if $(OUTPUT),--output "$(OUTPUT)")

lint: setup
	cargo fmt --all --check
	cargo clippy $(CARGO_FLAGS) --workspace --all-targets -- -D warnings

golden: setup
	$(VENV)/bin/python tests/golden/make_golden.py

clean:
	cargo clean
