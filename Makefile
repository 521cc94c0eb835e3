# Two commands matter: `make run` (the local dry run on the embedded default) and `make test`.
# Both create .venv and install the project with its dev extra on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint bench clean image-runtime

# uv installs the same pinned ranges as pip, in parallel: a clean clone's install takes about a
# minute instead of several (CI counts it in make test's time).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv>=0.13,<0.14'
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/trainguard run --local

# The image runtime tier (tests/test_image_runtime.py) runs the jobs on a Python 3.10 venv with the
# XGBoost 3.0-5 image's pinned libraries: created once under .venv/, rebuilt when its pins change.
image-runtime: $(STAMP)
	$(BIN)/python tests/image_runtime/setup_env.py

test: $(STAMP) image-runtime
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) trainguard-run trainguard-core-out .trainguard .pytest_cache .ruff_cache
