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
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/trainguard run --local

# The image runtime tier (tests/test_image_runtime.py) runs the jobs on a Python 3.10 venv with the
# XGBoost 3.0-5 image's pinned libraries: created once under .venv/, rebuilt when its pins change.
image-runtime: $(STAMP)
	$(BIN)/python tests/image_runtime/setup_env.py

# Two workers (pytest-xdist) on CI's two cores: much of the suite waits on subprocesses and the moto
# server, so the whole suite takes about 7 minutes instead of 12. Every test is independent (its own
# tmp_path, its own moto server on a free port); `pytest tests/test_x.py` runs serially as ever.
test: $(STAMP) image-runtime
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) trainguard-run trainguard-core-out .trainguard .pytest_cache .ruff_cache
