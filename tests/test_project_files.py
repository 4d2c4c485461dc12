"""Each layer's Pulumi.yaml keeps the migration's runtime changes: a plain `pulumi up` must not move them back.

Once deployed, listener weights, service task definitions, the phase parameter (and the DB indirection) belong
to the migration process; the programs say so with ``ignore_changes``. Pulumi then re-sends the value stored in
its state whenever the resource updates for another reason (AWS-NOTES: ignoreChanges without a refresh), so the
state must be refreshed first. ``invoke deploy`` passes ``--refresh``; a plain ``pulumi up`` in a layer folder
reads ``options: refresh: always`` from the project file. Every layer whose program ignores a change needs it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from payments.core.graph import LAYERS

ROOT = Path(__file__).resolve().parents[1]


def ignores_changes(layer: str) -> list[str]:
    """`file:line` of each resource option ``ignore_changes=`` in the layer's program (its package)."""
    found = []
    for path in sorted((ROOT / "payments" / "layers" / layer).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "ignore_changes":
                found.append(f"{path.relative_to(ROOT)}:{node.value.lineno}")
    return found


def test_the_layers_owned_by_the_migration_are_the_ones_that_ignore_changes() -> None:
    # not a tautology: if a layer gains an ignore_changes, it is listed here and must refresh too
    assert {layer for layer in LAYERS if ignores_changes(layer)} >= {"edge", "app", "migration"}


def test_every_layer_that_ignores_changes_always_refreshes_first() -> None:
    missing = []
    for layer in LAYERS:
        project = yaml.safe_load((ROOT / layer / "Pulumi.yaml").read_text())
        where = ignores_changes(layer)
        if where and (project.get("options") or {}).get("refresh") != "always":
            missing.append(f"{layer}/Pulumi.yaml (ignores changes at {', '.join(where)})")
    assert missing == [], "needs `options: refresh: always`: " + "; ".join(missing)
