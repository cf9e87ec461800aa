# Two entry points: `make run` (install + scan/tag a music folder) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
MUSIC  ?= ../shared/data/gtzan-mini-dev
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test run test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: pip then takes the CPU wheel on disk, not a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	# musicnn only for its pretrained weight files; its numpy pin cannot be met, so no deps.
	$(BIN)/pip install --quiet --no-deps musicnn==0.1.0
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)
install-test: $(TEST_STAMP)

## make run [MUSIC=DIR]: catalog a music folder and show each song's genres (files untouched).
run: $(STAMP)
	$(BIN)/earmark scan "$(MUSIC)"; test $$? -le 1
	$(BIN)/earmark genre "$(MUSIC)"; test $$? -le 1

## make test: the whole suite, real-music tests included.
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

## make test-fast: skip the tests marked slow, browser or ray.
test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q -m "not slow and not browser and not ray"

## make lint: ruff, and the import contracts in pyproject.toml (layers; one home per I/O library).
lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache
