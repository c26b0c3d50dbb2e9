# Two commands on a fresh machine: `make lab` and `make test`.
# Both create .venv when it is missing and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch and torchvision are pinned to the releases this project is tested with.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: lab test lint unit notebooks bench clean chromium

# The browser test (tests/test_browser.py) drives Debian's chromium through Playwright
# (Playwright never downloads a browser of its own here).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

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

chromium:
	@test -x $(CHROMIUM) || { \
	  echo "$(CHROMIUM) is missing: installing Debian's chromium for tests/test_browser.py"; \
	  $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

test: lint chromium
	VAE_TUTORIAL_QUICK=1 $(BIN)/python -m pytest -q tests --nbval-lax notebooks --durations=15

bench: $(STAMP)
	$(BIN)/python -m vae_tutorial.tools.bench

clean:
	rm -rf $(VENV)
