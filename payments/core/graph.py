"""The layer graph, declared once: which layer reads which.

`tasks.py`, the offline planner, the output contract and the tests all take the
order from here, so a new edge is added in exactly one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from graphlib import TopologicalSorter

from payments.core.errors import UserError

#: layer -> the layers whose outputs it reads (its upstreams).
LAYERS: dict[str, tuple[str, ...]] = {
    "network": (),
    "data": ("network",),
    "edge": ("network",),
    "app": ("network", "data", "edge"),
    "observability": ("data", "edge", "app"),
    "migration": ("network", "data", "edge", "app", "observability"),
}

PROJECT_PREFIX = "payments"


def project_name(layer: str) -> str:
    """The Pulumi project name of a layer, e.g. ``payments-network``."""
    check_layer(layer)
    return f"{PROJECT_PREFIX}-{layer}"


def check_layer(layer: str) -> str:
    if layer not in LAYERS:
        raise UserError(f"unknown layer '{layer}'. Fix: use one of {', '.join(LAYERS)}")
    return layer


def parse_layers(spec: str | None) -> list[str]:
    """Turn ``"data,edge"`` into a validated list; ``None``/empty means all layers."""
    if not spec:
        return list(LAYERS)
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if not names:
        raise UserError("--layers is empty. Fix: name layers, e.g. --layers network,data")
    return [check_layer(name) for name in names]


def sorter(layers: Iterable[str] | None = None) -> TopologicalSorter[str]:
    """A TopologicalSorter over `layers` (default: all); edges to unselected layers are dropped."""
    selected = set(LAYERS if layers is None else layers)
    return TopologicalSorter(
        {name: [up for up in LAYERS[name] if up in selected] for name in LAYERS if name in selected}
    )


def deploy_order(layers: Iterable[str] | None = None) -> list[str]:
    """Layers in dependency order, ties broken by declaration order (stable output)."""
    ts = sorter(layers)
    ts.prepare()
    rank = {name: i for i, name in enumerate(LAYERS)}
    order: list[str] = []
    while ts.is_active():
        ready = sorted(ts.get_ready(), key=rank.__getitem__)
        order.extend(ready)
        ts.done(*ready)
    return order


def destroy_order(layers: Iterable[str] | None = None) -> list[str]:
    return list(reversed(deploy_order(layers)))


def dependents(layer: str) -> set[str]:
    """Every layer that reads `layer`, directly or transitively."""
    found: set[str] = set()
    frontier = [layer]
    while frontier:
        current = frontier.pop()
        for name, ups in LAYERS.items():
            if current in ups and name not in found:
                found.add(name)
                frontier.append(name)
    return found


def upstream_closure(layer: str) -> set[str]:
    """Every layer `layer` reads, directly or transitively."""
    found: set[str] = set()
    frontier = list(LAYERS[layer])
    while frontier:
        current = frontier.pop()
        if current not in found:
            found.add(current)
            frontier.extend(LAYERS[current])
    return found


def mermaid() -> str:
    """The graph as a Mermaid flowchart (arrows point from upstream to reader)."""
    lines = ["flowchart LR"]
    for name, ups in LAYERS.items():
        if not ups:
            lines.append(f"    {name}[{project_name(name)}]")
        for up in ups:
            lines.append(f"    {up} --> {name}")
    return "\n".join(lines)


def text() -> str:
    """The graph as plain text, one layer per line in deploy order."""
    return "\n".join(f"{name:<14} <- {', '.join(LAYERS[name]) or '(none)'}" for name in deploy_order())
