# Two commands for a fresh machine with Python 3.10+ and make: `make train` and `make test`.
# Both create (or reuse) the virtualenv .venv at the repo root and install the package into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Stamps: reinstall only when the package metadata changes.
INSTALLED := $(VENV)/.installed
DEV_INSTALLED := $(VENV)/.dev-installed
TRAIN_ARGS ?=

.PHONY: train test docs export clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED): $(BIN)/python settings.ini setup.py
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_INSTALLED): $(BIN)/python settings.ini setup.py
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(INSTALLED)

## Run the main job on $CIFAR_FAST_DATA (a CIFAR-10 folder or .tgz), else on fastai's download.
train: $(INSTALLED)
	$(BIN)/cifar-fast train --report reports $(TRAIN_ARGS)

## The whole test suite: pytest, then the notebooks' own tests.
test: $(DEV_INSTALLED)
	$(BIN)/python -m pytest -q tests
	$(BIN)/nbdev-test --n-workers 2

## The documentation site, built offline from the notebooks (all of them executed) into _site/: open _site/index.html.
docs: $(DEV_INSTALLED)
	$(BIN)/python docs/build.py

## Regenerate cifar_fast/ from nbs/ (edit the notebooks, never cifar_fast/*.py).
export: $(DEV_INSTALLED)
	$(BIN)/nbdev-export

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache _docs _site
