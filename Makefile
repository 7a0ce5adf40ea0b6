# Two entry points, each setting up its own virtual environment first:
#   make demo   install landform and run `landform demo` (report in runs/demo/report.html)
#   make test   install landform with its test tools and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Offline copies of the datasets, when the repository sits beside a `shared/` folder.
SHARED_DATA := $(abspath ../shared/datasets)
export LANDFORM_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: demo test test-slow format install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,dask]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/landform demo

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Fix what the linter can and format the code (what `make test` checks).
format: $(BIN)/.installed
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# The quick configs not run in CI (MNIST SAM, poison, batch size, imbalance, CNN, Fashion-MNIST,
# modular addition, grokking): about 15 minutes on 2 cores.
test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
