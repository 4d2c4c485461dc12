"""Generated documentation blocks: written by `invoke docs`, checked by a test and `invoke docs --check`.

A block lives in a Markdown file between ``<!-- BEGIN GENERATED: name -->`` and
``<!-- END GENERATED: name -->``; everything outside the markers is hand-written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from payments.core import config, contract, graph
from payments.core.environment import REPO_ROOT
from payments.core.errors import UserError


def _rules_table() -> str:
    """Every guardrail with its PCI DSS requirement, severity and the resource types it checks."""
    from payments.guardrails.engine import load_rules

    rows = ["| PCI DSS v4.0 | rule | severity | checks | applies to |", "|---|---|---|---|---|"]
    for r in sorted(load_rules().values(), key=lambda r: (_req_key(r.pci), r.id)):
        if r.stack_check is not None:
            scope = "whole stack"
        elif r.types is None:
            scope = "every AWS resource"
        else:
            scope = ", ".join(f"`{t.split(':')[-1]}`" for t in sorted(r.types))
        rows.append(f"| {r.pci} | `{r.id}` | {r.severity.value} | {r.description} | {scope} |")
    return "\n".join(rows)


def _req_key(pci: str) -> list[int]:
    first = pci.split(",")[0].strip()
    return [int(p) for p in re.findall(r"\d+", first)] or [99]


def _config_reference() -> str:
    """Every config key: environment-wide settings, then each layer's, from the declarations."""
    from payments.core.environment import EnvironmentSettings
    from payments.ops.layer_settings import settings_class

    sections: list[tuple[str, str, type]] = [("Environment (`environments/<env>.yaml`)", "", EnvironmentSettings)]
    sections += [(f"{graph.project_name(layer)} (`{layer}/Pulumi.<env>.yaml`)", f"{graph.project_name(layer)}:",
                  settings_class(layer)) for layer in graph.LAYERS]
    out = []
    for title, prefix, cls in sections:
        out += [f"### {title}", "", "| key | type | default | promotable | meaning |", "|---|---|---|---|---|"]
        for info in config.describe(cls):
            default = "**required**" if info.required else f"`{json.dumps(info.default)}`"
            promotable = "yes" if info.promotable else ""
            type_name = info.type_name.replace("|", "\\|")
            out.append(f"| `{prefix}{info.key}` | {type_name} | {default} | {promotable} | {info.doc} |")
        out.append("")
    return "\n".join(out).rstrip()


def _architecture(env: str) -> Callable[[], str]:
    def block() -> str:
        from payments.ops.diagram import mermaid
        from payments.plan.engine import plan_environment

        return f"```mermaid\n{mermaid(plan_environment(env))}\n```"

    return block


BLOCKS: dict[str, Callable[[], str]] = {
    "graph": lambda: f"```mermaid\n{graph.mermaid()}\n```",
    "exports": contract.markdown_table,
    "rules": _rules_table,
    "config": _config_reference,
    "architecture-dev": _architecture("dev"),
    "architecture-compact": _architecture("compact"),
}

#: file -> blocks it carries
FILES: dict[str, tuple[str, ...]] = {
    "README.md": ("graph", "exports"),
    "docs/pci-dss.md": ("rules",),
    "docs/config.md": ("config",),
    "docs/architecture.md": ("architecture-dev", "architecture-compact"),
}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN GENERATED: {name} -->\n)(.*?)(<!-- END GENERATED: {name} -->)", re.S)


def render(text: str, names: tuple[str, ...], file: str) -> str:
    for name in names:
        pattern = _pattern(name)
        if not pattern.search(text):
            raise UserError(
                f"{file} has no '{name}' block. Fix: add <!-- BEGIN GENERATED: {name} --> and its END marker"
            )
        body = BLOCKS[name]()

        def replace(m: re.Match[str], body: str = body) -> str:
            return f"{m.group(1)}{body}\n{m.group(3)}"

        text = pattern.sub(replace, text)
    return text


def stale(root: Path = REPO_ROOT) -> list[str]:
    """Files whose generated blocks differ from what the code says now."""
    return [f for f, names in FILES.items() if render((root / f).read_text(), names, f) != (root / f).read_text()]


def write(root: Path = REPO_ROOT) -> list[str]:
    changed = []
    for f, names in FILES.items():
        path = root / f
        new = render(path.read_text(), names, f)
        if new != path.read_text():
            path.write_text(new)
            changed.append(f)
    return changed
