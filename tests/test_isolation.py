"""Environments (dev, prod, compact) never share a physical name, ARN or address range, nor read each other's stacks.

They may live in one AWS account, where any shared name or overlapping VPC range would collide.
"""

from __future__ import annotations

import ipaddress
import itertools
import re

import pytest

from payments.core.environment import known_environments
from payments.guardrails.rules_common import physical_names
from tests.support import plan

ENVS = tuple(known_environments())
PAIRS = list(itertools.combinations(ENVS, 2))


def names_in(env: str) -> dict[tuple[str, str], str]:
    """(type, physical name) -> logical name, for every AWS resource that carries one."""
    out = {}
    for lp in plan(env).layers:
        for r in lp.resources:
            if not r.type.startswith("aws:"):
                continue
            for _key, value in physical_names(r.type, r.inputs):
                out[(r.type, value)] = f"{lp.name}/{r.name}"
    return out


def arns(value: object) -> set[str]:
    if isinstance(value, str):
        return {value} if value.startswith("arn:") else set()
    if isinstance(value, dict):
        return set().union(*(arns(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(arns(v) for v in value)) if value else set()
    return set()


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_no_physical_name_is_shared(a: str, b: str) -> None:
    first, second = names_in(a), names_in(b)
    assert len(first) > 50 and len(second) > 50
    shared = set(first) & set(second)
    assert not shared, sorted(shared)[:10]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_no_output_arn_is_shared(a: str, b: str) -> None:
    first = set().union(*(arns(lp.outputs) for lp in plan(a).layers))
    second = set().union(*(arns(lp.outputs) for lp in plan(b).layers))
    assert first and second and not (first & second)


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_vpc_ranges_do_not_overlap(a: str, b: str) -> None:
    first = ipaddress.IPv4Network(plan(a).layer("network").outputs["vpcCidr"])
    second = ipaddress.IPv4Network(plan(b).layer("network").outputs["vpcCidr"])
    assert not first.overlaps(second)


@pytest.mark.parametrize("env", ENVS)
def test_stack_references_stay_inside_the_environment(env: str) -> None:
    refs = [(lp.name, r.inputs["name"]) for lp in plan(env).layers for r in lp.resources
            if r.type == "pulumi:pulumi:StackReference"]
    assert refs, "downstream layers read their upstreams through StackReference"
    for layer, name in refs:
        assert re.fullmatch(rf"organization/payments-[a-z]+/{env}", name), (layer, name)


@pytest.mark.parametrize("env", ENVS)
def test_every_output_read_downstream_is_exported_upstream(env: str) -> None:
    p = plan(env)
    exported = {lp.name: set(lp.outputs) for lp in p.layers}
    reads = [(lp.name, up, name) for lp in p.layers for up, name in lp.reads]
    assert len(reads) > 20
    for reader, up, name in reads:
        assert name in exported[up], f"{reader} reads {up}.{name}, which {up} does not export in {env}"
