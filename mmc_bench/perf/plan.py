"""`make benchmark`: run the sweeps listed in mmc_bench/resources/benchmark.yaml, one after another, into one folder."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

PLAN = Path(__file__).resolve().parent.parent / "resources" / "benchmark.yaml"


PROFILES = ("quick", "bench", "scaling")


def method_schedule(method: str, profile: str, *extra: str) -> list[str]:
    """The overrides of a short schedule, declared next to the method (its class's ``schedules``); ``extra``
    overrides (e.g. a hydra.searchpath) locate the method's YAML."""
    from hydra.utils import get_class

    from mmc_bench.run.app import compose_run_config

    target = compose_run_config(f"method={method}", *extra).method._target_
    return list(get_class(target).schedules.get(profile, []))


def sweep_commands(
    plan: dict, profile: str | None, out: Path, threads: int, methods: set[str]
) -> list[list[str]]:
    """One `python -m mmc_bench -m ...` command per sweep of the plan (with the profile's extra overrides)."""
    if profile is not None and profile not in PROFILES:
        raise SystemExit(
            f"error: profile '{profile}' is not a schedule profile; choose from {', '.join(PROFILES)}"
        )
    commands = []
    for sweep in plan["sweeps"]:
        if methods and sweep["method"] not in methods:
            continue
        seeds = ",".join(str(s) for s in sweep.get("seeds", plan["seeds"]))
        commands.append(
            [
                sys.executable,
                "-m",
                "mmc_bench",
                "-m",
                f"method={sweep['method']}",
                *sweep["args"],
                *(method_schedule(sweep["method"], profile) if profile else []),
                f"seed={seeds}",
                f"threads={threads}",
                f"hydra.sweep.dir={out}",
            ]
        )
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run every sweep of mmc_bench/resources/benchmark.yaml (finished runs are skipped)."
    )
    parser.add_argument(
        "--profile", default=None, help="a short schedule of every method (its class's schedules), e.g. quick"
    )
    parser.add_argument("--out", type=Path, default=None, help="default outputs/benchmark[_PROFILE]")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads per run (0 = torch's default)"
    )
    parser.add_argument("--methods", default="", help="only the sweeps of these methods (comma list)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)
    plan = yaml.safe_load(PLAN.read_text())
    out = args.out or Path("outputs") / ("benchmark" + (f"_{args.profile}" if args.profile else ""))
    methods = {m.strip() for m in args.methods.split(",") if m.strip()}
    commands = sweep_commands(plan, args.profile, out, args.threads, methods)
    failed = 0
    for i, command in enumerate(commands, 1):
        print(f"[{i}/{len(commands)}] {shlex.join(command[1:])}", flush=True)
        if not args.dry_run:
            failed += subprocess.run(command).returncode != 0
    print(
        f"benchmark runs are in {out}; `mmc-bench-report {out}` writes the report"
        + (f" ({failed} sweep(s) exited non-zero: see their metrics.json)" if failed else "")
    )
    return 1 if failed else 0
