#!/usr/bin/env python
"""python scripts/bench.py ["override string" ...] [--set device=cuda threads=2]: per-phase timings and FLOP rates."""

import sys

from mmc_bench.perf.timing import main

if __name__ == "__main__":
    sys.exit(main())
