"""Timings and the benchmark plan: seconds per epoch, the whole-benchmark runner, the CUDA check."""
