"""dev and prod never share a physical name, ARN or address range, and never read each other's stacks."""

from __future__ import annotations

import ipaddress
import re

import pytest

from payments.guardrails.rules_common import physical_names
from tests.support import plan

ENVS = ("dev", "prod")


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


def test_no_physical_name_is_shared() -> None:
    dev, prod = names_in("dev"), names_in("prod")
    assert len(dev) > 50 and len(prod) > 50
    shared = set(dev) & set(prod)
    assert not shared, sorted(shared)[:10]


def test_no_output_arn_is_shared() -> None:
    dev = set().union(*(arns(lp.outputs) for lp in plan("dev").layers))
    prod = set().union(*(arns(lp.outputs) for lp in plan("prod").layers))
    assert dev and prod and not (dev & prod)


def test_vpc_ranges_do_not_overlap() -> None:
    dev = ipaddress.IPv4Network(plan("dev").layer("network").outputs["vpcCidr"])
    prod = ipaddress.IPv4Network(plan("prod").layer("network").outputs["vpcCidr"])
    assert not dev.overlaps(prod)


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
