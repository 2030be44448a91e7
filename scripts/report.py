#!/usr/bin/env python
"""python scripts/report.py ROOT [ROOT ...] [--out outputs/REPORT.md]: the reproduction report from run outputs."""

import sys

from mmc_bench.analysis.report import main

if __name__ == "__main__":
    sys.exit(main())
