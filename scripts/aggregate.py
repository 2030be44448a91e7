#!/usr/bin/env python
"""python scripts/aggregate.py ROOT [ROOT ...] [--out DIR] [--protocol mean|best-loss] [--metrics acc,nmi,...]"""

import sys

from mmc_bench.analysis.aggregate import main

if __name__ == "__main__":
    sys.exit(main())
