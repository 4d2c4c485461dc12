"""Printing an offline plan: per-layer resource counts, outputs, the reachability verdict and guardrail findings; or
the plan as JSON.

Tables are :class:`payments.ops.console.Rows`: nothing is shortened, so an output's full ARN can be copied from it.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from payments.ops.console import Rows, plural, styled
from payments.plan.engine import LayerPlan, Plan
from payments.reachability import intent as reachability

SEVERITY_STYLE = {"mandatory": "red", "advisory": "yellow"}


def text(value: object) -> str:
    """A planned value as table text: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def layer_table(lp: LayerPlan) -> Rows:
    table = Rows(f"{lp.name}  ({lp.stack}, {plural(len(lp.resources), 'resource')})",
                 [("count", "number"), ("resource type", "value")])
    for type_, count in lp.counts().items():
        table.add_row(str(count), type_)
    return table


def outputs_table(lp: LayerPlan) -> Rows:
    table = Rows(f"{lp.name} outputs", [("output", "key"), ("planned value", "value")])
    for name, value in lp.outputs.items():
        table.add_row(name, text(value))
    return table


def findings_table(plan: Plan) -> Rows:
    table = Rows("guardrail findings", [("rule", "key"), ("severity", "key"), ("PCI DSS", "value"),
                                        ("resource", "value"), ("message", "value")], stack=True)
    for f in plan.findings:
        message = f"{f.message} — suppressed: {f.suppressed}" if f.suppressed else f.message
        table.add_row(f.rule, styled(f.severity, SEVERITY_STYLE.get(f.severity, "dim")), f.pci, f.resource, message)
    return table


def counts(plan: Plan) -> dict[str, int]:
    return {
        "layers": len(plan.layers),
        "resources": sum(len(lp.resources) for lp in plan.layers),
        "mandatory": len(plan.mandatory),
        "advisory": sum(f.severity == "advisory" for f in plan.findings),
        "suppressed": sum(bool(f.suppressed) for f in plan.findings),
    }


def summary(plan: Plan) -> str:
    """The one closing line, the same with and without --quiet."""
    n = counts(plan)
    return (f"plan {plan.env}: {plural(n['layers'], 'layer')}, {plural(n['resources'], 'resource')}; findings: "
            f"{n['mandatory']} mandatory, {n['advisory']} advisory, {n['suppressed']} suppressed")


def document(plan: Plan) -> dict[str, Any]:
    """The plan as data (``--out`` and ``--json``): env, layers with resources and outputs, findings, summary."""
    return {**plan.as_dict(), "summary": counts(plan)}


def reachability_table(plan: Plan) -> Rows:
    """Each intended flow: proven (must work), refused (must not), violated (a finding) or not applicable."""
    verdict = plan.reachability
    assert verdict is not None
    table = Rows(f"reachability (not modelled: {reachability.NOT_MODELLED})",
                 [("flow", "key"), ("intent", "key"), ("verdict", "key"), ("path, refusing hop or reason", "value")],
                 stack=True)
    style = {"proven": "green", "refused": "green", "violated": "red"}
    for c in verdict.checks:
        table.add_row(c.flow, "must work" if c.intent.must else "must not",
                      styled(c.status, style.get(c.status, "dim")), c.detail)
    return table


def show(plan: Plan, console: Console, *, quiet: bool = False) -> None:
    """Every layer's resources and outputs (not with `quiet`), the findings, and the summary line."""
    if not quiet:
        for lp in plan.layers:
            console.print(layer_table(lp))
            console.print(outputs_table(lp))
    if plan.reachability is not None:
        if not quiet:
            console.print(reachability_table(plan))
        console.print(Text(plan.reachability.summary()))
    if plan.findings:
        console.print(findings_table(plan))
    console.print(summary(plan))
