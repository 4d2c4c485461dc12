"""A plan others can analyse: every resource carries the id and URN the engine gives it, and links hold."""

from __future__ import annotations

import json

from tests.support import of_type, one, plan

EIP = "aws:ec2/eip:Eip"
NAT = "aws:ec2/natGateway:NatGateway"
SUBNET = "aws:ec2/subnet:Subnet"
KEY = "aws:kms/key:Key"


def test_written_plan_gives_each_resource_its_id_and_urn() -> None:
    written = json.loads(plan("dev", ["network"]).to_json())
    resources = written["layers"][0]["resources"]
    assert resources and all(r["id"] and r["urn"].startswith("urn:pulumi:dev::payments-network::") for r in resources)
    assert len({r["urn"] for r in resources}) == len(resources)


def test_urns_carry_every_ancestor_type_as_the_engine_builds_them() -> None:
    lp = plan("dev", ["network"]).layer("network")
    subnet = next(r for r in of_type(lp, SUBNET) if r.name == "vpc-public-0")
    # Parent component type, then the resource type; the stack itself is not part of the type.
    assert subnet.urn == "urn:pulumi:dev::payments-network::payments:network:Vpc$aws:ec2/subnet:Subnet::vpc-public-0"
    key = one(lp, KEY)
    assert key.urn == "urn:pulumi:dev::payments-network::payments:kms:Key$aws:kms/key:Key::logs-key"


def test_nat_gateway_names_the_elastic_ip_it_uses() -> None:
    lp = plan("prod", ["network"]).layer("network")
    eips = {r.id for r in of_type(lp, EIP)}
    nats = of_type(lp, NAT)
    assert len(nats) == 3
    assert {n.inputs.get("allocationId") for n in nats} == eips
