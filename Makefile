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

## The whole test suite: pytest, then the notebooks' own tests; then a check that they left git status as they found it.
test: $(DEV_INSTALLED)
	@git status --porcelain --untracked-files=all > $(VENV)/tree-before 2>/dev/null || true
	$(BIN)/python -m pytest -q tests
	$(BIN)/nbdev-test --n-workers 2
	@git status --porcelain --untracked-files=all 2>/dev/null | diff $(VENV)/tree-before - >/dev/null \
	  || { echo "make test changed what git status shows:"; git status --porcelain --untracked-files=all | diff $(VENV)/tree-before -; exit 1; }

## The documentation site, built offline from the notebooks (all of them executed) into _site/: open _site/index.html.
docs: $(DEV_INSTALLED)
	$(BIN)/python docs/build.py

## Regenerate cifar_fast/ from nbs/ (edit the notebooks, never cifar_fast/*.py).
export: $(DEV_INSTALLED)
	$(BIN)/nbdev-export

## Remove every build output (the virtualenv, the docs build, caches); trained models and reports (models/, reports/) stay.
clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache _docs _site _proc .jupyter_cache jupyter_execute
	find . -name __pycache__ -type d -prune -exec rm -rf {} + ; find . -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
