"""Shared helpers for tests: cached offline plans and resource lookups.

Plans are the real layer programs run under the SDK's mocks (the same engine as
`invoke plan`); they are cached per (env, layers, overrides) for the session.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from payments.plan.engine import LayerPlan, Plan, PlannedResource, plan_environment, requested_from_memo


@functools.cache
def _cached(env: str, layers: tuple[str, ...] | None, overrides: str) -> Plan:
    # Plans are shared here anyway, so a layer planned identically for another call (another set of layers, or as
    # an upstream) is reused too, and what is planned here is offered to the engine's other callers as upstreams.
    with requested_from_memo():
        return plan_environment(env, list(layers) if layers else None, overrides=json.loads(overrides) or None)


def plan(env: str, layers: list[str] | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> Plan:
    """The offline plan of `env` (optionally only some layers, with config overrides per layer)."""
    return _cached(env, tuple(layers) if layers else None, json.dumps(overrides or {}, sort_keys=True))


def of_type(layer: LayerPlan, type_token: str) -> list[PlannedResource]:
    return [r for r in layer.resources if r.type == type_token]


def one(layer: LayerPlan, type_token: str, name: str | None = None) -> PlannedResource:
    """The single resource of a type (optionally with that logical name); fails otherwise."""
    found = [r for r in of_type(layer, type_token) if name is None or r.name == name]
    assert len(found) == 1, f"expected one {type_token} {name or ''}, found {[r.name for r in found]}"
    return found[0]


def by_id(layer: LayerPlan) -> dict[str, PlannedResource]:
    return {r.id: r for r in layer.resources}
