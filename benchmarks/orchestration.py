"""Benchmark: the offline plan, and the deploy orchestration against the stand-in Pulumi CLI.

Run by `invoke bench` (not by the test suite). Prints:

(a) wall time of the offline plan of all layers, for every environment file: `invoke plan --env E --quiet` as a
    user runs it (a fresh process: start-up, imports, plan, guardrails, printing), and in-process
    (payments.plan.engine.plan_environment after imports are warm) with the per-layer split;
(b) the deploy orchestration's wall time against the sum of the layer times and the critical path, with the
    stand-in CLI sleeping per layer in proportion to typical real `pulumi up` durations of a first deploy:
    network 3 min, data 12 min (Aurora cluster + instance), edge 4 min (ALB, ACM validation, WAF),
    app 6 min (ECS services reaching steady state), observability 1 min, migration 8 min (DMS instance),
    scaled 1 min : 0.1 s; then a no-op re-deploy (every layer unchanged), whose time is what a user waits
    when nothing changed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402 - after the path setup; MonkeyPatch scopes the stand-in's environment
from rich.console import Console  # noqa: E402

from payments.core.graph import LAYERS  # noqa: E402

MINUTES = {"network": 3, "data": 12, "edge": 4, "app": 6, "observability": 1, "migration": 8}
SCALE = 0.1  # seconds of stand-in time per real minute


def critical_path(seconds: dict[str, float]) -> tuple[float, list[str]]:
    best: dict[str, tuple[float, list[str]]] = {}
    for layer in LAYERS:  # declaration order is a topological order
        ups = [best[u] for u in LAYERS[layer]]
        before = max(ups, key=lambda t: t[0]) if ups else (0.0, [])
        best[layer] = (before[0] + seconds[layer], [*before[1], layer])
    return max(best.values(), key=lambda t: t[0])


def bench_plan(runs: int) -> None:
    """`invoke plan` end to end in a fresh process, then plan_environment in-process with per-layer times."""
    from payments.core.environment import known_environments
    from payments.plan.engine import plan_environment

    invoke = Path(sys.executable).parent / "invoke"
    for env_name in known_environments():
        cli: list[float] = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([str(invoke), "plan", "--env", env_name, "--quiet"], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cli.append(time.perf_counter() - t0)
        walls: list[float] = []
        per_layer: dict[str, float] = {}
        resources = 0
        for _ in range(runs):
            marks: dict[str, float] = {}

            def progress(layer: str, what: str, marks: dict[str, float] = marks) -> None:
                marks[f"{layer}:{what}"] = time.perf_counter()

            t0 = time.perf_counter()
            plan = plan_environment(env_name, progress=progress)
            walls.append(time.perf_counter() - t0)
            resources = sum(len(lp.resources) for lp in plan.layers)
            for layer in LAYERS:
                took = marks[f"{layer}:done"] - marks[f"{layer}:planning"]
                per_layer[layer] = min(per_layer.get(layer, took), took)
        split = ", ".join(f"{layer} {t:.2f}s" for layer, t in per_layer.items())
        print(f"(a) plan {env_name}: `invoke plan --quiet` {min(cli):.2f}s wall; in-process {min(walls):.2f}s "
              f"for {len(LAYERS)} layers, {resources} resources (best of {runs}; {split})")


def bench_deploy(runs: int, workers: int) -> None:
    from payments.ops import commands
    from tests.fake_pulumi import Sandbox

    seconds = {layer: MINUTES[layer] * SCALE for layer in LAYERS}
    total = sum(seconds.values())
    path_time, path = critical_path(seconds)
    quiet = Console(file=open("/dev/null", "w"))  # noqa: SIM115
    walls, noops = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
            box = Sandbox(Path(tmp), mp)
            box.sleep(**seconds)
            t0 = time.perf_counter()
            commands.deploy("dev", box.root, console=quiet, workers=workers, plan_check=False,
                            package_dir=box.package_dir)
            walls.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            commands.deploy("dev", box.root, console=quiet, workers=workers, plan_check=False,
                            package_dir=box.package_dir)
            noops.append(time.perf_counter() - t0)
    figures = ", ".join(f"{layer} {MINUTES[layer]} min" for layer in LAYERS)
    print(f"(b) layer durations (real, scaled 1 min : {SCALE}s): {figures}")
    print(f"    sum of layer times     {total:.2f}s  (one after the other; real: {total / SCALE:.0f} min)")
    print(f"    critical path          {path_time:.2f}s  ({' -> '.join(path)}; real: {path_time / SCALE:.0f} min)")
    wall = min(walls)
    print(f"    orchestrated deploy    {wall:.2f}s  ({workers} workers; {wall / path_time:.2f}x the critical path, "
          f"overhead {wall - path_time:.2f}s)")
    print(f"    no-op re-deploy        {min(noops):.2f}s  (every layer skipped as unchanged)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="repetitions (best reported)")
    parser.add_argument("--workers", type=int, default=4, help="deploy worker count")
    args = parser.parse_args()
    bench_plan(args.runs)
    bench_deploy(args.runs, args.workers)


if __name__ == "__main__":
    main()
