"""`make gpu-check`: every method for a few epochs on CUDA, against the same run on the CPU.

Per method: whether the labels are the same (and, if not, how far they agree under the best one-to-one
matching of clusters), the final losses on both devices and their relative difference, seconds per
epoch of each phase on both, the peak CUDA memory, and a third run on CUDA with compiled steps
(``compile=true`` with inductor's CUDA graphs; without them if that fails): its seconds per epoch, compile
seconds, and its labels against the eager CUDA run. Written to ``--out`` (Markdown and JSON). On a
machine without CUDA it says so and exits 0, so it can stand in any script. The short 'bench' schedules
keep the whole check to a few minutes on one GPU.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch


def default_methods() -> list[str]:
    """One configuration per registered method class that trains on a device (library baselines such as
    k-means run on the CPU whatever the device; variants such as eamc_paper run the same code)."""
    from mmc_bench import registry

    return [name for name, cls in sorted(registry.methods().items()) if cls.uses_device]


def check_method(
    method: str,
    n_samples: int,
    seed: int,
    devices: tuple[str, str] = ("cpu", "cuda"),
    compiled: bool = True,
    searchpath: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One method on the reference device and on the checked one (``devices``), on the same data;
    ``searchpath`` (config folders) finds a method outside the package."""
    from hydra.utils import get_class

    from mmc_bench.config import Setting
    from mmc_bench.metrics import clustering_accuracy
    from mmc_bench.perf.plan import method_schedule
    from mmc_bench.run.app import compose_run_config
    from mmc_bench.run.runner import prepare_dataset

    located = (
        [f"hydra.searchpath=[{','.join(f'file://{Path(d).resolve()}' for d in searchpath)}]"]
        if searchpath
        else []
    )
    method_class = get_class(compose_run_config(f"method={method}", *located).method._target_)
    setting = next(s for s in (Setting.paired, Setting.mixed) if s in method_class.supported_settings)
    overrides = [
        f"method={method}",
        "dataset=synthetic",
        f"dataset.n_samples={n_samples}",
        "dataset.view_dims=[50,50]",
        "dataset.n_clusters=10",
        f"setting={setting.value}",
        f"seed={seed}",
        *method_schedule(method, "bench", *located),
        *located,
    ]
    out: dict[str, Any] = {"method": method}
    labels, losses = [], []
    runs = [("reference", devices[0], False), ("checked", devices[1], False)]
    if compiled:
        runs.append(("compiled", devices[1], True))
    for side, device, compile_steps in runs:
        cfg = compose_run_config(*overrides, f"device={device}")
        data = prepare_dataset(cfg)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        try:
            model, result, seconds, graphs = _fit(cfg, data, device, compile_steps)
        except Exception as exc:  # a step the compiler cannot take is a finding of the check, not its end
            if not compile_steps:
                raise
            out[f"{side} error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            continue
        labels.append(model.predict_dataset(replace(data, labels=None)).labels)
        losses.append(result.final_loss)
        out[f"{side} ({device}) fit s"] = round(seconds, 3)
        for phase, timing in result.timing.items():
            out[f"{side} {phase} s/epoch"] = timing["s_per_epoch"]
            if compile_steps:
                out[f"{side} {phase} compile s"] = timing["compile_s"]
        if compile_steps:
            out["compiled with CUDA graphs"] = graphs
            out["compiled labels = eager"] = bool((labels[-1] == labels[1]).all())
        elif device.startswith("cuda"):
            out["peak CUDA MB"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    out["same labels"] = bool((labels[0] == labels[1]).all())
    out["label agreement"] = round(clustering_accuracy(labels[0], labels[1]), 4)
    out["final loss"] = losses
    if None not in losses[:2]:
        out["loss rel diff"] = abs(losses[0] - losses[1]) / max(abs(losses[0]), 1e-12)
    return out


def _fit(cfg, data, device: str, compile_steps: bool) -> tuple[Any, Any, float, bool]:
    """One fit (compiled with CUDA graphs first, then without, when ``compile_steps``)."""
    from mmc_bench.run.engine import Trainer
    from mmc_bench.run.runner import build_method

    for graphs in (True, False) if compile_steps and device.startswith("cuda") else (False,):
        model = build_method(cfg.method, cfg.seed, device)
        trainer = Trainer(progress=False, compile=compile_steps, cuda_graphs=graphs)
        start = time.perf_counter()
        try:
            result = model.fit_dataset(replace(data.train_part(), labels=None), trainer)
        except Exception:
            if not graphs:
                raise
            continue
        return model, result, time.perf_counter() - start, graphs and device.startswith("cuda")
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Every method on CUDA against the same run on the CPU.")
    parser.add_argument("--out", type=Path, default=Path("outputs/gpu_check"))
    parser.add_argument(
        "--methods", nargs="*", default=None, help="method YAML names (default: every method class)"
    )
    parser.add_argument(
        "--searchpath",
        nargs="*",
        default=[],
        metavar="DIR",
        help="config folders of methods outside the package",
    )
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eager-only", action="store_true", help="skip the compiled CUDA run")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device on this machine, nothing checked (run it where a GPU is present)")
        return 0
    rows = []
    for method in args.methods or default_methods():
        print(f"gpu-check: {method} ...", flush=True)
        rows.append(
            check_method(
                method,
                args.samples,
                args.seed,
                compiled=not args.eager_only,
                searchpath=tuple(args.searchpath),
            )
        )
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name(0)
    header = f"# GPU check on {device}, torch {torch.__version__}\n\n{args.samples} synthetic samples, 'bench' schedules.\n\n"
    (args.out / "gpu_check.md").write_text(header + table.to_markdown(index=False) + "\n")
    (args.out / "gpu_check.json").write_text(
        json.dumps({"device": device, "rows": rows}, indent=1, default=str)
    )
    print(table.to_markdown(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
