# Two entry points, each setting up its own virtual environment first:
#   make demo   install landform (only what the demo needs) and run `landform demo`
#               (report in runs/demo/report.html)
#   make test   install landform with its test tools and run the test suite
#   make docs   build the documentation site (docs/_build/html), tutorials executed, warnings as errors
# The interpreter is the newest supported one present (Python 3.13, then 3.12: on PATH, or under
# pyenv's versions folder); `make test PYTHON=python3.12` picks one. Each interpreter gets its own
# environment, .venv-3.13 or .venv-3.12, and .venv links to the one the last plain `make` used.
SUPPORTED_PYTHONS := 3.13 3.12
# The first of the named interpreters that runs: as found on PATH, else under pyenv's versions
# folder (pyenv's shims refuse to run a version that is not selected).
find_python = $(shell for name in $(1); do \
  for p in $$(command -v $$name) $$(ls -d $$HOME/.pyenv/versions/*/bin/$$name 2>/dev/null | sort -rV); do \
    $$p -c 'import sys' >/dev/null 2>&1 && { echo $$p; exit 0; }; \
  done; done)
PYTHON ?= $(firstword $(foreach v,$(SUPPORTED_PYTHONS),$(call find_python,python$(v))))
PYTHON_EXE := $(if $(PYTHON),$(call find_python,$(PYTHON)))
PYTHON_VERSION := $(if $(PYTHON_EXE),$(shell $(PYTHON_EXE) -c 'import sys; print("%d.%d" % sys.version_info[:2])'))
VENV ?= .venv-$(PYTHON_VERSION)
BIN := $(VENV)/bin
# Offline copies of the datasets, when the repository sits beside a `shared/` folder.
SHARED_DATA := $(abspath ../shared/datasets)
export LANDFORM_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
PYTEST_ARGS ?= -n 2 --dist loadfile
# PyTorch and Hugging Face transformers for the tests of landform.models.torch and
# landform.models.hf: the pinned release (PyPI's Linux build carries CUDA libraries and runs on the
# CPU; point pip at a CPU-only index to skip them); if it cannot be installed those tests skip.
TORCH ?= torch==2.13.0

.PHONY: demo test test-slow format install clean docs

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "No supported Python found: landform needs Python 3.13 or 3.12 \
(python3.13 or python3.12 on PATH, or pyenv's ~/.pyenv/versions/3.1x.*). Install one, or name it: \
make test PYTHON=/path/to/python3.12"; exit 2; }
	@test -n "$(PYTHON_EXE)" || { echo "$(PYTHON) does not run on this machine"; exit 2; }
	@case " $(SUPPORTED_PYTHONS) " in *" $(PYTHON_VERSION) "*) ;; *) echo "$(PYTHON) is Python \
$(PYTHON_VERSION); landform needs Python 3.13 or 3.12 (make test PYTHON=/path/to/python3.12)"; exit 2;; esac
	$(PYTHON_EXE) -m venv $(VENV)
	echo '*' > $(VENV)/.gitignore  # git ignores the environment, whatever its name
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if [ -L .venv ] || [ ! -e .venv ]; then ln -sfn $(VENV) .venv; \
	else echo "note: .venv is an older environment, not a link; landform now lives in $(VENV)"; fi

# what the demo needs: landform and its dependencies
$(BIN)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# the tests: also pytest, ruff, the tracking and Dask extras, and PyTorch's CPU build if at hand
$(BIN)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,dask]'
	$(BIN)/python -m pip install --quiet -e '.[hf]' '$(TORCH)' \
		|| echo "$(TORCH) could not be installed for this Python: the PyTorch tests will be skipped"
	touch $@

# the documentation site's tools (Sphinx, myst-nb, the book theme) and what the tutorials import
$(BIN)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[docs,hf]' '$(TORCH)'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed-demo
	$(BIN)/landform demo

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The site: API reference from the docstrings, tutorials executed (cached in docs/_build), any
# warning an error. Open docs/_build/html/index.html.
docs: $(BIN)/.installed-docs
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

# Fix what the linter can and format the code (what `make test` checks).
format: $(BIN)/.installed
	$(BIN)/ruff check --fix src tests benchmarks examples
	$(BIN)/ruff format src tests benchmarks examples

# The quick configs not run in CI (MNIST SAM, poison, batch size, imbalance, CNN, Fashion-MNIST,
# modular addition, grokking): about 15 minutes on 2 cores.
test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache docs/_build docs/api
	[ -L .venv ] && rm .venv || true
