"""mmc_bench: one runner for deep multi-modal clustering experiments."""

__version__ = "0.1.0"
