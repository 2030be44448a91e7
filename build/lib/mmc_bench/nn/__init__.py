"""Pieces shared by the methods: blocks, kernels and divergences, loss bookkeeping, batching."""
