#!/usr/bin/env python
"""python scripts/plot.py RUN_DIR [RUN_DIR ...] [--no-tsne]: the figures of finished runs."""

import sys

from mmc_bench.analysis.plots import main

if __name__ == "__main__":
    sys.exit(main())
