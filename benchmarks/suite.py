"""Benchmark: the whole test suite as `invoke test` runs it (pytest -n 2 --dist loadgroup), and its slowest tests.

Run by `invoke bench` (not by the test suite). Writes benchmarks/suite.json and prints:

* the suite's wall time (pytest's own summary line and the measured wall clock), the CPU seconds of every process it
  ran (user + system), the number of tests and the budget (issue 11: 120 s wall on 2 cores);
* the ten slowest tests (setup + call + teardown, from pytest's JUnit report);
* the change against the figure already in benchmarks/suite.json, so a change that slows the suite is visible.

The machine's load average before and after is recorded too: on a shared machine the wall time grows with the load,
the CPU seconds much less, so compare CPU seconds when the load differs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "benchmarks" / "suite.json"
BUDGET_SECONDS = 120.0  #: issue 11: the whole suite on 2 cores
SUMMARY = re.compile(r" in ([\d.]+)s")
COUNTS = re.compile(r"(\d+) (passed|failed|errors?)\b")


def _cases(junit: Path) -> list[dict[str, Any]]:
    cases = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        cases.append({"test": f"{module}.py::{case.get('name')}", "seconds": round(float(case.get("time", 0)), 2)})
    return cases


def slowest(junit: Path, count: int = 10) -> list[dict[str, Any]]:
    return sorted(_cases(junit), key=lambda c: -c["seconds"])[:count]


def by_file(junit: Path, count: int = 12) -> dict[str, float]:
    """Test time summed per test file (over both workers), the largest first: where the suite's time goes."""
    totals: dict[str, float] = {}
    for case in _cases(junit):
        name = case["test"].split("::", 1)[0]
        totals[name] = totals.get(name, 0.0) + case["seconds"]
    return {name: round(total, 1) for name, total in sorted(totals.items(), key=lambda kv: -kv[1])[:count]}


def run_suite() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider",
                   f"--junitxml={junit}"]
        load_before = os.getloadavg()[0]
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        summary = SUMMARY.search(tail)
        return {
            "date": datetime.datetime.now(tz=datetime.UTC).isoformat(timespec="seconds"),
            "command": "invoke test (" + " ".join(command[1:]) + ")",
            "passed": proc.returncode == 0,
            "summary": tail,
            "tests": sum(int(n) for n, _ in COUNTS.findall(tail)) or None,
            "pytest_seconds": float(summary.group(1)) if summary else None,
            "wall_seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),
            "cores": os.cpu_count(),
            "load_average_before": round(load_before, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
            "budget_seconds": BUDGET_SECONDS,
            "slowest": slowest(junit) if junit.exists() else [],
            "test_seconds_by_file": by_file(junit) if junit.exists() else {},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIGURE, help="where to write the figure (JSON)")
    args = parser.parse_args()
    previous = json.loads(args.out.read_text()) if args.out.exists() else None
    figure = run_suite()
    args.out.write_text(json.dumps(figure, indent=2) + "\n")

    print(f"(c) test suite: {figure['summary'] or 'no summary line (see pytest output)'}")
    print(f"    wall {figure['wall_seconds']:.1f}s (budget {BUDGET_SECONDS:.0f}s), CPU {figure['cpu_seconds']:.1f}s, "
          f"{figure['cores']} cores, load average {figure['load_average_before']} -> {figure['load_average_after']}")
    if previous and previous.get("pytest_seconds") and figure["pytest_seconds"]:
        print(f"    before this run ({previous['date']}): {previous['pytest_seconds']:.1f}s wall, "
              f"{previous['cpu_seconds']:.1f}s CPU, {previous['tests']} tests, load {previous['load_average_before']}")
    print("    slowest tests:")
    for case in figure["slowest"]:
        print(f"      {case['seconds']:6.2f}s  {case['test']}")
    print("    test time by file (both workers):")
    for name, total in figure["test_seconds_by_file"].items():
        print(f"      {total:6.1f}s  {name}")
    print(f"    written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    if not figure["passed"]:
        sys.exit(f"error: the suite did not pass ({figure['summary']}). Fix: run `invoke test` and fix the failures")


if __name__ == "__main__":
    main()
