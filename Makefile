# make run | test | sweep | tables | lint. Each installs what is missing first.
PYTHON ?= python3
# The CPU wheel; a machine that already has a torch (e.g. a CUDA build) keeps it.
TORCH_SPEC ?= torch==2.13.0
SWEEP ?= sweep
SEEDS ?= 0,1,2,3,4

.PHONY: install run test sweep tables lint

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install -q "$(TORCH_SPEC)"
	@$(PYTHON) -c "import mmc_bench, hydra, sklearn, pandas, tensorboard, h5py, tabulate, pytest, hydra_plugins.hydra_joblib_launcher" 2>/dev/null \
		|| $(PYTHON) -m pip install -q -e ".[dev,launchers]"

run: install
	$(PYTHON) -m mmc_bench

test: install
	$(PYTHON) -m pytest -q

sweep: install
	$(PYTHON) -m mmc_bench -m seed=$(SEEDS) sweep_name=$(SWEEP)

tables: install
	$(PYTHON) scripts/aggregate.py outputs/sweeps/$(SWEEP) --out outputs/tables/$(SWEEP)

lint: install
	$(PYTHON) -m ruff check mmc_bench scripts tests
