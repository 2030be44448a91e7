"""`make bench`: per method x dataset, wall time per epoch of each training phase (median), samples per
second, FLOPs per epoch counted by torch's FlopCounterMode, the achieved fraction of this device's measured
dense-matmul rate, peak memory, and the phase's matmul floor: the time its epoch's matrix products take
when replayed alone, back to back, with the same shapes and memory layouts. No implementation that does the
same float32 products on this device can run an epoch faster than that floor. Eager and compiled steps are
timed side by side: one more run (compile=true) turns its compiled steps on every other epoch, eager in
between, so both see the same load. Each run has its own process, so peak RSS is its own. The whole-run
table times the default schedule of a few cases with compile=false, true and auto."""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml
from torch.utils._python_dispatch import TorchDispatchMode

from mmc_bench.perf.plan import PLAN

# The timed cases, and the whole runs of the default schedule (compilation included) under each compile
# mode: data of the benchmark plan (resources/benchmark.yaml, keys bench_cases and whole_run_cases).
DEFAULT_CASES = tuple(yaml.safe_load(PLAN.read_text())["bench_cases"])
WHOLE_RUN_CASES = tuple(yaml.safe_load(PLAN.read_text())["whole_run_cases"])
COMPILE_MODES = ("false", "true", "auto")


def scaling_methods() -> list[str]:
    """Every method whose class declares a 'scaling' schedule."""
    from mmc_bench import registry

    return [name for name, cls in registry.methods().items() if "scaling" in cls.schedules]


def matmul_peak(device: torch.device, size: int = 2048, seconds: float = 2.0) -> float:
    """FLOP/s of a plain float32 matmul loop on ``device`` (the yardstick for every phase)."""
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    a @ b  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
    return 2 * size**3 * count / (time.perf_counter() - start)


MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}
# (op name, ((shape, stride), ...) of its tensor arguments)
MatmulCall = tuple[str, tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]]


class MatmulRecorder(TorchDispatchMode):
    """Counts every matrix product by op, operand shapes and strides (transposed operands stay transposed)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[MatmulCall] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func._schema.name in MATMUL_OPS:
            operands = tuple((tuple(a.shape), tuple(a.stride())) for a in args if isinstance(a, torch.Tensor))
            self.calls[(func._schema.name, operands)] += 1
        return func(*args, **(kwargs or {}))

    def take(self) -> Counter[MatmulCall]:
        calls, self.calls = self.calls, Counter()
        return calls


def _operand(shape: tuple[int, ...], stride: tuple[int, ...], device: torch.device) -> torch.Tensor:
    storage = 1 + sum((size - 1) * step for size, step in zip(shape, stride))
    return torch.randn(storage, device=device).as_strided(shape, stride)


def matmul_floor(calls: Counter[MatmulCall], device: torch.device, repeats: int = 3) -> float:
    """Seconds the recorded products take alone: each distinct call timed over its count (best of repeats)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    total = 0.0
    for (name, operands), count in calls.items():
        op = getattr(torch.ops.aten, name.split("::")[1]).default
        tensors = [_operand(shape, stride, device) for shape, stride in operands]
        op(*tensors)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            for _ in range(count):
                op(*tensors)
            sync()
            best = min(best, time.perf_counter() - start)
        total += best
    return total


def _phase_medians(marks: list[tuple[str, float]]) -> dict[str, tuple[float, int]]:
    """Median per phase over its epochs after the first (which pays the phase's set-up), and the epoch count."""
    phases: dict[str, list[float]] = {}
    for phase, value in marks:
        phases.setdefault(phase, []).append(value)
    return {p: (statistics.median(v[1:] if len(v) > 1 else v), len(v)) for p, v in phases.items()}


def run_case(overrides: list[str], count_flops: bool, alternate: bool = False) -> dict[str, Any]:
    """One fit in this process; returns per-phase seconds (or FLOPs) per epoch. With ``alternate`` (and
    compile=true) the compiled steps run every other epoch and eager ones in between, so that eager and
    compiled are timed side by side under the same load (this VM's speed drifts by up to 50 % over minutes)."""
    from mmc_bench.nn import kmeans
    from mmc_bench.run.app import compose_run_config
    from mmc_bench.run.engine import Trainer
    from mmc_bench.run.runner import build_method, prepare_dataset, resolve_device, seed_everything
    from mmc_bench.run.tracking import RunLog

    cfg = compose_run_config(*overrides)
    seed_everything(cfg.seed)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    data = replace(prepare_dataset(cfg).train_part(), labels=None)  # as the runner: labels score only
    method = build_method(cfg.method, cfg.seed, cfg.device)

    class MarkedLog(RunLog):
        def __init__(self, read):
            super().__init__()
            self.read, self.marks, self.last = read, [], read()

        def epoch(self, epoch, scalars, phase="train"):
            super().epoch(epoch, scalars, phase)
            now = self.read()
            self.marks.append((phase, now - self.last))
            self.last = now
            if alternate:
                alternation.after_epoch(phase, self.marks[-1][1])

    if count_flops:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter, MatmulRecorder() as recorder:
            log = MarkedLog(lambda: float(counter.get_total_flops()))
            epoch_calls = EpochCalls(recorder)
            log.epoch = epoch_calls.wrap(log.epoch)
            method.fit_dataset(data, Trainer(log, progress=False))
        floors = {phase: matmul_floor(calls, device) for phase, calls in epoch_calls.last.items()}
    else:
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        alternation = Alternation(method)
        log = MarkedLog(lambda: (sync(), time.perf_counter())[1])
        start = time.perf_counter()
        result = method.fit_dataset(data, Trainer(log, progress=False, compile=cfg.compile))
        total = time.perf_counter() - start
        start = time.perf_counter()
        method.predict_dataset(data)
        sync()
        predict_s = time.perf_counter() - start
    out = {"phases": _phase_medians(log.marks), "n_train": data.n_samples, "device": str(device)}
    if count_flops:
        out["matmul_floor_s"] = floors
    else:
        out["fit_s"] = total
        out["compile_s"] = {phase: t["compile_s"] for phase, t in result.timing.items()}
        out["kmeans_s"] = sum(kmeans.SECONDS_SPENT)
        out["predict_s"] = predict_s
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if alternate:
            out["alternating"] = alternation.medians()
        if device.type == "cuda":
            out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


class Alternation:
    """Turns a fit's compiled steps on and off epoch by epoch and sorts the epoch times by what ran. Per
    phase, the first compiled epoch (it compiles) and a first eager epoch (it pays the phase's start) are
    left out of the medians."""

    def __init__(self, method: Any) -> None:
        self.method, self.calls = method, 0
        self.seconds: dict[str, dict[str, Any]] = {}

    def _steps(self) -> list[Any]:
        from mmc_bench.run.compiling import CompiledStep

        return [v for v in vars(self.method).values() if isinstance(v, CompiledStep)]

    def after_epoch(self, phase: str, seconds: float) -> None:
        steps = self._steps()
        calls = sum(step.compiled_calls for step in steps)
        kind = "compiled" if calls > self.calls else "eager"
        self.calls = calls
        state = self.seconds.setdefault(phase, {"compiled": [], "eager": [], "epochs": 0, "compiled_seen": 0})
        if state["epochs"] > 0 and not (kind == "compiled" and not state["compiled_seen"]):
            state[kind].append(seconds)
        state["epochs"] += 1
        state["compiled_seen"] |= kind == "compiled"
        for step in steps:
            step.enabled = kind == "eager"

    def medians(self) -> dict[str, dict[str, float]]:
        def median(values: list[float]) -> float:
            return statistics.median(values) if values else float("nan")

        return {p: {k: median(t[k]) for k in ("compiled", "eager")} for p, t in self.seconds.items()}


class EpochCalls:
    """The matrix products of each phase's last epoch, cut at the log's epoch marks."""

    def __init__(self, recorder: MatmulRecorder) -> None:
        self.recorder = recorder
        self.last: dict[str, Counter[MatmulCall]] = {}

    def wrap(self, epoch):
        def marked(index, scalars, phase="train"):
            self.last[phase] = self.recorder.take()
            epoch(index, scalars, phase)

        return marked


def bench(case: str, extra: list[str], peak: float) -> list[dict[str, Any]]:
    from mmc_bench.run.app import compose_run_config

    overrides = shlex.split(case) + extra + ["plots=none"]
    method = compose_run_config(*overrides).method.name
    # Short schedules (the method class's 'bench' schedule): enough epochs per phase for a median.
    overrides += _profile("bench", method)
    timed, flops = (_subprocess([*overrides, "compile=false"], count) for count in (False, True))
    compiled = _subprocess([*overrides, "compile=true"], False, alternate=True)
    rows = []
    for phase, (seconds, epochs) in timed["phases"].items():
        phase_flops = flops["phases"].get(phase, (float("nan"), 0))[0]
        floor = flops["matmul_floor_s"].get(phase, float("nan"))
        side_by_side = compiled["alternating"].get(phase, {"eager": float("nan"), "compiled": float("nan")})
        rows.append(
            {
                "case": case,
                "phase": phase,
                "epochs timed": epochs,
                "s/epoch (median)": seconds,
                "eager s/epoch (alternating)": side_by_side["eager"],
                "compiled s/epoch (alternating)": side_by_side["compiled"],
                "x compiled": side_by_side["eager"] / side_by_side["compiled"],
                "compile s": compiled["compile_s"].get(phase, 0.0),
                "samples/s": timed["n_train"] / seconds if seconds > 0 else float("nan"),
                "GFLOP/epoch": phase_flops / 1e9,
                "% of matmul peak": 100 * phase_flops / seconds / peak if seconds > 0 else float("nan"),
                "matmul floor s/epoch": floor,
                **_run_columns(timed),
            }
        )
    return rows


def whole_run(case: str, extra: list[str]) -> dict[str, Any]:
    """Fit and predict seconds of the default schedule under each compile mode (compilation included)."""
    row: dict[str, Any] = {"case": case}
    for mode in COMPILE_MODES:
        timed = _subprocess([*shlex.split(case), *extra, "plots=none", f"compile={mode}"], False)
        row[f"compile={mode} s"] = timed["fit_s"] + timed["predict_s"]
        row[f"compile={mode} compile s"] = sum(timed["compile_s"].values())
    return row


def _run_columns(timed: dict[str, Any]) -> dict[str, Any]:
    """Whole-run figures of one timed case (the same on each of its phase rows)."""
    return {
        "fit s": timed["fit_s"],
        "k-means s": timed["kmeans_s"],
        "predict s": timed["predict_s"],
        "peak RSS MB": timed["peak_rss_mb"],
        "CUDA peak MB": timed.get("cuda_peak_mb", float("nan")),
        "device": timed["device"],
    }


def _profile(name: str, method: str) -> list[str]:
    from mmc_bench.perf.plan import method_schedule

    return method_schedule(method, name)


def _time_synthetic(method: str, n: int, view_dims: list[int], n_clusters: int, extra: list[str]) -> dict:
    """One timed run of ``method``'s scaling schedule on synthetic data of n samples and these views."""
    overrides = [
        f"method={method}",
        "dataset=synthetic",
        f"dataset.n_samples={n}",
        f"dataset.view_dims=[{','.join(map(str, view_dims))}]",
        f"dataset.n_clusters={n_clusters}",
        "plots=none",
        *extra,
        *_profile("scaling", method),
    ]
    return _subprocess(overrides, count_flops=False)


def _growth_rows(method: str, key: str, values: list[int], run, ratios) -> list[dict[str, Any]]:
    """Per value of ``key`` (n or the view count) and phase: s/epoch, and ``ratios(seconds ratio, value,
    previous value)`` against the previous value's s/epoch."""
    rows, previous = [], {}
    for value in values:
        timed = run(value)
        for phase, (seconds, epochs) in timed["phases"].items():
            last_value, last_seconds = previous.get(phase, (value, float("nan")))
            growth = ratios(seconds / last_seconds, value, last_value) if value != last_value else {}
            row = {
                "method": method,
                key: value,
                "phase": phase,
                "epochs timed": epochs,
                "s/epoch (median)": seconds,
            }
            rows.append({**row, **growth, **_run_columns(timed)})
            previous[phase] = (value, seconds)
    return rows


def scaling(
    methods: list[str], sizes: list[int], view_dims: list[int], n_clusters: int, extra: list[str]
) -> list[dict[str, Any]]:
    """Seconds per epoch of each phase and peak RSS of each method on ``synthetic`` data of growing n.

    'x linear' compares each step up in n with proportional growth: 1.0 is exactly linear, 1.2 is 20 % slower.
    """
    return [
        row
        for method in methods
        for row in _growth_rows(
            method,
            "n",
            sizes,
            lambda n, m=method: _time_synthetic(m, n, view_dims, n_clusters, extra),
            lambda ratio, n, last: {"x linear": ratio / (n / last)},
        )
    ]


def view_scaling(
    methods: list[str], n: int, view_counts: list[int], dim: int, n_clusters: int, extra: list[str]
) -> list[dict[str, Any]]:
    """Seconds per epoch of each phase at fixed n and a growing number of views V.

    'x views' compares each step up in V with the growth of V, 'x pairs' with the growth of the number of
    view pairs V(V-1)/2 (what DMIM's and CMMC's pairwise terms need): 1.0 grows exactly as that count."""

    def ratios(ratio: float, v: int, last: int) -> dict[str, float]:
        return {"x views": ratio / (v / last), "x pairs": ratio / ((v * (v - 1)) / max(last * (last - 1), 1))}

    return [
        row
        for method in methods
        for row in _growth_rows(
            method,
            "views",
            view_counts,
            lambda v, m=method: _time_synthetic(m, n, [dim] * v, n_clusters, extra),
            ratios,
        )
    ]


def _subprocess(overrides: list[str], count_flops: bool, alternate: bool = False) -> dict[str, Any]:
    command = [sys.executable, "-m", "mmc_bench.perf.timing", "--one", json.dumps(overrides)]
    if count_flops:
        command.append("--flops")
    if alternate:
        command.append("--alternate")
    result = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    if result.returncode != 0:
        raise SystemExit(f"error: bench case {' '.join(overrides)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time each training phase of each method (see module doc).")
    parser.add_argument(
        "cases", nargs="*", default=list(DEFAULT_CASES), help="override strings, one per case"
    )
    parser.add_argument(
        "--set", nargs="*", default=[], help="overrides added to every case (e.g. device=cuda threads=2)"
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"))
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="time each method on synthetic data of each --sizes instead of the cases (outputs scaling.md/csv)",
    )
    parser.add_argument(
        "--methods", nargs="*", default=None, help="default: every method with a scaling schedule"
    )
    parser.add_argument("--sizes", nargs="*", type=float, default=[1e4, 1e5, 1e6])
    parser.add_argument("--view-dims", nargs="*", type=int, default=[50, 50])
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument(
        "--views", nargs="*", type=int, default=[2, 4, 8], help="with --scaling: view counts at n = --view-n"
    )
    parser.add_argument("--view-n", type=int, default=10_000)
    parser.add_argument(
        "--whole-run",
        nargs="*",
        default=list(WHOLE_RUN_CASES),
        help="cases timed over their default schedule under compile=false, true and auto (none: skip)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--flops", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--alternate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_case(json.loads(args.one), args.flops, args.alternate)))
        return 0
    device = torch.device("cuda" if torch.cuda.is_available() and "device=cpu" not in args.set else "cpu")
    threads = next((int(s.split("=")[1]) for s in args.set if s.startswith("threads=")), 0)
    if threads:
        torch.set_num_threads(threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.scaling:
        args.methods = args.methods or scaling_methods()
        sizes = [int(n) for n in args.sizes]
        table = pd.DataFrame(scaling(args.methods, sizes, args.view_dims, args.clusters, args.set))
        header = (
            f"Device {device}, torch threads {torch.get_num_threads()}; synthetic data, views "
            f"{args.view_dims}, K={args.clusters}; schedules: each method class's 'scaling' schedule.\n\n"
        )
        _write(table, header, args.out / "scaling")
        if not args.views:
            return 0
        dim = args.view_dims[0]
        table = pd.DataFrame(
            view_scaling(args.methods, args.view_n, args.views, dim, args.clusters, args.set)
        )
        header = f"Device {device}; synthetic data, n={args.view_n}, views of {dim} dims each, K={args.clusters}.\n\n"
        return _write(table, header, args.out / "scaling_views")
    peak = matmul_peak(device)
    table = pd.DataFrame([row for case in args.cases for row in bench(case, args.set, peak)])
    header = f"Device {device}, torch threads {torch.get_num_threads()}, float32 matmul peak {peak / 1e9:.1f} GFLOP/s.\n\n"
    _write(table, header, args.out / "bench")
    if not args.whole_run:
        return 0
    table = pd.DataFrame([whole_run(case, args.set) for case in args.whole_run])
    header = (
        f"Device {device}; whole default-schedule runs (fit + predict seconds), compilation included.\n\n"
    )
    return _write(table, header, args.out / "whole_run")


def _write(table: pd.DataFrame, header: str, stem: Path) -> int:
    table.to_csv(stem.with_suffix(".csv"), index=False)
    markdown = header + table.to_markdown(index=False, floatfmt=".3g") + "\n"
    stem.with_suffix(".md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
