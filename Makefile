# make run | test | test-fast | sweep | tables | compare | benchmark | report | bench | bench-sparse | scaling | gpu-check | lint. Each installs what is missing first.
PYTHON ?= python3
# The CPU wheel; a machine that already has a torch (e.g. a CUDA build) keeps it.
TORCH_SPEC ?= torch==2.13.0
SWEEP ?= sweep
SEEDS ?= 0,1,2,3,4
# make benchmark PROFILE=quick for a first look; make report RUNS=folder [folder ...] for other run trees.
PROFILE ?=
THREADS ?= 0
RUNS ?= outputs/benchmark

.PHONY: install run test test-fast gpu-check sweep tables compare benchmark report bench bench-sparse scaling lint

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install -q "$(TORCH_SPEC)"
	@$(PYTHON) -c "import mmc_bench, hydra, sklearn, pandas, tensorboard, h5py, tabulate, matplotlib, pytest, xdist, hydra_plugins.hydra_joblib_launcher, importlib.metadata as m; m.version('mlflow'); assert int(m.version('optuna').split('.')[0]) >= 4" 2>/dev/null \
		|| $(PYTHON) -m pip install -q -e ".[dev,launchers,search,trackers]"

run: install
	$(PYTHON) -m mmc_bench

# One pytest worker per CPU (pytest-xdist): the suite is CPU-bound and its tests are independent.
test: install
	$(PYTHON) -m pytest -q -n auto

# Without the subprocess and long tests (marked slow): a quick check while editing.
test-fast: install
	$(PYTHON) -m pytest -q -n auto -m "not slow"

sweep: install
	$(PYTHON) -m mmc_bench -m seed=$(SEEDS) sweep_name=$(SWEEP)

tables: install
	$(PYTHON) scripts/aggregate.py outputs/sweeps/$(SWEEP) --out outputs/tables/$(SWEEP)

# Average ranks, Friedman + Nemenyi and the critical-difference diagram of a sweep (mmc-bench-compare ROOT for any tree).
compare: install
	$(PYTHON) -m mmc_bench.analysis.compare outputs/sweeps/$(SWEEP)

benchmark: install
	$(PYTHON) scripts/benchmark.py $(if $(PROFILE),--profile $(PROFILE)) --threads $(THREADS)

report: install
	$(PYTHON) scripts/report.py $(RUNS) --out outputs/REPORT.md

bench: install
	$(PYTHON) scripts/bench.py --out outputs/bench

# k-means on a sparse 5000 x 10000 bag-of-words view, kept sparse against densified: seconds and peak memory.
bench-sparse: install
	$(PYTHON) -m mmc_bench.perf.sparse

# Seconds per epoch and peak RSS per method at n = 1e4, 1e5, 1e6 (synthetic data); about an hour on 2 CPU cores.
scaling: install
	$(PYTHON) scripts/bench.py --scaling --out outputs/bench

# Every method for a few epochs on CUDA against the same run on the CPU (outputs/gpu_check/); without CUDA it
# says so and exits 0.
gpu-check: install
	$(PYTHON) -m mmc_bench.perf.gpu_check --out outputs/gpu_check

lint: install
	$(PYTHON) -m ruff check mmc_bench scripts tests
