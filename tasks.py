"""Tasks for the payment platform's Pulumi micro-stacks (run `invoke --list`).

Every task reads the layer graph from payments.core.graph; the logic lives in
the `payments` package so it is tested without invoke.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from invoke import Context, task
from invoke.exceptions import Exit

from payments.core import graph as layer_graph
from payments.ops.console import console, user_errors

ROOT = Path(__file__).resolve().parent


# --- offline ------------------------------------------------------------------


@task(help={
    "env": "environment to plan: a file in environments/ (dev, prod, ...)",
    "out": "also write the whole plan as JSON to this file",
    "layers": "comma-separated layers to plan (default: all; their upstreams are planned too)",
    "quiet": "print only the summary line and findings, not the per-layer tables",
})
@user_errors
def plan(c: Context, env: str = "dev", out: str | None = None, layers: str | None = None, quiet: bool = False) -> None:
    """Plan every layer offline under the Pulumi SDK's mocks: no cloud, no CLI, no credentials."""
    from payments.plan import render
    from payments.plan.engine import plan_environment

    selected = layer_graph.parse_layers(layers)
    started = time.perf_counter()
    with console.status(f"planning {env}…") as status:
        result = plan_environment(env, selected, progress=lambda layer, what: status.update(f"{env}: {what} {layer}…"))
    if quiet:
        if result.findings:
            console.print(render.findings_table(result))
        console.print(f"plan {env}: {sum(len(lp.resources) for lp in result.layers)} resources, "
                      f"{len(result.mandatory)} mandatory findings")
    else:
        render.show(result, console)
    console.print(f"planned in {time.perf_counter() - started:.1f}s")
    if out:
        Path(out).write_text(result.to_json())
        console.print(f"wrote {out}")
    if result.mandatory:
        raise Exit(f"error: {len(result.mandatory)} mandatory guardrail finding(s); see the table above", code=1)


@task(help={"mermaid": "print the graph as a Mermaid flowchart (for the README)"})
def graph(c: Context, mermaid: bool = False) -> None:
    """Print the layer graph: each layer and the layers it reads."""
    print(layer_graph.mermaid() if mermaid else layer_graph.text())


@task(help={"k": "only run tests matching this pytest -k expression", "fast": "run tests on 2 worker processes"})
def test(c: Context, k: str | None = None, fast: bool = True) -> None:
    """Run the test suite (pytest): layers under mocks, contract, guardrails, orchestration, cutover."""
    args = [sys.executable, "-m", "pytest", "-q"]
    if fast:
        args += ["-n", "2"]
    if k:
        args += ["-k", k]
    c.run(" ".join(args), pty=False)


# --- real deploys (Pulumi CLI) ---------------------------------------------------


# --- promotion and status ------------------------------------------------------


# --- cutover ---------------------------------------------------------------------


# --- docs ------------------------------------------------------------------------


@task(help={"check": "fail if a generated block is out of date instead of rewriting it"})
@user_errors
def docs(c: Context, check: bool = False) -> None:
    """Regenerate the documentation blocks built from code (layer graph, exports, config keys)."""
    from payments.ops import docs as generated

    if check:
        stale = generated.stale()
        if stale:
            raise Exit(f"error: generated docs are stale in {', '.join(stale)}. Fix: run `invoke docs`", code=1)
        console.print("generated docs are current")
        return
    changed = generated.write()
    console.print(f"updated {', '.join(changed)}" if changed else "generated docs already current")
