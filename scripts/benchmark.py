#!/usr/bin/env python
"""python scripts/benchmark.py [--profile quick] [--methods cmmc,jecl] [--dry-run]: the sweeps of mmc_bench/resources/benchmark.yaml."""

import sys

from mmc_bench.perf.plan import main

if __name__ == "__main__":
    sys.exit(main())
