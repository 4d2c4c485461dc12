"""Benchmark: the offline plan, and the deploy orchestration against the stand-in Pulumi CLI.

Run by `invoke bench` (not by the test suite). Prints:

(a) wall time of the offline plan of all layers, dev and prod (payments.plan.engine.plan_environment);
(b) the deploy orchestration's wall time against the sum of the layer times and the critical path, with the
    stand-in CLI sleeping per layer in proportion to typical real `pulumi up` durations of a first deploy:
    network 3 min, data 12 min (Aurora cluster + instance), edge 4 min (ALB, ACM validation, WAF),
    app 6 min (ECS services reaching steady state), observability 1 min, migration 8 min (DMS instance),
    scaled 1 min : 0.1 s; then a no-op re-deploy (every layer unchanged), whose time is what a user waits
    when nothing changed.
"""

from __future__ import annotations

import argparse
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
    """Plan every layer in graph order (as plan_environment does), timing each; stop at a layer that fails."""
    from payments.core.environment import load_environment
    from payments.plan.engine import plan_layer

    for env_name in ("dev", "prod"):
        env = load_environment(env_name)
        best: dict[str, float] = {}
        resources, failure = 0, ""
        for _ in range(runs):
            planned: dict = {}
            resources = 0
            for layer in LAYERS:
                t0 = time.perf_counter()
                try:
                    planned[layer] = plan_layer(layer, env, {up: planned[up] for up in LAYERS[layer]})
                except Exception as exc:  # a layer still being written: report it, keep the rest
                    failure = f"{layer}: {str(exc).splitlines()[0][:140]}"
                    break
                best[layer] = min(best.get(layer, 1e9), time.perf_counter() - t0)
                resources += len(planned[layer].resources)
        per_layer = ", ".join(f"{layer} {t:.2f}s" for layer, t in best.items())
        print(f"(a) plan {env_name}: {sum(best.values()):.2f}s for {len(best)} layers, {resources} resources "
              f"(best of {runs}; {per_layer})")
        if failure:
            print(f"    not planned: {failure}")


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
