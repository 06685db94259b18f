# Set-up is part of each target: a fresh clone needs only `make quickstart` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/.installed-main: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed-main
	$(BIN)/pip install -q -c constraints.txt -e ".[test]"
	touch $@

.PHONY: quickstart test benchmarks
quickstart: $(BIN)/.installed-main
	$(BIN)/stylejax stylize astronaut starry_night --workdir workdirs/quickstart --config quickstart --overwrite

test: $(BIN)/.installed-test
	$(BIN)/python -m pytest -q -n 2 tests

benchmarks: $(BIN)/.installed-test
	$(BIN)/python benchmarks/run_all.py
