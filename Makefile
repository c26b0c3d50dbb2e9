# Two commands on a fresh machine: `make lab` and `make test`.
# Both create .venv when it is missing and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch and torchvision are pinned to the releases this project is tested with.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: lab test lint unit notebooks bench widget-latency clean

# `make test` needs only python3 and make. The browser test (tests/test_browser.py) drives
# Debian's /usr/bin/chromium when it is there, else a Chromium that Playwright manages
# (`.venv/bin/python -m playwright install chromium`), else it skips and says so; it fails
# instead in CI (CI=true), where .ci/run installs Debian's chromium first. Nothing here
# downloads a browser.

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PINS)
	$(BIN)/python -m pip install -q -e ".[lab,test]"
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

lint: $(STAMP)
	$(BIN)/ruff check .

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

notebooks: $(STAMP)
	VAE_TUTORIAL_QUICK=1 $(BIN)/python -m pytest -q --nbval-lax notebooks

test: lint
	VAE_TUTORIAL_QUICK=1 $(BIN)/python -m pytest -q tests --nbval-lax notebooks --durations=15

bench: $(STAMP)
	$(BIN)/python -m vae_tutorial.tools.bench

# Key press -> new figure on screen for every lesson's main explorer, in JupyterLab + Chromium.
widget-latency: $(STAMP)
	$(BIN)/python benchmarks/widget_latency.py

clean:
	rm -rf $(VENV)
