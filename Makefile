# Quick start: `make train` (main job) and `make test` (whole suite). Both create .venv if absent
# (requirements.txt, then this project itself with `pip install -e .`).
PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.requirements-installed

.PHONY: venv train test cpp-test bench

$(STAMP): requirements.txt pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(VPY) -m pip install --disable-pip-version-check -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

train: $(STAMP)
	$(VPY) train.py -c configs/Synthetic/pixelrnn.json

cpp-test:
	cmake -S scamp5 -B build/scamp5 -DCMAKE_BUILD_TYPE=Release -DPIXELRNN_WEIGHTS_HEADER= -DPIXELRNN_CLIPS_HEADER= >/dev/null
	cmake --build build/scamp5 -j 2
	ctest --test-dir build/scamp5 --output-on-failure

test: $(STAMP) cpp-test
	$(VPY) -m pytest -q tests
