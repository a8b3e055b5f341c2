# The two commands: `make demo` and `make test`. Both install into .venv first when needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KERAS_BACKEND := tensorflow
export TF_CPP_MIN_LOG_LEVEL := 2
export MPLBACKEND := Agg

.PHONY: demo test wheel-check install bench tutorials clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m geokeras.demo --outdir demo_output

# Two pytest workers (pytest-xdist), idle ones stealing queued tests: the suite takes ~5 min on 2 cores instead of
# ~9 (most of it is tutorials and subprocesses that import TensorFlow one thread at a time).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

# Build the wheel, install it into a fresh venv outside the repository, run denoise, evaluate and the demo there.
wheel-check: $(STAMP)
	PYTHON=$(BIN)/python bash .ci/wheel_check.sh

# Every tutorial in full mode; the results table of tutorials/README.md is rewritten from what they print.
tutorials: $(STAMP)
	$(BIN)/python tutorials/make_readme_table.py

bench: $(STAMP)
	for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) demo_output build dist *.egg-info .pytest_cache
