# Everything a fresh machine needs: Python 3.11, make, and apt-get as root for the benchmark's peers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := demo
DEMO_VIDEO := $(DEMO_DIR)/demo.mp4
JOBS ?= 2

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(DEMO_VIDEO): | $(VENV)/.installed
	mkdir -p $(DEMO_DIR)
	$(BIN)/python -m vframe.synth $(DEMO_VIDEO) --frames 240 --width 1280 --height 720 --fps 24 --gop 48

# Until the HTTP service lands: cut a frame out of the demo video with the CLI and show what it did.
run: $(VENV)/.installed $(DEMO_VIDEO)
	$(BIN)/vframe probe $(DEMO_VIDEO)
	$(BIN)/vframe grab $(DEMO_VIDEO) vframe/jpg/offset/7/w/480/h/360 -o $(DEMO_DIR)/frame-7s.jpg
	@echo "wrote $(DEMO_DIR)/frame-7s.jpg: the frame at 7 s of $(DEMO_VIDEO), 480x360"
	@echo "try: $(BIN)/vframe grab $(DEMO_VIDEO) vframe/png/offset/2.5/w/320 -o frame.png"

test: $(VENV)/.installed
	$(BIN)/python -m pytest -n $(JOBS)

bench: $(VENV)/.installed
	$(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
