# Everything a fresh machine needs: Python 3.11, make, and apt-get as root for the benchmark's peers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := demo
JOBS ?= 2

.PHONY: run test bench fuzz soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# vframe, and its test helpers beside it (testkit/: the package vframe_testkit, not in vframe's wheel).
$(VENV)/.installed: pyproject.toml testkit/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,redis]' -e ./testkit
	touch $@

# The demo folder: demo.mp4 (its frames show their time and number), a portrait clip with rotation
# metadata and an anamorphic one (vframe_testkit.demo), made again when their maker changes.
DEMO_STAMP := $(DEMO_DIR)/.made
$(DEMO_STAMP): testkit/vframe_testkit/demo.py testkit/vframe_testkit/synth.py | $(VENV)/.installed
	$(BIN)/python -m vframe_testkit.demo $(DEMO_DIR)
	touch $@

# Serve a folder of videos on http://127.0.0.1:$(PORT): the demo folder unless VIDEOS names another
# one, with the page /-/ui/ on (UI=0 turns it off). The server prints a curl command that works as
# printed, and the page's link.
VIDEOS ?= $(DEMO_DIR)
PORT ?= 8080
UI ?= 1
run: $(VENV)/.installed $(DEMO_STAMP)
	VFRAME_UI=$(UI) $(BIN)/vframe serve --root $(VIDEOS) --host 127.0.0.1 --port $(PORT)

# Debian packages the tests start for real (BINARY=PACKAGE), installed with apt-get when missing and
# running as root; a test whose binary cannot be had skips and says why.
SYSTEM_PACKAGES := redis-server=redis-server chromium-headless-shell=chromium-headless-shell \
                   chromedriver=chromium-driver nginx=nginx

test: $(VENV)/.installed
	$(BIN)/python -m vframe_testkit.system $(SYSTEM_PACKAGES)
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
