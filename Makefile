# Two entry points, each setting up its own virtual environment first:
#   make demo   install landform (only what the demo needs) and run `landform demo`
#               (report in runs/demo/report.html)
#   make test   install landform with its test tools and run the test suite
# Another interpreter gets a virtual environment of its own: `make test PYTHON=python3.12` uses
# .venv-3.12 (the default `python3` keeps .venv).
PYTHON ?= python3
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV ?= $(if $(filter python3,$(PYTHON)),.venv,.venv-$(PYTHON_VERSION))
BIN := $(VENV)/bin
# Offline copies of the datasets, when the repository sits beside a `shared/` folder.
SHARED_DATA := $(abspath ../shared/datasets)
export LANDFORM_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
PYTEST_ARGS ?= -n 2 --dist loadfile
# PyTorch for the tests of landform.models.torch: the CPU build of the pinned release, found where
# pip is pointed at one (a local wheel, or --extra-index-url https://download.pytorch.org/whl/cpu);
# without one the PyTorch tests skip, and no multi-GB CUDA build is ever pulled.
TORCH ?= torch==2.13.0+cpu

.PHONY: demo test test-slow format install clean

$(BIN)/python:
	@test -n "$(PYTHON_VERSION)" || { echo "$(PYTHON) is not a Python interpreter on this machine"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	echo '*' > $(VENV)/.gitignore  # git ignores the environment, whatever its name
	$(BIN)/python -m pip install --quiet --upgrade pip

# what the demo needs: landform and its dependencies
$(BIN)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# the tests: also pytest, ruff, the tracking and Dask extras, and PyTorch's CPU build if at hand
$(BIN)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,dask]'
	$(BIN)/python -m pip install --quiet '$(TORCH)' \
		|| echo "no CPU build of $(TORCH) for this Python: the PyTorch tests will be skipped"
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed-demo
	$(BIN)/landform demo

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Fix what the linter can and format the code (what `make test` checks).
format: $(BIN)/.installed
	$(BIN)/ruff check --fix src tests benchmarks examples
	$(BIN)/ruff format src tests benchmarks examples

# The quick configs not run in CI (MNIST SAM, poison, batch size, imbalance, CNN, Fashion-MNIST,
# modular addition, grokking): about 15 minutes on 2 cores.
test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
