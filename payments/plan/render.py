"""Printing an offline plan: per-layer resource counts, outputs, the reachability verdict and guardrail findings."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from payments.plan.engine import LayerPlan, Plan
from payments.reachability import intent as reachability


def _short(value: object, width: int = 70) -> str:
    """A value as table text: shortened, and escaped so that '[secret]' or '[1, 2]' is printed, not read as markup."""
    text = value if isinstance(value, str) else json.dumps(value)
    return escape(text if len(text) <= width else text[: width - 1] + "…")


def layer_table(lp: LayerPlan) -> Table:
    table = Table(title=f"{lp.name}  ({lp.stack}, {len(lp.resources)} resources)", title_justify="left")
    table.add_column("resource type")
    table.add_column("count", justify="right")
    for type_, count in lp.counts().items():
        table.add_row(type_, str(count))
    return table


def outputs_table(lp: LayerPlan) -> Table:
    table = Table(title=f"{lp.name} outputs", title_justify="left", show_header=True)
    table.add_column("output")
    table.add_column("planned value")
    for name, value in lp.outputs.items():
        table.add_row(name, _short(value))
    return table


def findings_table(plan: Plan) -> Table:
    table = Table(title="guardrail findings", title_justify="left")
    for col in ("severity", "rule", "PCI DSS", "resource", "message"):
        table.add_column(col)
    for f in plan.findings:
        style = {"mandatory": "red", "advisory": "yellow"}.get(f.severity, "dim")
        message = f"{f.message} — suppressed: {f.suppressed}" if f.suppressed else f.message
        table.add_row(f"[{style}]{f.severity}[/]", f.rule, f.pci, escape(f.resource), escape(message))
    return table


def reachability_table(plan: Plan) -> Table:
    """Each intended flow: proven (must work), refused (must not), violated (a finding) or not applicable."""
    verdict = plan.reachability
    assert verdict is not None
    table = Table(title=f"reachability (not modelled: {reachability.NOT_MODELLED})", title_justify="left")
    table.add_column("intent", no_wrap=True)
    table.add_column("flow")
    table.add_column("verdict", no_wrap=True)
    table.add_column("path, refusing hop or reason", ratio=3)
    style = {"proven": "green", "refused": "green", "violated": "red"}
    for c in verdict.checks:
        table.add_row(
            "must work" if c.intent.must else "must not",
            escape(c.flow),
            f"[{style.get(c.status, 'dim')}]{c.status}[/]",
            escape(_short(c.detail, 110)),
        )
    return table


def show(plan: Plan, console: Console, *, outputs: bool = True) -> None:
    for lp in plan.layers:
        console.print(layer_table(lp))
        if outputs:
            console.print(outputs_table(lp))
    if plan.reachability is not None:
        console.print(reachability_table(plan))
        console.print(plan.reachability.summary())
    if plan.findings:
        console.print(findings_table(plan))
    total = sum(len(lp.resources) for lp in plan.layers)
    console.print(
        f"plan {plan.env}: {len(plan.layers)} layers, {total} resources, "
        f"{len(plan.mandatory)} mandatory, {sum(f.severity == 'advisory' for f in plan.findings)} advisory and "
        f"{sum(bool(f.suppressed) for f in plan.findings)} suppressed findings"
    )
