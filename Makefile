# Everything a fresh machine needs: Python 3.11, make, and apt-get as root for the benchmark's peers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := demo
DEMO_VIDEO := $(DEMO_DIR)/demo.mp4
JOBS ?= 2

.PHONY: run test bench fuzz soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# vframe, and its test helpers beside it (testkit/: the package vframe_testkit, not in vframe's wheel).
$(VENV)/.installed: pyproject.toml testkit/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]' -e ./testkit
	touch $@

$(DEMO_VIDEO): | $(VENV)/.installed
	mkdir -p $(DEMO_DIR)
	$(BIN)/python -m vframe_testkit.synth $(DEMO_VIDEO) --frames 240 --width 1280 --height 720 --fps 24 --gop 48

# Serve a folder of videos on http://127.0.0.1:$(PORT): the demo folder (with a video vframe makes
# itself) unless VIDEOS names another one. The server prints a curl command that works as printed.
VIDEOS ?= $(DEMO_DIR)
PORT ?= 8080
run: $(VENV)/.installed $(DEMO_VIDEO)
	$(BIN)/vframe serve --root $(VIDEOS) --host 127.0.0.1 --port $(PORT)

test: $(VENV)/.installed
	$(BIN)/python -m pytest -n $(JOBS)

bench: $(VENV)/.installed
	$(BIN)/python bench/bench.py

# Hostile input, for longer than the suite can: mutated videos against a live server (findings are
# saved in fuzz-findings/), and a mixed load with slow and hostile clients (prints statuses,
# worker restarts and memory over time). MINUTES sets how long: 60 for fuzz and 10 for soak by default.
fuzz: $(VENV)/.installed
	$(BIN)/python tools/fuzz.py --minutes $(or $(MINUTES),60)

soak: $(VENV)/.installed
	$(BIN)/python tools/soak.py --minutes $(or $(MINUTES),10)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache fuzz-findings
